"""Shared fixtures: every test gets its own inventory copy and SQLite database, and fresh settings."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _clear_caches() -> None:
    from salesbot import settings, shop_profile, storage

    settings.get_settings.cache_clear()
    shop_profile.get_profile.cache_clear()
    storage._storages.clear()
    from salesbot.handover.requests import process_configuration

    process_configuration.cache_clear()
    try:
        from actions import common, photos

        common.inventory_store.cache_clear()
        from actions import notifier

        notifier._client.cache_clear()
        photos.photo_library.cache_clear()
    except ImportError:  # the Rasa venv has no rasa-sdk actions
        pass


@pytest.fixture
def shop_env(tmp_path, monkeypatch):
    """Environment of a small test shop: inventory.csv copy, photos dir, SQLite file."""
    inventory = tmp_path / "inventory.csv"
    shutil.copy(FIXTURES / "inventory.csv", inventory)
    shutil.copy(ROOT / "shop" / "shop.yml", tmp_path / "shop.yml")  # the profile sits beside the inventory
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("ORDER_NOTIFICATION_GROUP_ID", "GREEN_API_INSTANCE_ID", "GREEN_API_TOKEN", "OPENAI_API_KEY",
                 "SHOP_PROFILE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INVENTORY_PATH", str(inventory))
    monkeypatch.setenv("PHOTOS_DIR", str(photos))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'test.db'}")
    monkeypatch.setenv("RUNTIME_DIR", str(tmp_path / "runtime"))
    _clear_caches()
    yield {"inventory": inventory, "photos": photos, "tmp": tmp_path}
    _clear_caches()
