"""The persistent ChromaDB folder that holds the chunks, their embeddings and where each came from."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from salesbot.knowledge.documents import Chunk
from salesbot.knowledge.retrieval import Passage

COLLECTION = "shop_knowledge"


class KnowledgeStore:
    def __init__(self, directory: Path):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._client = chromadb.PersistentClient(path=str(directory),
                                                 settings=ChromaSettings(anonymized_telemetry=False))
        self._collection = self._open()

    def _open(self, embedding_model: Optional[str] = None):
        metadata = {"hnsw:space": "cosine"}
        if embedding_model:
            metadata["embedding_model"] = embedding_model
        return self._client.get_or_create_collection(COLLECTION, embedding_function=None, metadata=metadata)

    @property
    def embedding_model(self) -> Optional[str]:
        return (self._collection.metadata or {}).get("embedding_model")

    def reset(self, embedding_model: str) -> None:
        """Drop everything: the chunks were embedded with another model and cannot be mixed with new ones."""
        self._client.delete_collection(COLLECTION)
        self._collection = self._open(embedding_model)

    def file_digests(self) -> Dict[str, str]:
        """source -> sha256 of the file its chunks came from."""
        stored = self._collection.get(include=["metadatas"])
        return {m["source"]: m["file_sha256"] for m in stored["metadatas"] or []}

    def replace_file(self, source: str, digest: str, chunks: Sequence[Chunk],
                     vectors: Sequence[Sequence[float]]) -> None:
        self.remove_file(source)
        if not chunks:
            return
        self._collection.add(
            ids=[c.id for c in chunks],
            embeddings=[list(v) for v in vectors],
            documents=[c.text for c in chunks],
            metadatas=[{"source": c.source, "section": c.section, "position": c.position, "file_sha256": digest}
                       for c in chunks],
        )

    def remove_file(self, source: str) -> None:
        self._collection.delete(where={"source": source})

    def count(self) -> int:
        return self._collection.count()

    def load(self) -> Tuple[List[Passage], List[List[float]]]:
        """Every passage with its vector, in a stable order (source, position)."""
        stored = self._collection.get(include=["documents", "metadatas", "embeddings"])
        rows = sorted(zip(stored["ids"], stored["documents"], stored["metadatas"], stored["embeddings"]),
                      key=lambda row: (row[2]["source"], row[2]["position"]))
        passages = [Passage(id_, meta["source"], meta.get("section", ""), text) for id_, text, meta, _ in rows]
        return passages, [list(vector) for *_, vector in rows]
