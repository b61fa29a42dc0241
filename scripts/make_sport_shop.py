#!/usr/bin/env python3
"""Generate the second demo shop «СпортЛайн» (sportswear, Екатеринбург, rubles) under shops/sport/.

A shop of other goods than «Оттенок», for checking that nothing of the first shop is built into the bot:
letter sizes (S/M/L/XL), Russian numeric sizes (46/48/50), kids' heights (80/86/92/98), shoe sizes,
products with one colour and products without sizes (bags, caps, bottles), other brands, other delivery,
payment and return terms.

Writes (deterministically, fixed random seed):
  shops/sport/inventory.xlsx, inventory.csv   columns: product_name, size, color, quantity, price, category, sku
  shops/sport/photos/<product>/<colour>.jpg
  shops/sport/knowledge/*.md|txt|docx + a WhatsApp chat export
  shops/sport/shop.yml                         the shop profile

Usage:
  python3 scripts/make_sport_shop.py [--out DIR]
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_demo_shop as base  # noqa: E402  (shared writers: csv/xlsx/zip normalisation/photos)

SEED = 20241201
ZERO_SHARE = 0.12
LETTER = ["S", "M", "L", "XL"]
RU_NUM = ["46", "48", "50", "52"]
KIDS = ["80", "86", "92", "98"]
SHOE = ["40", "41", "42", "43", "44"]
WOMEN_SHOE = ["36", "37", "38", "39", "40"]
NONE: list = [None]

SHOES, CLOTHES, KIDS_CAT, GEAR = "обувь", "одежда", "детское", "аксессуары"

# (category, product_name, colours, price in rubles, sku prefix, drawing kind, sizes)
PRODUCTS: list[tuple[str, str, list[str], int, str, str, list]] = [
    (SHOES, "Asics кроссовки Gel-Kayano 30", ["синий", "черный"], 15990, "AS-GK30", "sneaker", SHOE),
    (SHOES, "New Balance кроссовки 574", ["серый", "бежевый"], 11990, "NB-574", "sneaker", SHOE),
    (SHOES, "Reebok кроссовки Club C", ["белый"], 8490, "RB-CLC", "sneaker", WOMEN_SHOE),
    (CLOTHES, "Puma худи Essentials", ["черный", "серый"], 5490, "PU-HOO", "hoodie", LETTER),
    (CLOTHES, "Puma футболка Active", ["белый"], 2490, "PU-TEE", "tshirt", LETTER),
    (CLOTHES, "Hugo Boss поло", ["белый", "синий"], 8990, "HB-POL", "tshirt", RU_NUM),
    (CLOTHES, "Hugo Boss спортивные брюки", ["черный", "серый"], 7990, "HB-PNT", "pants", RU_NUM),
    (CLOTHES, "Columbia куртка Powder Lite", ["черный", "зеленый"], 17990, "CO-PWL", "jacket", LETTER),
    (CLOTHES, "Columbia флиска Steens Mountain", ["синий"], 5990, "CO-STM", "hoodie", ["48", "50", "52", "54"]),
    (CLOTHES, "The North Face пуховик Nuptse", ["черный", "желтый"], 32990, "TN-NUP", "jacket", LETTER),
    (CLOTHES, "Under Armour леггинсы HeatGear", ["черный"], 3990, "UA-LEG", "pants", ["XS", "S", "M", "L"]),
    (CLOTHES, "Under Armour шорты Launch", ["черный", "серый"], 3490, "UA-SHO", "shorts", LETTER),
    (KIDS_CAT, "Reebok детский костюм", ["синий", "розовый"], 4290, "RB-KID", "tshirt", KIDS),
    (KIDS_CAT, "Puma детский комбинезон", ["серый"], 3590, "PU-KID", "pants", KIDS),
    (GEAR, "The North Face рюкзак Borealis", ["черный", "синий"], 9990, "TN-BOR", "backpack", NONE),
    (GEAR, "Asics спортивная сумка", ["черный"], 4990, "AS-BAG", "bag", NONE),
    (GEAR, "Columbia кепка", ["бежевый", "черный"], 2990, "CO-CAP", "cap", NONE),
    (GEAR, "Under Armour бутылка для воды", ["черный", "синий"], 1490, "UA-BTL", "bottle", NONE),
    (GEAR, "Hugo Boss шарф", ["серый"], 6990, "HB-SCF", "scarf", NONE),
    (GEAR, "New Balance носки 3 пары", ["белый", "черный"], 990, "NB-SOC", "socks", ["S", "M", "L"]),
]

COLOR_CODES = {"черный": "BLK", "белый": "WHT", "бежевый": "BEI", "серый": "GRY", "синий": "BLU",
               "зеленый": "GRN", "желтый": "YLW", "розовый": "PNK"}
COLOR_RGB = {
    "черный": (28, 28, 30), "белый": (250, 250, 248), "бежевый": (222, 200, 166), "серый": (140, 142, 146),
    "синий": (30, 60, 150), "зеленый": (40, 110, 60), "желтый": (240, 200, 40), "розовый": (240, 150, 180),
}

FORCED_ZERO = [
    ("Reebok детский костюм", "синий", "80"),
    ("Puma худи Essentials", "черный", "M"),
    ("Hugo Boss поло", "белый", "50"),
    ("The North Face пуховик Nuptse", "черный", "L"),
    ("New Balance кроссовки 574", "серый", "43"),
]
FORCED_IN_STOCK = [
    ("Reebok детский костюм", "синий", "86"),
    ("Reebok детский костюм", "синий", "92"),
    ("Puma худи Essentials", "черный", "L"),
    ("Puma худи Essentials", "черный", "S"),
    ("Hugo Boss поло", "белый", "48"),
    ("The North Face пуховик Nuptse", "черный", "M"),
    ("New Balance кроссовки 574", "серый", "42"),
    ("Asics кроссовки Gel-Kayano 30", "синий", "42"),
    ("Columbia куртка Powder Lite", "черный", "M"),
    ("Puma футболка Active", "белый", "M"),
    ("The North Face рюкзак Borealis", "черный", None),
    ("Asics спортивная сумка", "черный", None),
    ("Columbia кепка", "бежевый", None),
    ("Under Armour бутылка для воды", "синий", None),
    ("Hugo Boss шарф", "серый", None),
]


def build_rows(rng: random.Random) -> list[dict]:
    rows: list[dict] = []
    zero, stock = set(FORCED_ZERO), set(FORCED_IN_STOCK)
    for category, name, colours, price, prefix, _kind, sizes in PRODUCTS:
        for colour in colours:
            for size in sizes:
                qty = 0 if rng.random() < ZERO_SHARE else rng.randint(1, 8)
                key = (name, colour, size)
                if key in zero:
                    qty = 0
                elif key in stock and qty == 0:
                    qty = rng.randint(2, 8)
                sku = f"{prefix}-{COLOR_CODES[colour]}" + (f"-{size}" if size is not None else "")
                rows.append({"product_name": name, "size": size, "color": colour, "quantity": qty,
                             "price": price, "category": category, "sku": sku})
    return rows


def check_rows(rows: list[dict]) -> None:
    base.check_rows(rows, PRODUCTS, FORCED_ZERO, FORCED_IN_STOCK)


# --------------------------------------------------------------------------- photos
def draw_item(draw, kind: str, fill, outline, box) -> None:
    """Simple silhouettes of sportswear; shoe/bag/scarf kinds come from the first shop's drawer."""
    lw = 3

    def poly(pts, f=fill):
        draw.polygon(base._scale(pts, box), fill=f, outline=outline, width=lw)

    if kind in ("tshirt", "hoodie", "jacket"):
        poly([(0.30, 0.05), (0.42, 0.12), (0.58, 0.12), (0.70, 0.05), (0.95, 0.25), (0.85, 0.42),
              (0.75, 0.36), (0.75, 0.98), (0.25, 0.98), (0.25, 0.36), (0.15, 0.42), (0.05, 0.25)])
        if kind == "hoodie":
            poly([(0.38, 0.02), (0.62, 0.02), (0.58, 0.18), (0.42, 0.18)])
        if kind == "jacket":
            a, b = base._scale([(0.50, 0.12), (0.50, 0.98)], box)
            draw.line([a, b], fill=outline, width=lw)
    elif kind in ("pants", "shorts"):
        bottom = 0.98 if kind == "pants" else 0.55
        poly([(0.28, 0.02), (0.72, 0.02), (0.76, bottom), (0.54, bottom), (0.50, 0.30),
              (0.46, bottom), (0.24, bottom)])
    elif kind == "backpack":
        r = base._scale([(0.20, 0.10), (0.80, 0.98)], box)
        draw.rounded_rectangle([r[0], r[1]], radius=30, fill=fill, outline=outline, width=lw)
        r = base._scale([(0.30, 0.55), (0.70, 0.85)], box)
        draw.rounded_rectangle([r[0], r[1]], radius=12, fill=fill, outline=outline, width=lw)
    elif kind == "cap":
        e = base._scale([(0.20, 0.20), (0.80, 0.95)], box)
        draw.chord([e[0], e[1]], 180, 360, fill=fill, outline=outline, width=lw)
        poly([(0.70, 0.56), (0.98, 0.62), (0.98, 0.68), (0.70, 0.60)])
    elif kind == "bottle":
        r = base._scale([(0.38, 0.20), (0.62, 0.98)], box)
        draw.rounded_rectangle([r[0], r[1]], radius=12, fill=fill, outline=outline, width=lw)
        r = base._scale([(0.44, 0.05), (0.56, 0.20)], box)
        draw.rectangle([r[0], r[1]], fill=outline)
    elif kind == "socks":
        poly([(0.35, 0.02), (0.55, 0.02), (0.55, 0.70), (0.80, 0.75), (0.80, 0.95), (0.35, 0.95)])
    else:
        base.draw_item(draw, kind, fill, outline, box)


def write_photos(photos_dir: Path) -> int:
    count = 0
    for _cat, name, colours, _price, _prefix, kind, _sizes in PRODUCTS:
        for colour in colours:
            base.make_photo(photos_dir / name / f"{colour}.jpg", name, colour, kind, 1,
                            label="СПОРТЛАЙН", draw=draw_item, rgb=COLOR_RGB)
            count += 1
    return count


# --------------------------------------------------------------------------- knowledge
DELIVERY_MD = """\
# Доставка

## По Екатеринбургу

- Курьер привозит заказ **на следующий день** с 10:00 до 22:00, интервал 3 часа на выбор.
- Стоимость курьерской доставки — **390 ₽**, при заказе **от 5 000 ₽** — бесплатно.
- Курьер ждёт **15 минут**, пока вы примеряете (см. «Примерка»).

## Пункт выдачи

Забрать заказ можно бесплатно в нашем пункте выдачи: Екатеринбург, ул. Малышева 51, ТЦ «Высоцкий», 1 этаж, вход с улицы.
Заказ хранится в пункте выдачи **5 дней**, потом возвращается на склад.

## По России

- Отправляем **СДЭК** (до пункта выдачи или курьером) и **Почтой России**.
- Срок — **3–7 рабочих дней**, в Москву и Санкт-Петербург обычно 2–4 дня.
- Стоимость — **по тарифу службы доставки**, обычно 350–600 ₽; при заказе **от 10 000 ₽** доставка по России бесплатная.
- Трек-номер присылаем в WhatsApp в день отправки.

В Казахстан и Беларусь отправляем СДЭК по предоплате, срок 7–12 дней. В другие страны не доставляем.
"""

PAYMENT_TXT = """\
Оплата в «СпортЛайн»

Способы оплаты:
- Банковской картой онлайн по ссылке (Visa, Mastercard, МИР) — ссылку пришлёт менеджер в WhatsApp.
- По СБП (Система быстрых платежей) — по QR-коду или по ссылке.
- Наличными или картой при получении — курьеру в Екатеринбурге и в нашем пункте выдачи.
- Наложенный платёж Почтой России и СДЭК — комиссия службы доставки 3% от суммы, оплачивает покупатель.
- Сплит и Долями — оплата частями: 4 платежа раз в две недели, без переплаты.

Для заказов в Казахстан и Беларусь нужна полная предоплата картой.
Чеки отправляем на электронную почту или в WhatsApp.
Оплату криптовалютой и переводом на личную карту менеджера не принимаем.
"""

HOURS_MD = """\
# Режим работы и контакты

Пункт выдачи и примерочная «СпортЛайн»: Екатеринбург, ул. Малышева 51, ТЦ «Высоцкий», 1 этаж.

- Понедельник — суббота: с 10:00 до 21:00.
- Воскресенье: с 11:00 до 19:00.
- Менеджеры отвечают в WhatsApp с 9:00 до 21:00 по екатеринбургскому времени (МСК+2).
- Бот отвечает круглосуточно и принимает заказы в любое время.

Рядом станция метро «Геологическая», 5 минут пешком. Парковка ТЦ — первые 2 часа бесплатно.

В праздники: 31 декабря работаем до 16:00, 1 и 2 января пункт выдачи закрыт.
"""

FITTING_MD = """\
# Примерка

## В пункте выдачи
В пункте выдачи есть две примерочные. Можно примерить любой товар из заказа и забрать только то, что подошло.
Если хотите примерить несколько размеров, напишите менеджеру заранее — привезём на склад пункта выдачи все нужные размеры.

## При доставке курьером
Курьер ждёт **15 минут**, пока вы примеряете. Оплачиваете только то, что оставили.
Если не подошло ничего, оплачивается только доставка — **390 ₽**.

## СДЭК и Почта России
При отправке СДЭК примерка возможна в пункте выдачи СДЭК (услуга «примерка»). Почтой России примерка невозможна.

Нижнее бельё, носки и купальники примерить нельзя по санитарным нормам.
"""

SIZES_MD = """\
# Таблица размеров

## Одежда (мужская и женская)

| Размер | Российский | Обхват груди, см |
|--------|------------|------------------|
| XS     | 42–44      | 82–88            |
| S      | 44–46      | 88–94            |
| M      | 48         | 94–100           |
| L      | 50–52      | 100–106          |
| XL     | 54         | 106–112          |

Hugo Boss и Columbia флиски размечены российскими размерами (46, 48, 50, 52, 54).
Пуховики The North Face Nuptse свободного кроя — если носите между размерами, берите меньший.

## Детская одежда

Детские размеры указаны по росту ребёнка в сантиметрах: 80, 86, 92, 98. Если ребёнок между ростами, берите больший — на вырост.

## Обувь

Кроссовки Asics и New Balance идут в размер. Reebok Club C немного большемерят — можно брать на полразмера меньше.
Сумки, рюкзаки, кепки и бутылки — без размера.
"""

GIFTS_MD = """\
# Подарочные карты и бонусы

## Подарочные карты
- Номиналы: 1 000, 3 000, 5 000 и 10 000 ₽.
- Карта действует **1 год** с даты покупки.
- Электронную карту пришлём в WhatsApp или на e-mail, пластиковую можно забрать в пункте выдачи.
- Картой можно оплатить часть заказа, остаток доплатить любым способом. Сгорает то, что не потрачено за год.

## Бонусная программа
- С каждой покупки возвращаем **5% бонусами** на бонусный счёт (привязан к номеру телефона).
- Бонусами можно оплатить до 30% следующего заказа, 1 бонус = 1 рубль.
- Бонусы действуют 6 месяцев.

## Скидки
- Студентам и школьникам — скидка 7% по студенческому билету, кроме товаров со скидкой.
- Скидки и бонусы не суммируются с акциями.
"""

CHAT_EXPORT_TXT = """\
12.11.2024, 11:02 - Сообщения и звонки защищены сквозным шифрованием. Никто вне этого чата, даже WhatsApp, не может прочитать или прослушать их.
12.11.2024, 11:02 - Ольга: Добрый день! Детский костюм рибок синий на 80 есть?
12.11.2024, 11:06 - СпортЛайн Менеджер: Добрый день, Ольга! Reebok детский костюм синий на рост 80 закончился, есть 86 и 92. Цена 4 290 ₽.
12.11.2024, 11:08 - Ольга: Давайте 86. А можно сначала примерить?
12.11.2024, 11:10 - СпортЛайн Менеджер: Конечно. Курьер подождёт 15 минут, пока вы примеряете, оплатите только то, что подошло.
12.11.2024, 11:12 - Ольга: Отлично. Доставка сколько стоит?
12.11.2024, 11:14 - СпортЛайн Менеджер: По Екатеринбургу 390 ₽, от 5 000 ₽ бесплатно. Привезём завтра.
12.11.2024, 11:15 - Ольга: <Без медиафайлов>
12.11.2024, 11:17 - СпортЛайн Менеджер: Записала: Reebok детский костюм синий 86, ул. Бажова 68, кв 14, завтра с 18 до 21.
13.11.2024, 19:40 - Игорь: Здравствуйте, пуховик норт фейс нупси в Челябинск отправите? Оплата при получении возможна?
13.11.2024, 19:44 - СпортЛайн Менеджер: Здравствуйте, Игорь! Да, отправим СДЭК, 2–3 дня до Челябинска. Можно наложенным платежом, комиссия СДЭК 3%. От 10 000 ₽ доставка бесплатная, так что для пуховика за 32 990 ₽ доставка за наш счёт.
13.11.2024, 19:46 - Игорь: А если размер не подойдёт?
13.11.2024, 19:49 - СпортЛайн Менеджер: Можно вернуть или обменять в течение 30 дней. При обмене размера обратную доставку оплачиваем мы.
14.11.2024, 10:05 - +7 912 600 11 22: В воскресенье пункт выдачи работает?
14.11.2024, 10:07 - СпортЛайн Менеджер: Да, в воскресенье с 11:00 до 19:00, ул. Малышева 51, ТЦ «Высоцкий», 1 этаж.
"""

RETURNS_DOCX = {
    "title": "Обмен и возврат",
    "intro": "Если вещь не подошла, её можно обменять или вернуть — условия ниже.",
    "sections": [
        ("Сроки", [
            "Одежду, обувь и аксессуары можно вернуть или обменять в течение 30 дней с момента получения.",
            "Вещь не носили, сохранены бирки, ярлыки и упаковка.",
            "Нижнее бельё, носки и купальники обмену и возврату не подлежат, если у них нет брака.",
        ]),
        ("Доставка при возврате", [
            "В Екатеринбурге вещь можно принести в пункт выдачи на Малышева 51 — возврат оформим сразу.",
            "Из других городов отправляйте СДЭК: при обмене на другой размер обратную доставку оплачиваем мы, при возврате денег — покупатель.",
            "Если у товара брак, доставку в обе стороны оплачивает магазин.",
        ]),
        ("Возврат денег", [
            "Деньги возвращаем тем же способом, каким была оплата, в течение 10 дней после получения товара.",
            "Если заказ оплачен частями через Сплит или Долями, оставшиеся платежи отменяются.",
            "Оплаченное подарочной картой возвращается на подарочную карту.",
        ]),
    ],
    "outro": "Чтобы оформить возврат, напишите нам в WhatsApp номер заказа и что не подошло.",
}


def write_returns_docx(path: Path) -> None:
    base.write_returns_docx(path, RETURNS_DOCX, author="СпортЛайн", created=(2024, 11, 1))


SHOP_YML = """\
# Shop profile of «СпортЛайн»: the shop's identity for the bot (names, tone, city, pickup, hours, money).
# Shop facts for answers (delivery terms, prices, returns...) live in knowledge/, not here.
shop_name: СпортЛайн
assistant_name: Макс
assistant_role: помощник
tone: дружелюбно и коротко, на «вы», без лишних эмодзи
emoji: "🏃"
goods: спортивная одежда, обувь и аксессуары
city: Екатеринбург
country: Россия
timezone: Asia/Yekaterinburg
pickup_point: пункт выдачи на ул. Малышева 51 (ТЦ «Высоцкий», 1 этаж)
working_hours: пн–сб 10:00–21:00, вс 11:00–19:00
manager_hours: 9:00–21:00
currency:
  code: RUB
  symbol: ₽
  format: "{amount} {symbol}"
  thousands_separator: " "
  decimals: 0
"""


DOCUMENTS = {
    "delivery.md": DELIVERY_MD,
    "payment.txt": PAYMENT_TXT,
    "hours.md": HOURS_MD,
    "fitting.md": FITTING_MD,
    "sizes.md": SIZES_MD,
    "gift_cards.md": GIFTS_MD,
    "WhatsApp Chat with СпортЛайн.txt": CHAT_EXPORT_TXT,
}


def write_knowledge(kdir: Path) -> list[Path]:
    return base.write_knowledge(kdir, DOCUMENTS, write_returns_docx)


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=root / "shops" / "sport", help="output folder")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    rows = build_rows(random.Random(SEED))
    check_rows(rows)
    base.write_csv(rows, out / "inventory.csv")
    base.write_xlsx(rows, out / "inventory.xlsx", creator="СпортЛайн")
    n_photos = write_photos(out / "photos")
    docs = write_knowledge(out / "knowledge")
    (out / "shop.yml").write_text(SHOP_YML, encoding="utf-8")

    in_stock = sum(1 for r in rows if r["quantity"] > 0)
    print(f"products: {len(PRODUCTS)}; rows: {len(rows)} (out of stock: {len(rows) - in_stock}); "
          f"photos: {n_photos}; knowledge docs: {len(docs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
