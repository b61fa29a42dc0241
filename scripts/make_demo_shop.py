#!/usr/bin/env python3
"""Generate the demo data of the shop «Оттенок» under shop/.

Writes (deterministically, fixed random seed):
  shop/inventory.xlsx            sheet "inventory"
  shop/inventory.csv             the same rows, UTF-8, comma separated
  shop/photos/<product>/<colour>.jpg  (+ <colour>-2.jpg for a few products)
  shop/knowledge/*.md|txt|docx   delivery, payment, returns, hours, sizes, care, gifts, chat export

Columns: product_name, size, color, quantity, price, category, sku.

Usage:
  python3 scripts/make_demo_shop.py [--out DIR]

Needs: openpyxl, pillow, python-docx.
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import re
import textwrap
import zipfile
from pathlib import Path

SEED = 20240308
SHOE_SIZES = [35, 36, 37, 38, 39, 40, 41]
COLUMNS = ["product_name", "size", "color", "quantity", "price", "category", "sku"]
ZERO_SHARE = 0.13  # drawn share; forced zeros make the total ~15%
FIXED_ZIP_TIME = (2024, 3, 1, 12, 0, 0)
FIXED_ISO_TIME = "2024-03-01T12:00:00Z"

SHOES, BAGS, ACCESSORIES = "обувь", "сумки", "аксессуары"

# (product_name, colours, price in tenge, sku prefix, drawing kind)
PRODUCTS: list[tuple[str, str, list[str], int, str, str]] = [
    # shoes
    (SHOES, "Chanel балетки", ["черный", "бежевый", "белый"], 42000, "CH-BAL", "flat"),
    (SHOES, "Chanel лоферы", ["черный", "белый"], 48000, "CH-LOF", "flat"),
    (SHOES, "Gucci лоферы Horsebit", ["черный", "коричневый", "бордовый"], 52000, "GU-LOF", "flat"),
    (SHOES, "Gucci кеды Ace", ["белый"], 39000, "GU-ACE", "sneaker"),
    (SHOES, "Prada ботинки Monolith", ["черный"], 65000, "PR-MON", "boot"),
    (SHOES, "Prada мюли", ["черный", "белый", "розовый"], 44000, "PR-MUL", "heel"),
    (SHOES, "Zara босоножки", ["бежевый", "черный", "золотой"], 19000, "ZA-BOS", "heel"),
    (SHOES, "Zara туфли лодочки", ["черный", "бежевый", "красный"], 21000, "ZA-LOD", "heel"),
    (SHOES, "Nike кроссовки Air Force 1", ["белый", "черный"], 45000, "NK-AF1", "sneaker"),
    (SHOES, "Nike кроссовки Air Max 90", ["белый", "серый", "розовый"], 47000, "NK-AM90", "sneaker"),
    (SHOES, "Dior слингбэки", ["черный", "бежевый"], 58000, "DI-SLB", "heel"),
    (SHOES, "Balenciaga кроссовки Triple S", ["белый", "черный", "серый"], 72000, "BA-TRS", "sneaker"),
    (SHOES, "Jimmy Choo туфли Romy", ["черный", "серебристый"], 61000, "JC-ROM", "heel"),
    (SHOES, "Miu Miu балетки", ["розовый", "черный"], 55000, "MM-BAL", "flat"),
    (SHOES, "Loro Piana мокасины Summer Walk", ["бежевый", "синий", "коричневый"], 69000, "LP-SWK", "flat"),
    (SHOES, "Valentino туфли Rockstud", ["черный", "пудровый"], 63000, "VA-RST", "heel"),
    (SHOES, "Adidas кроссовки Samba", ["белый", "черный"], 36000, "AD-SMB", "sneaker"),
    (SHOES, "Bottega Veneta сапоги", ["черный", "зеленый"], 89000, "BV-SAP", "boot"),
    # bags
    (BAGS, "Chanel сумка Classic Flap", ["черный", "бежевый", "красный"], 95000, "CH-CFL", "bag"),
    (BAGS, "Prada сумка Re-Edition", ["черный", "белый"], 78000, "PR-RED", "bag"),
    (BAGS, "Dior сумка Saddle", ["синий", "бежевый"], 88000, "DI-SAD", "bag"),
    (BAGS, "Louis Vuitton сумка Speedy", ["коричневый"], 82000, "LV-SPD", "bag"),
    (BAGS, "Gucci сумка Marmont", ["черный", "красный", "белый"], 84000, "GU-MAR", "bag"),
    (BAGS, "Zara сумка шоппер", ["черный", "бежевый"], 15000, "ZA-SHP", "tote"),
    # accessories
    (ACCESSORIES, "Gucci ремень", ["черный", "коричневый"], 25000, "GU-BLT", "belt"),
    (ACCESSORIES, "Hermes платок Twilly", ["синий", "оранжевый"], 22000, "HE-TWL", "scarf"),
    (ACCESSORIES, "Prada очки", ["черный"], 34000, "PR-SUN", "glasses"),
    (ACCESSORIES, "Chanel кошелек", ["черный", "розовый"], 38000, "CH-WAL", "wallet"),
    (ACCESSORIES, "Louis Vuitton кошелек Zippy", ["коричневый"], 41000, "LV-ZIP", "wallet"),
    (ACCESSORIES, "Miu Miu ободок", ["черный", "розовый"], 18000, "MM-HDB", "headband"),
]

COLOR_CODES = {
    "черный": "BLK", "белый": "WHT", "бежевый": "BEI", "коричневый": "BRN",
    "бордовый": "BRG", "розовый": "PNK", "золотой": "GLD", "красный": "RED",
    "серый": "GRY", "серебристый": "SLV", "синий": "BLU", "пудровый": "PWD",
    "зеленый": "GRN", "оранжевый": "ORG",
}

COLOR_RGB = {
    "черный": (28, 28, 30),
    "белый": (250, 250, 248),
    "бежевый": (222, 200, 166),
    "коричневый": (120, 72, 40),
    "бордовый": (118, 22, 42),
    "розовый": (240, 150, 180),
    "золотой": (212, 175, 55),
    "красный": (200, 30, 40),
    "серый": (140, 142, 146),
    "серебристый": (192, 194, 200),
    "синий": (30, 60, 150),
    "пудровый": (232, 190, 190),
    "зеленый": (40, 110, 60),
    "оранжевый": (240, 120, 30),
}

# Pairs that tests rely on: (product, colour, size or None) -> must be zero / must be in stock.
FORCED_ZERO = [
    ("Chanel балетки", "черный", 39),
    ("Gucci лоферы Horsebit", "коричневый", 36),
    ("Nike кроссовки Air Force 1", "белый", 41),
]
FORCED_IN_STOCK = [
    ("Chanel балетки", "черный", 37),
    ("Chanel балетки", "черный", 38),
    ("Chanel балетки", "бежевый", 37),
    ("Gucci кеды Ace", "белый", 38),
    ("Prada ботинки Monolith", "черный", 39),
    ("Chanel сумка Classic Flap", "черный", None),
    ("Prada очки", "черный", None),
    ("Nike кроссовки Air Force 1", "белый", 38),
    ("Nike кроссовки Air Force 1", "белый", 39),
]

# Products that get a second photo of one colour.
SECOND_PHOTOS = [
    ("Chanel балетки", "черный"),
    ("Nike кроссовки Air Force 1", "белый"),
    ("Chanel сумка Classic Flap", "черный"),
]
NO_PHOTOS = {"Hermes платок Twilly"}

FONT_PATHS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
]


# --------------------------------------------------------------------------- inventory
def build_rows(rng: random.Random) -> list[dict]:
    rows: list[dict] = []
    zero = {(p, c, s) for p, c, s in FORCED_ZERO}
    stock = {(p, c, s) for p, c, s in FORCED_IN_STOCK}
    for category, name, colours, price, prefix, _kind in PRODUCTS:
        sizes = SHOE_SIZES if category == SHOES else [None]
        product_rows = []
        for colour in colours:
            for size in sizes:
                qty = 0 if rng.random() < ZERO_SHARE else rng.randint(1, 6)
                key = (name, colour, size)
                if key in zero:
                    qty = 0
                elif key in stock and qty == 0:
                    qty = rng.randint(2, 6)
                sku = f"{prefix}-{COLOR_CODES[colour]}" + (f"-{size}" if size is not None else "")
                product_rows.append({
                    "product_name": name,
                    "size": size,
                    "color": colour,
                    "quantity": qty,
                    "price": price,
                    "category": category,
                    "sku": sku,
                })
        if not any(r["quantity"] > 0 for r in product_rows):
            for r in product_rows:
                if (name, r["color"], r["size"]) not in zero:
                    r["quantity"] = rng.randint(1, 6)
                    break
        rows.extend(product_rows)
    return rows


def check_rows(rows: list[dict], products=PRODUCTS, forced_zero=FORCED_ZERO, forced_in_stock=FORCED_IN_STOCK) -> None:
    """What the tests rely on: the forced zeros and stock rows, every product in stock somewhere, unique skus."""
    index = {(r["product_name"], r["color"], r["size"]): r["quantity"] for r in rows}
    for key in forced_zero:
        assert index[key] == 0, key
    for key in forced_in_stock:
        assert index[key] > 0, key
    for _cat, name, *_ in products:
        assert any(r["quantity"] > 0 for r in rows if r["product_name"] == name), name
    skus = [r["sku"] for r in rows]
    assert len(skus) == len(set(skus)), "duplicate sku"


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})


def write_xlsx(rows: list[dict], path: Path, creator: str = "Оттенок") -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "inventory"
    ws.append(COLUMNS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append([r[k] for k in COLUMNS])
    widths = {"A": 34, "B": 7, "C": 14, "D": 10, "E": 10, "F": 12, "G": 18}
    for col, width in widths.items():
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    wb.properties.creator = creator
    wb.save(path)
    normalize_zip(path)


def normalize_zip(path: Path) -> None:
    """Rewrite an OOXML zip with fixed timestamps so reruns give identical bytes."""
    with zipfile.ZipFile(path) as src:
        items = [(info, src.read(info.filename)) for info in src.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in items:
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(
                    r"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rf"\g<1>{FIXED_ISO_TIME}\g<2>",
                    text,
                )
                data = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, data)
    path.write_bytes(buf.getvalue())


# --------------------------------------------------------------------------- photos
def load_font(size: int):
    from PIL import ImageFont

    for p in FONT_PATHS:
        if Path(p).exists():
            return ImageFont.truetype(p, size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # old Pillow
        return ImageFont.load_default()


def _scale(points, box):
    x0, y0, x1, y1 = box
    return [(x0 + px * (x1 - x0), y0 + py * (y1 - y0)) for px, py in points]


def draw_item(draw, kind: str, fill, outline, box) -> None:
    """Draw a simple silhouette of `kind` into box=(x0,y0,x1,y1)."""
    sole = (235, 232, 226) if sum(fill) < 600 else (200, 196, 188)
    lw = 3

    def poly(pts, f=fill):
        draw.polygon(_scale(pts, box), fill=f, outline=outline, width=lw)

    if kind == "flat":  # ballet flats, loafers, moccasins
        poly([(0.02, 0.80), (0.04, 0.62), (0.18, 0.55), (0.40, 0.52), (0.55, 0.56),
              (0.62, 0.40), (0.90, 0.38), (0.98, 0.55), (0.98, 0.80)])
        poly([(0.02, 0.80), (0.98, 0.80), (0.98, 0.88), (0.02, 0.88)], f=sole)
        a, b = _scale([(0.60, 0.30), (0.92, 0.62)], box)
        draw.arc([a, b], 200, 340, fill=outline, width=lw)
    elif kind == "sneaker":
        poly([(0.02, 0.74), (0.05, 0.55), (0.25, 0.45), (0.45, 0.35), (0.60, 0.20),
              (0.88, 0.18), (0.97, 0.35), (0.98, 0.74)])
        poly([(0.01, 0.74), (0.99, 0.74), (0.99, 0.90), (0.03, 0.90)], f=sole)
        for i in range(4):
            x = 0.45 + i * 0.06
            a, b = _scale([(x, 0.33 - i * 0.03), (x + 0.05, 0.45 - i * 0.03)], box)
            draw.line([a, b], fill=outline, width=2)
        a, b = _scale([(0.30, 0.62), (0.80, 0.50)], box)
        draw.line([a, b], fill=outline, width=lw)
    elif kind == "boot":
        poly([(0.05, 0.82), (0.08, 0.62), (0.30, 0.55), (0.48, 0.50), (0.52, 0.02),
              (0.88, 0.02), (0.90, 0.55), (0.97, 0.82)])
        poly([(0.03, 0.82), (0.98, 0.82), (0.98, 0.96), (0.05, 0.96)], f=sole)
        a, b = _scale([(0.52, 0.10), (0.88, 0.10)], box)
        draw.line([a, b], fill=outline, width=2)
    elif kind == "heel":
        poly([(0.02, 0.78), (0.10, 0.62), (0.30, 0.55), (0.55, 0.58), (0.78, 0.35),
              (0.92, 0.30), (0.95, 0.42), (0.90, 0.50), (0.70, 0.70), (0.30, 0.80)])
        poly([(0.80, 0.45), (0.90, 0.45), (0.88, 0.95), (0.84, 0.95)])
        a, b = _scale([(0.02, 0.78), (0.70, 0.70)], box)
        draw.line([a, b], fill=outline, width=lw)
    elif kind in ("bag", "tote"):
        if kind == "bag":
            hb = _scale([(0.30, 0.02), (0.70, 0.55)], box)
            draw.arc([hb[0], hb[1]], 180, 360, fill=outline, width=8)
            draw.arc([hb[0], hb[1]], 180, 360, fill=fill, width=4)
            poly([(0.12, 0.30), (0.88, 0.30), (0.96, 0.95), (0.04, 0.95)])
            poly([(0.12, 0.30), (0.88, 0.30), (0.90, 0.55), (0.10, 0.55)])
            cx, cy = _scale([(0.5, 0.55)], box)[0]
            draw.ellipse([cx - 9, cy - 9, cx + 9, cy + 9], fill=(212, 175, 55), outline=outline)
        else:
            for hx in (0.22, 0.58):
                hb = _scale([(hx, 0.00), (hx + 0.20, 0.50)], box)
                draw.arc([hb[0], hb[1]], 180, 360, fill=outline, width=6)
            poly([(0.10, 0.25), (0.90, 0.25), (0.94, 0.97), (0.06, 0.97)])
    elif kind == "belt":
        poly([(0.00, 0.42), (0.78, 0.42), (0.78, 0.58), (0.00, 0.58)])
        bx = _scale([(0.76, 0.30), (0.98, 0.70)], box)
        draw.rounded_rectangle([bx[0], bx[1]], radius=8, outline=(212, 175, 55), width=7)
        for i in range(4):
            cx, cy = _scale([(0.15 + i * 0.12, 0.50)], box)[0]
            draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=outline)
    elif kind == "scarf":
        poly([(0.05, 0.40), (0.95, 0.25), (0.95, 0.45), (0.05, 0.60)])
    elif kind == "glasses":
        for cx in (0.27, 0.73):
            e = _scale([(cx - 0.22, 0.25), (cx + 0.22, 0.75)], box)
            draw.ellipse([e[0], e[1]], fill=fill, outline=outline, width=lw)
        a, b = _scale([(0.46, 0.40), (0.54, 0.40)], box)
        draw.line([a, b], fill=outline, width=6)
    elif kind == "wallet":
        r = _scale([(0.08, 0.22), (0.92, 0.85)], box)
        draw.rounded_rectangle([r[0], r[1]], radius=14, fill=fill, outline=outline, width=lw)
        poly([(0.08, 0.30), (0.92, 0.30), (0.92, 0.48), (0.50, 0.62), (0.08, 0.48)])
        cx, cy = _scale([(0.5, 0.58)], box)[0]
        draw.ellipse([cx - 7, cy - 7, cx + 7, cy + 7], fill=(212, 175, 55), outline=outline)
    elif kind == "headband":
        e = _scale([(0.10, 0.05), (0.90, 1.50)], box)
        draw.arc([e[0], e[1]], 195, 345, fill=outline, width=30)
        draw.arc([e[0][0] + 3, e[0][1] + 3, e[1][0] - 3, e[1][1] - 3], 196, 344, fill=fill, width=24)
    else:
        raise ValueError(kind)


def make_photo(path: Path, name: str, colour: str, kind: str, variant: int, label: str = "ОТТЕНОК",
               draw=None, rgb=None) -> None:
    from PIL import Image, ImageDraw, ImageOps

    size = 320
    bg = (246, 243, 238) if variant == 1 else (236, 240, 244)
    fill = (rgb or COLOR_RGB)[colour]
    outline = (70, 70, 75) if sum(fill) > 150 else (120, 120, 125)

    layer = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(layer)
    box = (40, 55, 280, 215) if kind not in ("bag", "tote", "wallet") else (70, 45, 250, 220)
    (draw or draw_item)(d, kind, fill, outline, box)
    if variant == 2:
        layer = ImageOps.mirror(layer)

    d = ImageDraw.Draw(layer)
    small, title = load_font(14), load_font(20)
    d.text((12, 10), label, font=small, fill=(150, 120, 100))
    if variant == 2:
        d.text((size - 12, 10), "фото 2", font=small, fill=(150, 150, 150), anchor="ra")
    lines = textwrap.wrap(name, width=22)[:2]
    y = 236 if len(lines) > 1 else 248
    for line in lines:
        d.text((size // 2, y), line, font=title, fill=(40, 40, 45), anchor="ma")
        y += 25
    d.text((size // 2, y + 2), colour, font=small, fill=(90, 90, 95), anchor="ma")
    path.parent.mkdir(parents=True, exist_ok=True)
    layer.save(path, "JPEG", quality=70, optimize=True)


def write_photos(photos_dir: Path) -> int:
    count = 0
    second = {(p, c) for p, c in SECOND_PHOTOS}
    for _cat, name, colours, _price, _prefix, kind in PRODUCTS:
        if name in NO_PHOTOS:
            continue
        for colour in colours:
            make_photo(photos_dir / name / f"{colour}.jpg", name, colour, kind, 1)
            count += 1
            if (name, colour) in second:
                make_photo(photos_dir / name / f"{colour}-2.jpg", name, colour, kind, 2)
                count += 1
    return count


# --------------------------------------------------------------------------- knowledge
DELIVERY_MD = """\
# Доставка

## По Алматы

- **Курьером в тот же день**, если заказ оформлен и подтверждён до 16:00. Заказы после 16:00 привозим на следующий день.
- Стоимость курьерской доставки по городу — **1 500 ₸**.
- При заказе **от 50 000 ₸** доставка по Алматы бесплатная.
- Курьер заранее звонит или пишет в WhatsApp.
- **Самовывоз бесплатно** из нашего шоурума: Алматы, ул. Панфилова 98, 2 этаж. Шоурум открыт каждый день с 10:00 до 20:00 — лучше предупредить менеджера, и мы отложим нужный размер.

## По Казахстану (Астана, Шымкент, Караганда и другие города)

- Отправляем службой **CDEK** или **Казпочтой (Kazpost)** — на выбор покупателя.
- Срок — **2–5 рабочих дней** в зависимости от города.
- Стоимость — **2 500 ₸**, при заказе **от 80 000 ₸** доставка бесплатная.
- Для других городов нужна предоплата через Kaspi (см. «Оплата»).
- После отправки присылаем **трек-номер в WhatsApp**, по нему можно отслеживать посылку на сайте службы доставки.
"""

PAYMENT_MD = """\
# Оплата

Мы принимаем оплату несколькими способами:

1. **Kaspi перевод** — по номеру телефона магазина, менеджер пришлёт реквизиты в WhatsApp.
2. **Kaspi QR** — в шоуруме или у курьера: просто отсканируйте код в приложении Kaspi.kz.
3. **Kaspi Red** — оплата в кредит через Kaspi Red.
4. **Рассрочка 0-0-12 через Kaspi** — без переплаты, до 12 месяцев. Оформляется в приложении Kaspi.kz, одобрение обычно за пару минут.
5. **Наличными или картой курьеру** — только при доставке по Алматы.

## Другие города Казахстана

Заказы в другие города отправляем **по предоплате через Kaspi** (перевод, Kaspi QR, Kaspi Red или рассрочка 0-0-12). Наложенным платежом не отправляем.

## Чего мы не принимаем

- Криптовалюту не принимаем.

Чек отправляем в WhatsApp сразу после оплаты.
"""

HOURS_TXT = """\
Режим работы «Оттенок»

Шоурум: Алматы, ул. Панфилова 98, 2 этаж.
Шоурум открыт ежедневно с 10:00 до 20:00, без выходных.

Менеджеры отвечают в WhatsApp ежедневно с 9:00 до 19:00 (время Алматы, Asia/Almaty).
Бот отвечает в WhatsApp круглосуточно: подскажет наличие, цены, размеры и примет заявку.
Если написали ночью, менеджер свяжется с вами утром, после 9:00.

Праздничные дни:
- 1 января — шоурум закрыт, менеджеры не работают (бот отвечает).
- 8 марта — работаем только до обеда, после 14:00 шоурум закрыт.
"""

SIZES_MD = """\
# Таблица размеров

У нас есть женская обувь размеров **35–41 (EU)**. Чтобы не ошибиться, измерьте длину стопы:
встаньте на лист бумаги, отметьте пятку и самый длинный палец и измерьте расстояние линейкой.
Лучше мерить вечером — к концу дня стопа немного больше.

| Размер (EU) | Длина стопы, см |
|-------------|-----------------|
| 35          | 22,5            |
| 36          | 23,0            |
| 37          | 23,5–24,0       |
| 38          | 24,5            |
| 39          | 25,0            |
| 40          | 25,5–26,0       |
| 41          | 26,5            |

Если длина стопы между размерами, берите больший.

## Советы по брендам

- **Gucci** и **Prada** маломерят — советуем брать **на размер больше** обычного.
- **Nike** — в размер, берите свой обычный размер.
- Chanel балетки — в размер, кожа немного разнашивается.
- Если сомневаетесь, пришлите длину стопы в сантиметрах — менеджер подскажет размер.

Сумки и аксессуары безразмерные.
"""

CARE_MD = """\
# Уход за обувью и аксессуарами

## Гладкая кожа
- Протирайте мягкой влажной тканью, затем сухой.
- Раз в 2–3 недели наносите крем в тон и полируйте бархоткой.
- Сушите при комнатной температуре, вдали от батарей; внутрь положите бумагу.

## Замша и нубук
- Чистите только сухую обувь специальной щёткой (ластиком) для замши.
- Перед первым выходом и потом раз в неделю обработайте водоотталкивающим спреем.
- Не используйте крем и не мойте водой — останутся пятна.

## Лакированная кожа
- Протирайте мягкой тканью, загрязнения убирайте слегка влажной салфеткой.
- Не носите при морозе ниже −10 °C: лак может потрескаться.
- Храните так, чтобы лаковые пары не касались друг друга.

## Хранение
Храните обувь и сумки в пыльниках и коробках, сумки — с наполнителем, чтобы сохранить форму.
"""

CHAT_EXPORT_TXT = """\
05.03.2024, 10:14 - Сообщения и звонки защищены сквозным шифрованием. Никто вне этого чата, даже WhatsApp, не может прочитать или прослушать их.
05.03.2024, 10:14 - Айгерим: Здравствуйте! Балетки Шанель черные есть в 39 размере?
05.03.2024, 10:21 - Оттенок Менеджер: Здравствуйте, Айгерим! Chanel балетки в черном цвете 39 размера, к сожалению, сейчас нет 😔
Есть 37 и 38 размеры, а в бежевом есть 37.
Цена 42 000 ₸.
05.03.2024, 10:23 - Айгерим: А 38 не будет маленький? У меня обычно 38-39
05.03.2024, 10:26 - Оттенок Менеджер: Балетки Chanel идут в размер, кожа немного разнашивается. Какая у вас длина стопы? Для 38 это 24,5 см
05.03.2024, 10:31 - Айгерим: 24,5 ровно) тогда беру 38
05.03.2024, 10:32 - Айгерим: Сегодня сможете привезти? Я в Бостандыкском районе
05.03.2024, 10:35 - Оттенок Менеджер: Да, если оформим до 16:00, курьер привезет сегодня. Доставка по Алматы 1 500 ₸ (бесплатно от 50 000 ₸).
Оплатить можно курьеру наличными, картой или по Kaspi QR.
05.03.2024, 10:36 - Оттенок Менеджер: <Без медиафайлов>
05.03.2024, 10:38 - Айгерим: Адрес: ул. Розыбакиева 247, кв 56
домофон 56, после 14:00 дома
05.03.2024, 10:40 - Оттенок Менеджер: Записала! Chanel балетки черные 38 размер, 42 000 ₸ + доставка 1 500 ₸. Курьер позвонит за час 🙌
05.03.2024, 10:41 - Айгерим: Спасибо!
06.03.2024, 18:47 - Дана: Добрый вечер. Я из Астаны, хочу кеды Gucci Ace белые. Обычно ношу 37
06.03.2024, 18:52 - Оттенок Менеджер: Добрый вечер, Дана! Gucci маломерят, советуем брать на размер больше — 38. Белые Gucci кеды Ace 38 в наличии, 39 000 ₸.
06.03.2024, 18:55 - Дана: Как доставка в Астану и сколько по времени?
06.03.2024, 18:58 - Оттенок Менеджер: Отправим CDEK или Казпочтой, 2–5 рабочих дней. Доставка 2 500 ₸, бесплатно от 80 000 ₸.
Для других городов нужна предоплата через Kaspi, после отправки пришлем трек-номер сюда в WhatsApp.
06.03.2024, 19:03 - Дана: А рассрочку можно?
06.03.2024, 19:05 - Оттенок Менеджер: Да, через Kaspi: рассрочка 0-0-12 или Kaspi Red. Скину ссылку на оплату
06.03.2024, 19:20 - Дана: Оплатила через Kaspi, CDEK пожалуйста. Астана, пр. Мангилик Ел 55/8, кв 112
07.03.2024, 12:10 - Оттенок Менеджер: Дана, отправили! Трек-номер CDEK: 1487302251. Обычно до Астаны 2–3 рабочих дня.
07.03.2024, 12:12 - Дана: Супер, спасибо 🙏
07.03.2024, 15:30 - +7 701 555 12 34: Здравствуйте, а если туфли не подойдут, можно вернуть?
07.03.2024, 15:34 - Оттенок Менеджер: Здравствуйте! Да, обмен или возврат в течение 14 дней, если обувь не носили, сохранены бирки и коробка.
Деньги возвращаем на Kaspi в течение 3 рабочих дней. Доставку при возврате оплачивает покупатель, кроме случаев брака.
07.03.2024, 15:36 - +7 701 555 12 34: А товары со скидкой?
07.03.2024, 15:38 - Оттенок Менеджер: Товары со скидкой можно только обменять, возврата по ним нет.
07.03.2024, 15:41 - +7 701 555 12 34: Понятно. А шоурум завтра работает? Хочу примерить Prada ботинки Monolith 39
07.03.2024, 15:44 - Оттенок Менеджер: Завтра, 8 марта, работаем только до 14:00. Обычно шоурум открыт каждый день с 10:00 до 20:00, ул. Панфилова 98, 2 этаж. Monolith 39 есть, отложить для вас?
07.03.2024, 15:45 - +7 701 555 12 34: Да, отложите на завтра до обеда, спасибо
07.03.2024, 15:46 - Оттенок Менеджер: Отложила 🙂 Prada ботинки Monolith черные 39, 65 000 ₸. С праздником заранее! 🌷
"""

RETURNS_DOCX = {
    "title": "Обмен и возврат",
    "intro": (
        "Мы хотим, чтобы покупка в «Оттенке» радовала. Если обувь или аксессуар не подошли, "
        "их можно обменять или вернуть по правилам ниже."
    ),
    "sections": [
        ("Сроки и условия", [
            "Обмен или возврат возможен в течение 14 дней с момента получения заказа.",
            "Товар не был в носке: нет следов носки на подошве, нет заломов и загрязнений.",
            "Сохранены бирки, коробка, пыльник и комплектация.",
            "Примерять обувь лучше дома на ковре или чистом полу.",
        ]),
        ("Доставка при возврате", [
            "Обратную доставку оплачивает покупатель.",
            "Если у товара брак, доставку в обе стороны оплачивает магазин.",
            "В Алматы товар можно привезти в шоурум: ул. Панфилова 98, 2 этаж, ежедневно 10:00–20:00.",
            "Из других городов отправляйте через CDEK или Казпочту, менеджер подскажет адрес.",
        ]),
        ("Возврат денег", [
            "Деньги возвращаем на Kaspi в течение 3 рабочих дней после того, как товар пришёл к нам и прошёл проверку.",
            "Если заказ оформлен в рассрочку или через Kaspi Red, возврат проходит через Kaspi.",
        ]),
        ("Товары со скидкой", [
            "Товары, купленные со скидкой (распродажа, sale), можно только обменять — на другой размер, цвет или модель. Возврат денег за них не производится.",
        ]),
    ],
    "outro": "Чтобы оформить обмен или возврат, напишите нам в WhatsApp номер заказа и причину — менеджер ответит с 9:00 до 19:00.",
}


def write_returns_docx(path: Path, spec: dict = RETURNS_DOCX, author: str = "Оттенок",
                       created: tuple = (2024, 3, 1)) -> None:
    """A .docx with a title, an intro, headed bullet sections and an outro; fixed metadata so it is reproducible."""
    import datetime as dt

    from docx import Document

    doc = Document()
    doc.add_heading(spec["title"], level=1)
    doc.add_paragraph(spec["intro"])
    for heading, items in spec["sections"]:
        doc.add_heading(heading, level=2)
        for item in items:
            doc.add_paragraph(item, style="List Bullet")
    doc.add_paragraph(spec["outro"])
    fixed = dt.datetime(*created, 12, 0, 0)
    cp = doc.core_properties
    cp.author = cp.last_modified_by = author
    cp.title = spec["title"]
    cp.created = cp.modified = fixed
    cp.revision = 1
    doc.save(path)
    normalize_zip(path)


GIFTS_MD = """\
# Подарочные сертификаты, скидки и упаковка

## Подарочные сертификаты

- Номиналы: 10 000, 20 000, 30 000 и 50 000 ₸.
- Сертификат действует **6 месяцев** с даты покупки.
- Электронный сертификат приходит в WhatsApp картинкой с кодом; пластиковый можно забрать в шоуруме в конверте.
- Сертификатом можно оплатить любой товар, в том числе со скидкой. Если покупка дешевле номинала, остаток сохраняется на сертификате до конца срока; деньгами остаток не возвращаем.

## Скидки

- **Именинникам скидка 10%** за 3 дня до и 3 дня после дня рождения — покажите удостоверение или напишите дату рождения менеджеру.
- Накопительная карта: после покупок на сумму от 150 000 ₸ — постоянная скидка 5%.
- Скидки не суммируются между собой; на товары с распродажи дополнительные скидки не действуют.

## Подарочная упаковка

Упаковка в фирменную коробку с лентой — 1 000 ₸, при покупке сертификата бесплатно. Можно вложить открытку с вашим текстом.
"""


DOCUMENTS = {
    "delivery.md": DELIVERY_MD,
    "payment.md": PAYMENT_MD,
    "hours.txt": HOURS_TXT,
    "sizes.md": SIZES_MD,
    "care.md": CARE_MD,
    "gifts.md": GIFTS_MD,
    "chat_export.txt": CHAT_EXPORT_TXT,
}


def write_knowledge(kdir: Path, texts: dict = DOCUMENTS, write_docx=write_returns_docx) -> list[Path]:
    """The shop's text documents, then returns.docx."""
    kdir.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in texts.items():
        p = kdir / name
        p.write_text(text, encoding="utf-8")
        out.append(p)
    p = kdir / "returns.docx"
    write_docx(p)
    out.append(p)
    return out


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=root / "shop", help="output folder (default: shop/)")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    rng = random.Random(SEED)
    rows = build_rows(rng)
    check_rows(rows)
    write_csv(rows, out / "inventory.csv")
    write_xlsx(rows, out / "inventory.xlsx")
    n_photos = write_photos(out / "photos")
    docs = write_knowledge(out / "knowledge")

    in_stock = sum(1 for r in rows if r["quantity"] > 0)
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"products: {len(PRODUCTS)}")
    print(f"rows: {len(rows)} (in stock: {in_stock}, out of stock: {len(rows) - in_stock}, "
          f"{100 * (len(rows) - in_stock) / len(rows):.0f}% zeros)")
    print(f"photos: {n_photos} (no photos: {', '.join(sorted(NO_PHOTOS))})")
    print(f"knowledge docs: {len(docs)}")
    print(f"total size of {out}: {total / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
