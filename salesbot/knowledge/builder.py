"""Builds the knowledge base: reads every document, embeds what changed, keeps the rest as it was."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Protocol, Sequence, Tuple

from salesbot.knowledge.documents import UnreadableDocument, document_files, file_digest, read_chunks
from salesbot.knowledge.store import KnowledgeStore

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> List[List[float]]: ...


@dataclass
class BuildReport:
    added: List[str] = field(default_factory=list)
    updated: List[str] = field(default_factory=list)
    unchanged: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    embedded_chunks: int = 0
    total_chunks: int = 0

    def summary(self) -> str:
        parts = [f"{self.total_chunks} chunks", f"{len(self.added)} added", f"{len(self.updated)} updated",
                 f"{len(self.unchanged)} unchanged", f"{len(self.removed)} removed",
                 f"{len(self.skipped)} skipped", f"{self.embedded_chunks} chunks embedded"]
        return ", ".join(parts)


def build_knowledge(docs_dir: Path, store_dir: Path, embedder: Embedder, model_id: str,
                    progress: bool = False, rebuild: bool = False) -> BuildReport:
    if not docs_dir.is_dir():
        raise FileNotFoundError(f"knowledge documents folder not found: {docs_dir}")
    store = KnowledgeStore(store_dir)
    if rebuild or store.embedding_model != model_id:
        if store.embedding_model and store.embedding_model != model_id:
            logger.info("embedding model changed (%s -> %s): re-embedding everything", store.embedding_model, model_id)
        store.reset(model_id)
    stored = store.file_digests()
    report = BuildReport()
    files = document_files(docs_dir)
    seen = set()
    bar = _progress(files, progress)
    for path in bar:
        source = path.relative_to(docs_dir).as_posix()
        seen.add(source)
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(source)
        digest = file_digest(path)
        if stored.get(source) == digest:
            report.unchanged.append(source)
            continue
        try:
            chunks = read_chunks(path, docs_dir)
        except (UnreadableDocument, OSError) as error:
            kept = " (its earlier chunks are kept)" if source in stored else ""
            logger.warning("skipped unreadable knowledge file %s: %s%s", path, error, kept)
            report.skipped.append((source, str(error)))
            continue
        vectors = embedder.embed([c.text for c in chunks])
        store.replace_file(source, digest, chunks, vectors)
        report.embedded_chunks += len(chunks)
        (report.updated if source in stored else report.added).append(source)
    for source in sorted(set(stored) - seen):
        store.remove_file(source)
        report.removed.append(source)
    report.total_chunks = store.count()
    return report


def _progress(files: List[Path], enabled: bool):
    if not enabled:
        return files
    from tqdm import tqdm

    return tqdm(files, desc="knowledge", unit="file")
