"""What one customer message says about the order: product, size, colour, city, address, and whether it changes
an earlier answer. Plain code over the live inventory, so the order form is right for any shop's goods.

The rules that keep wrong orders out:
- a product is chosen only when the message shares a word of its name; a brand the shop does not carry
  («сумку гуччи» in a sportswear shop) is not silently replaced by another product;
- sizes are the product's (or shop's) sizes, not a fixed shoe range; a house number is never a size;
- the city comes from a gazetteer or a direct answer to «В какой город?», never from a word that named a
  product, brand or colour;
- the address step takes only what looks like an address; «ой нет, лучше 39» there is a correction of the size.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from salesbot.addresses import is_pickup, looks_like_address, names_a_street_and_number
from salesbot.extract import extract_colors
from salesbot.inventory import Inventory, Product, ProductMatch, token_similarity
from salesbot.morph import is_dictionary_word
from salesbot.places import find_city
from salesbot.sizes import last_size
from salesbot.textnorm import has_latin, normalize, phonetic_key, words

CORRECTION_RE = re.compile(r"(?<!\w)(?:нет|не|ой|лучше|давайте|давай|поменя\w*|измени\w*|замени\w*|другой|другую|"
                           r"другое|все-таки|всё-таки|всетаки|всеже|передумал\w*|исправ\w*)(?!\w)")
# The customer calls the order off («нет, передумал, отмена», «спасибо, не надо»): only when nothing else is named.
CANCEL_RE = re.compile(r"(?<!\w)(?:отмен\w*|передумал\w*|не\s+(?:надо|нужно|нужен|нужна|нужны|буду|хочу|интересно)|"
                       r"уже\s+не\s+актуально|неактуально)(?!\w)")
SLOT_LABELS = {"product": "модель", "size": "размер", "color": "цвет", "city": "город", "address": "адрес"}


@dataclass
class Reading:
    """What the message names. None: not named (the slot keeps its value)."""
    product: Optional[str] = None
    candidates: List[str] = field(default_factory=list)
    unknown_request: Optional[str] = None     # named a kind of goods or a brand the shop does not carry
    size: Optional[str] = None
    color: Optional[str] = None
    colors: List[str] = field(default_factory=list)
    city: Optional[str] = None
    address: Optional[str] = None
    not_an_address: bool = False               # typed at the address step, but is not one
    correction: bool = False
    cancel: bool = False                       # calls the order off and names nothing to change

    def named(self) -> Dict[str, str]:
        values = {"product": self.product, "size": self.size, "color": self.color, "city": self.city,
                  "address": self.address}
        return {slot: value for slot, value in values.items() if value}


def brand_words(product: Product) -> List[str]:
    """The leading Latin words of a product's name: its brand ("The North Face", "Hugo Boss")."""
    leading = []
    for token in product.name.split():
        if not has_latin(token):
            break
        leading.append(token.lower())
    return leading


def name_numbers(products: Sequence[Product]) -> List[str]:
    """Numbers inside product names («574», «Air Force 1», «носки 3 пары»): never a size."""
    return sorted({n for p in products for n in re.findall(r"\d+", p.name)})


def choose_product(inventory: Inventory, text: str) -> tuple:
    """(product or None, candidates, unmatched brand-like word or None).

    The best match is taken only when the message names its brand or model, or names nothing the shop
    does not have: «сумку гуччи» in a shop with one bag, by Asics, is a question, not an order for that bag.
    """
    product, alternatives = inventory.match_product(text)
    if product is None:
        return None, alternatives, None
    matches: List[ProductMatch] = inventory.score_products(text)
    matched = {w for m in matches for w in m.matched_words}
    brand_keys = {phonetic_key(w) for w in brand_words(product)}
    # a brand typed with a typo («асиск») is still the brand: the same similarity the matcher used
    brand_named = any(token_similarity(key, phonetic_key(w)) > 0 for w in matched for key in brand_keys)
    foreign = [w for w in words(text) if w not in matched and len(w) >= 4 and not w.isdigit()
               and not extract_colors(w, inventory.all_colors()) and not is_dictionary_word(w)]
    if foreign and not brand_named:
        return None, [product] + [m.product for m in matches[1:3] if m.product is not product], foreign[0]
    return product, [], None


NEGATED_PART_RE = re.compile(r"(?<![\w-])не\s+[^,;.!?]+?(?=\s*(?:[,;.!?]|\sа\s|$))", re.IGNORECASE)


def without_negated_parts(text: str) -> str:
    """«не Самара, а Уфа» -> «, а Уфа»: what the customer says is not meant."""
    return NEGATED_PART_RE.sub(" ", text)


def address_without_town(text: str, town: str) -> str:
    """«ул Ленина 5 кв 2, Екатеринбург» -> «ул Ленина 5 кв 2» when the town is a comma-separated part of its own."""
    parts = [part.strip() for part in re.split(r"[,;]", text)]
    kept = [part for part in parts if part and not (find_city(part) == town and not re.search(r"\d", part))]
    return " ".join(", ".join(kept or parts).split())


def read_message(text: str, inventory: Inventory, requested: Optional[str], current: Dict[str, Optional[str]],
                 intent: str = "") -> Reading:
    """Read `text` typed while the form asks for `requested`, given the slots `current` already holds."""
    reading = Reading(correction=bool(CORRECTION_RE.search(normalize(text))))
    colors = extract_colors(text, inventory.all_colors())
    color_words = [w for w in words(text) if extract_colors(w, inventory.all_colors())]
    matches = inventory.score_products(text)
    product_words = [w for m in matches[:3] for w in m.matched_words]

    if requested == "address":
        if looks_like_address(text, not_streets=color_words + product_words):
            reading.address = " ".join(text.split())
            reading.city = find_city(text, exclude=product_words + color_words, in_address=True)
            return reading
        reading.not_an_address = True
    elif not current.get("address") and names_a_street_and_number(text):
        # «ул Ленина 5 кв 2, екатеринбург» typed at the city step: the town and the address, both taken
        town = find_city(text, exclude=product_words + color_words, in_address=True)
        if town:
            reading.city = town
            reading.address = address_without_town(text, town)
            return reading

    product, candidates, foreign = choose_product(inventory, text)
    if product is not None:
        reading.product = product.name
    elif candidates:
        reading.candidates = [p.name for p in candidates]
        reading.unknown_request = foreign
    target = product or inventory.get(current.get("product"))
    known_sizes = target.sizes() if target is not None else sorted({s for p in inventory.products.values()
                                                                     for s in p.sizes()})
    if target is None or target.has_sizes:
        reading.size = last_size(text, known_sizes, expecting=requested == "size",
                                 ignore_numbers=name_numbers([p for p in [target, product] if p]
                                                             + [m.product for m in matches[:3]]))
    reading.colors = colors
    reading.color = colors[-1] if colors else None
    # «не Самара, а Уфа»: the town after the negation is not meant; in «адрес ул Пушкина 10» the word after the
    # street marker is a street, not the town Пушкин
    town_text = without_negated_parts(text)
    reading.city = find_city(town_text, exclude=product_words + color_words, direct_answer=requested == "city",
                             in_address=names_a_street_and_number(town_text))
    if reading.city is None and requested == "city" and not product_words and not colors and reading.size is None \
            and intent not in ("affirm", "deny"):
        name = text.strip(" .,!?")
        # a village the gazetteer does not know, typed as the answer: kept as written
        if re.fullmatch(r"[^\W\d_]{3,}(?:[ -][^\W\d_]+){0,2}", name) and not is_dictionary_word(name.split()[0]):
            reading.city = name[:1].upper() + name[1:]
    if requested == "address" and is_pickup(text):
        reading.address = text
    reading.cancel = bool(CANCEL_RE.search(normalize(text))) and not reading.named() and not reading.candidates
    return reading
