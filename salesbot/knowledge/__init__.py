"""The shop's documents as a searchable knowledge base for the LLM fallback."""
from __future__ import annotations

from salesbot.knowledge.retrieval import Passage, Retriever, SentenceEmbedder


def open_retriever(settings, embedder: "SentenceEmbedder | None" = None) -> Retriever:
    """The retriever over the built knowledge base in settings.knowledge_dir (empty if nothing was built)."""
    from salesbot.knowledge.store import KnowledgeStore

    store = KnowledgeStore(settings.knowledge_dir)
    passages, vectors = store.load()
    if settings.retriever == "ngram":
        return Retriever(passages, None, None, mode="ngram")
    if store.embedding_model and store.embedding_model != settings.embedding_model:
        raise RuntimeError(f"the knowledge base in {settings.knowledge_dir} was embedded with "
                           f"{store.embedding_model}, but EMBEDDING_MODEL is {settings.embedding_model}: "
                           "run `make knowledge` again")
    return Retriever(passages, vectors, embedder or SentenceEmbedder(settings.embedding_model),
                     mode=settings.retriever)


__all__ = ["Passage", "Retriever", "SentenceEmbedder", "open_retriever"]
