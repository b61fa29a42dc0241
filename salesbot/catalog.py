"""Plain-language answers about the stock, in Russian. No Rasa here, so they are easy to test."""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

from salesbot.extract import format_price
from salesbot.inventory import Inventory, Product


def join_ru(items: Iterable[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " и " + items[-1]


def numbered(products: Sequence[Product]) -> str:
    return "\n".join(f"{i}. {p.name} — {format_price(p.price)}" for i, p in enumerate(products, 1))


def describe_product(product: Product, size: Optional[str] = None, color: Optional[str] = None) -> str:
    """«Chanel балетки есть в наличии ✅ ...» with colours, sizes and price for what was asked."""
    if not product.in_stock:
        return f"{product.name} сейчас, к сожалению, нет в наличии 😔"
    parts: List[str] = []
    if size and product.has_sizes:
        if size not in product.sizes_in_stock():
            return (f"{product.name} в {size} размере сейчас нет 😔 "
                    f"В наличии размеры: {', '.join(product.sizes_in_stock(color) or product.sizes_in_stock())}.")
        if color and color not in product.colors_in_stock(size):
            return (f"{product.name} в {size} размере цвета «{color}» сейчас нет. "
                    f"В {size} размере есть: {join_ru(product.colors_in_stock(size))}.")
        colors = [color] if color else product.colors_in_stock(size)
        parts.append(f"{product.name} в {size} размере есть ✅ Цвет: {join_ru(colors)}.")
    elif color:
        if color not in product.colors_in_stock():
            available = product.colors_in_stock()
            return f"{product.name} цвета «{color}» сейчас нет. Есть: {join_ru(available)}."
        parts.append(f"{product.name} цвета «{color}» есть ✅")
        if product.has_sizes:
            parts.append(f"Размеры: {', '.join(product.sizes_in_stock(color))}.")
    else:
        parts.append(f"{product.name} есть в наличии ✅")
        colors = product.colors_in_stock()
        if colors:
            parts.append(("Цвета: " if len(colors) > 1 else "Цвет: ") + join_ru(colors) + ".")
        if product.has_sizes:
            parts.append(f"Размеры: {', '.join(product.sizes_in_stock())}.")
    parts.append(f"Цена {format_price(product.price_for(size, color))}.")
    return " ".join(parts)


def catalogue_overview(inventory: Inventory) -> str:
    """What the shop has, by category, with brands: for «что у вас есть?»."""
    by_category: dict = {}
    for product in inventory.products.values():
        if product.in_stock:
            by_category.setdefault(product.category or "другое", []).append(product)
    lines = []
    for category, products in by_category.items():
        brands = list(dict.fromkeys(p.name.split()[0] for p in products))
        lowest = min(p.price for p in products)
        lines.append(f"• {category.capitalize()}: {', '.join(brands)} — от {format_price(lowest)}")
    return "У нас в наличии:\n" + "\n".join(lines) + "\nКакая модель интересует?"
