"""The shop's stock, loaded with pandas from INVENTORY_PATH (.xlsx or .csv), and product matching.

The file is re-read when it changes (or every `reload_seconds`), so the owner's edits take effect without
retraining or restarting. A broken file never replaces the last good inventory: the error is logged and kept.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from rapidfuzz import fuzz

from salesbot.sizes import normalize_size, size_sort_key
from salesbot.textnorm import has_latin, phonetic_key, words

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("product_name", "size", "color", "quantity", "price")
OPTIONAL_COLUMNS = ("category", "sku")


class InventoryError(ValueError):
    """The spreadsheet cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class StockRow:
    product_name: str
    size: Optional[str]
    color: Optional[str]
    quantity: int
    price: int
    category: str = ""
    sku: str = ""


@dataclass
class Product:
    name: str
    rows: List[StockRow] = field(default_factory=list)

    @property
    def category(self) -> str:
        return next((r.category for r in self.rows if r.category), "")

    @property
    def price(self) -> int:
        in_stock = [r.price for r in self.rows if r.quantity > 0]
        return min(in_stock or [r.price for r in self.rows])

    @property
    def has_sizes(self) -> bool:
        """Shoes: the spreadsheet lists sizes for them. Decided by the data, not by a category name."""
        return any(r.size for r in self.rows)

    @property
    def in_stock(self) -> bool:
        return any(r.quantity > 0 for r in self.rows)

    def colors(self) -> List[str]:
        return _unique(r.color for r in self.rows if r.color)

    def sizes(self) -> List[str]:
        return sorted(_unique(r.size for r in self.rows if r.size), key=_size_sort_key)

    def colors_in_stock(self, size: Optional[str] = None) -> List[str]:
        return _unique(
            r.color for r in self.rows
            if r.color and r.quantity > 0 and (size is None or r.size == size)
        )

    def sizes_in_stock(self, color: Optional[str] = None) -> List[str]:
        sizes = _unique(
            r.size for r in self.rows
            if r.size and r.quantity > 0 and (color is None or r.color == color)
        )
        return sorted(sizes, key=_size_sort_key)

    def quantity(self, size: Optional[str] = None, color: Optional[str] = None) -> int:
        return sum(
            r.quantity for r in self.rows
            if (size is None or r.size == size) and (color is None or r.color == color)
        )

    def price_for(self, size: Optional[str] = None, color: Optional[str] = None) -> int:
        for row in self.rows:
            if (size is None or row.size == size) and (color is None or row.color == color) and row.quantity > 0:
                return row.price
        return self.price


@dataclass(frozen=True)
class ProductMatch:
    product: Product
    score: float
    matched_words: Tuple[str, ...]


def _unique(values: Iterable[Optional[str]]) -> List[str]:
    seen: Dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
    return list(seen)


def _size_sort_key(size: str):
    return size_sort_key(size)


def token_similarity(product_key: str, text_key: str) -> float:
    """0..100: how alike a word of a product's name and a customer's word are (phonetic keys, typos, endings)."""
    if product_key == text_key:
        return 100.0
    if product_key.isdigit() or text_key.isdigit():
        return 0.0
    shortest = min(len(product_key), len(text_key))
    if shortest <= 3:
        # «найки» for "nike": a 3-letter key plus one ending letter
        longer, shorter = (product_key, text_key) if len(product_key) > len(text_key) else (text_key, product_key)
        return 80.0 if shortest == 3 and len(longer) == 4 and longer.startswith(shorter) else 0.0
    score = fuzz.ratio(product_key, text_key)
    # Russian endings: «балетках»/«балетки», «кросы»/«кроссовки» share a long stem.
    common = os.path.commonprefix([product_key, text_key])
    if len(common) >= 4 and len(common) >= 0.6 * shortest:
        score = max(score, 85.0)
    threshold = 75.0 if shortest <= 5 else 78.0
    return score if score >= threshold else 0.0


def _product_keys(name: str) -> List[str]:
    tokens = words(name)
    keys = [phonetic_key(t) for t in tokens]
    # Initials of a multi-word Latin brand at the start: "Louis Vuitton" -> «лв», "Miu Miu" -> «мм».
    leading_latin: List[str] = []
    for token in name.split():
        if has_latin(token) and token[:1].isupper():
            leading_latin.append(token)
        else:
            break
    if len(leading_latin) >= 2:
        keys.append(phonetic_key("".join(t[0] for t in leading_latin[:2]).lower()))
    return [k for k in keys if k]


class Inventory:
    """An immutable snapshot of the spreadsheet with matching helpers."""

    def __init__(self, rows: Sequence[StockRow], source: str = "", loaded_at: float = 0.0):
        self.source = source
        self.loaded_at = loaded_at
        self.products: Dict[str, Product] = {}
        for row in rows:
            self.products.setdefault(row.product_name, Product(row.product_name)).rows.append(row)
        self._keys = {name: _product_keys(name) for name in self.products}
        document_frequency: Dict[str, int] = {}
        for keys in self._keys.values():
            for key in set(keys):
                document_frequency[key] = document_frequency.get(key, 0) + 1
        total = max(len(self.products), 1)
        self._idf = {key: math.log(1.0 + total / df) for key, df in document_frequency.items()}

    def __len__(self) -> int:
        return len(self.products)

    def get(self, name: Optional[str]) -> Optional[Product]:
        if not name:
            return None
        if name in self.products:
            return self.products[name]
        lowered = name.strip().lower().replace("ё", "е")
        for product_name, product in self.products.items():
            if product_name.lower().replace("ё", "е") == lowered:
                return product
        return None

    def all_colors(self) -> List[str]:
        return _unique(c for p in self.products.values() for c in p.colors())

    def score_products(self, text: str) -> List[ProductMatch]:
        """Every product that shares at least one word with `text`, best first.

        A product's score is the sum of the rarity (idf) of its words found in the text, so a model name
        («хорсбит») or brand+type («шанель балетки») outweighs a word many products share («кроссовки»).
        """
        text_keys = [(w, phonetic_key(w)) for w in words(text)]
        text_keys = [(w, k) for w, k in text_keys if len(k) >= 2]
        matches: List[ProductMatch] = []
        for name, keys in self._keys.items():
            score = 0.0
            matched: List[str] = []
            used: set = set()
            for key in dict.fromkeys(keys):
                best, best_index = 0.0, -1
                for index, (_, text_key) in enumerate(text_keys):
                    if index in used:
                        continue
                    similarity = token_similarity(key, text_key)
                    if similarity > best:
                        best, best_index = similarity, index
                if best_index >= 0:
                    used.add(best_index)
                    matched.append(text_keys[best_index][0])
                    score += self._idf.get(key, 1.0) * best / 100.0
            if matched:
                matches.append(ProductMatch(self.products[name], round(score, 4), tuple(matched)))
        matches.sort(key=lambda m: (-m.score, m.product.name))
        return matches

    def match_product(self, text: str, tolerance: float = 0.05) -> Tuple[Optional[Product], List[Product]]:
        """(the product meant, or None; the candidates when ambiguous or the closest alternatives).

        Exact names win. Otherwise the best-scoring product wins when no other is within `tolerance`.
        """
        exact = self.get(text)
        if exact:
            return exact, []
        matches = self.score_products(text)
        if not matches:
            return None, []
        best = matches[0]
        tied = [m.product for m in matches if best.score - m.score <= tolerance]
        if len(tied) == 1:
            return best.product, []
        return None, tied

    def closest_products(self, text: str, limit: int = 3) -> List[Product]:
        """Fallback suggestions by whole-string similarity, for names that share no word with the shop."""
        query = " ".join(phonetic_key(w) for w in words(text))
        scored = []
        for name, keys in self._keys.items():
            scored.append((fuzz.token_set_ratio(query, " ".join(keys)), name))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [self.products[name] for score, name in scored[:limit] if score >= 60]


def _read_frame(path: Path):
    import pandas as pd  # imported lazily: the Rasa server process never needs pandas

    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return pd.read_excel(path, dtype=object)
    if suffix == ".csv":
        return pd.read_csv(path, dtype=object, keep_default_na=True, encoding="utf-8-sig")
    raise InventoryError(f"Inventory file {path}: unsupported format {suffix!r}; use .xlsx or .csv")


def _as_int(value: object, column: str, row_number: int, product: str, path: Path) -> int:
    text = "" if value is None else str(value).strip().replace(" ", "").replace("\u00a0", "")
    if text.lower() in ("", "nan"):
        if column == "quantity":
            return 0
        raise InventoryError(f"Inventory file {path}: row {row_number} ({product!r}): {column} is empty")
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        raise InventoryError(
            f"Inventory file {path}: row {row_number} ({product!r}): {column} {value!r} is not a number"
        ) from None
    if not number.is_integer() or number < 0:
        raise InventoryError(
            f"Inventory file {path}: row {row_number} ({product!r}): {column} {value!r} "
            f"must be a whole number ≥ 0"
        )
    return int(number)


def _clean_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    text = str(value).strip()
    return "" if text.lower() == "nan" else " ".join(text.split())


def load_inventory(path: Path) -> Inventory:
    """Read and validate the spreadsheet. Raises InventoryError naming the file, row and column."""
    path = Path(path)
    if not path.is_file():
        raise InventoryError(f"Inventory file {path} does not exist")
    try:
        frame = _read_frame(path)
    except InventoryError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many kinds for a corrupt file
        raise InventoryError(f"Inventory file {path} cannot be read: {exc}") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InventoryError(
            f"Inventory file {path}: missing column(s): {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})"
        )
    rows: List[StockRow] = []
    for index, record in enumerate(frame.to_dict("records")):
        row_number = index + 2  # header is row 1 in the spreadsheet
        name = _clean_text(record.get("product_name"))
        if not name:
            if all(_clean_text(v) == "" for v in record.values()):
                continue  # blank line
            raise InventoryError(f"Inventory file {path}: row {row_number}: product_name is empty")
        color = _clean_text(record.get("color")).lower().replace("ё", "е") or None
        rows.append(
            StockRow(
                product_name=name,
                size=normalize_size(record.get("size")),
                color=color,
                quantity=_as_int(record.get("quantity"), "quantity", row_number, name, path),
                price=_as_int(record.get("price"), "price", row_number, name, path),
                category=_clean_text(record.get("category")),
                sku=_clean_text(record.get("sku")),
            )
        )
    if not rows:
        raise InventoryError(f"Inventory file {path}: no products")
    return Inventory(rows, source=str(path), loaded_at=time.time())


class InventoryStore:
    """Keeps the last good inventory and reloads it when the file changes or gets old."""

    def __init__(self, path: Path, reload_seconds: float = 300.0, clock=time.monotonic):
        self.path = Path(path)
        self.reload_seconds = reload_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._inventory: Optional[Inventory] = None
        self._signature: Optional[Tuple[float, int]] = None
        self._checked_at = -math.inf
        self.last_error: Optional[str] = None
        self._refreshing = False
        self._background: Optional[asyncio.Task] = None

    def _file_signature(self) -> Optional[Tuple[float, int]]:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def _needs_reload(self) -> bool:
        if self._inventory is None:
            return True
        if self._file_signature() != self._signature:
            return True
        return self._clock() - self._checked_at >= self.reload_seconds

    def get(self) -> Inventory:
        """The current inventory (blocking: use `get_async` on the request path)."""
        with self._lock:
            if self._needs_reload():
                self._reload()
            if self._inventory is None:
                raise InventoryError(self.last_error or f"Inventory file {self.path} is not loaded")
            return self._inventory

    async def get_async(self) -> Inventory:
        """The current inventory without blocking the event loop. A changed file is read before answering;
        the periodic re-read of an unchanged file happens in the background while the last one keeps serving."""
        inventory = self._inventory
        if inventory is None or self._file_signature() != self._signature:
            return await asyncio.to_thread(self.get)
        if self._clock() - self._checked_at >= self.reload_seconds and not self._refreshing:
            self._refreshing = True
            self._background = asyncio.get_running_loop().create_task(self._refresh_in_background())
        return inventory

    async def _refresh_in_background(self) -> None:
        try:
            await asyncio.to_thread(self.get)
        finally:
            self._refreshing = False

    def _reload(self) -> None:
        signature = self._file_signature()
        self._checked_at = self._clock()
        try:
            inventory = load_inventory(self.path)
        except InventoryError as exc:
            if str(exc) != self.last_error:
                logger.error("inventory not reloaded, keeping the last good one: %s", exc)
            self.last_error = str(exc)
            self._signature = signature  # do not re-read a broken file on every message
            return
        if self._inventory is not None:
            logger.info("inventory reloaded: %d products from %s", len(inventory), self.path)
        self._inventory = inventory
        self._signature = signature
        self.last_error = None
