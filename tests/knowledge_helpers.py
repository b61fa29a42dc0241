"""Kept for the tests' imports: the helper lives in devstack/ so that bench/ imports nothing from tests/."""
from devstack.knowledge import SHOP_DOCS, build_shop_knowledge  # noqa: F401
