"""The desk's notifications speak with the same shop identity as the bot, shop.yml or not."""
from __future__ import annotations

import shutil
from pathlib import Path

from salesbot.desk.app import Desk
from salesbot.desk.config import load_desk_config

ROOT = Path(__file__).resolve().parents[1]


def open_desk(tmp_path: Path, shop: Path, with_profile: bool) -> Desk:
    shutil.copy(shop / "inventory.csv", tmp_path / "inventory.csv")
    shutil.copytree(shop / "knowledge", tmp_path / "knowledge")
    if with_profile:
        shutil.copy(shop / "shop.yml", tmp_path / "shop.yml")
    environ = {"INVENTORY_PATH": str(tmp_path / "inventory.csv"), "KNOWLEDGE_DOCS_DIR": str(tmp_path / "knowledge"),
               "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "RUNTIME_DIR": str(tmp_path / "runtime")}
    desk = Desk(load_desk_config(environ))
    desk.open()
    return desk


def confirmed(desk: Desk) -> str:
    assert desk.service is not None
    return desk.service.templates.render("order_confirmed", {"name": "", "reference": "A-1", "total": 12500})


def test_a_shop_without_shop_yml_gets_its_name_and_currency_from_its_documents(tmp_path):
    text = confirmed(open_desk(tmp_path, ROOT / "shops" / "sport", with_profile=False))
    assert "«СпортЛайн»" in text
    assert "12 500 ₽" in text.replace("\u00a0", " ")


def test_a_shop_with_shop_yml_uses_it(tmp_path):
    text = confirmed(open_desk(tmp_path, ROOT / "shops" / "sport", with_profile=True))
    assert "12 500 ₽" in text.replace("\u00a0", " ")
    assert "«СпортЛайн" in text
