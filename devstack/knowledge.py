"""A shop's documents built into a knowledge base by the real builder and the packaged model."""
from __future__ import annotations

from pathlib import Path

from salesbot.knowledge.builder import build_knowledge
from salesbot.knowledge.retrieval import DEFAULT_EMBEDDING_MODEL, SentenceEmbedder

ROOT = Path(__file__).resolve().parent.parent
SHOP_DOCS = ROOT / "shop" / "knowledge"


def build_shop_knowledge(folder: Path, docs: Path = SHOP_DOCS) -> Path:
    build_knowledge(docs, folder, SentenceEmbedder(DEFAULT_EMBEDDING_MODEL), DEFAULT_EMBEDDING_MODEL)
    return folder
