"""Recall@k of each retriever on the Russian retrieval check (tests/retrieval_questions.yml)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

import yaml

from salesbot.knowledge.retrieval import Passage, Retriever, normalize


@dataclass(frozen=True)
class Question:
    text: str
    sources: tuple
    fact: str


@dataclass
class Recall:
    name: str
    document_hits: int
    fact_hits: int
    total: int
    misses: List[str]

    @property
    def document_recall(self) -> float:
        return self.document_hits / self.total if self.total else 0.0

    @property
    def fact_recall(self) -> float:
        return self.fact_hits / self.total if self.total else 0.0


def load_questions(path: Path) -> List[Question]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    questions = []
    for item in data["questions"]:
        sources = item["source"] if isinstance(item["source"], list) else [item["source"]]
        questions.append(Question(item["q"], tuple(sources), item["fact"]))
    return questions


def measure(name: str, retriever: Retriever, questions: Sequence[Question], k: int = 3) -> Recall:
    document_hits = fact_hits = 0
    misses = []
    for question in questions:
        top: List[Passage] = retriever.search(question.text, k)
        found_document = any(p.source in question.sources for p in top)
        found_fact = any(normalize(question.fact) in normalize(p.text) for p in top)
        document_hits += found_document
        fact_hits += found_fact
        if not found_fact:
            misses.append(f"{question.text!r} -> {'; '.join(f'{p.source} · {p.section}' for p in top)}")
    return Recall(name, document_hits, fact_hits, len(questions), misses)


def format_table(results: Sequence[Recall], k: int = 3) -> str:
    lines = [f"{'retriever':<28} {'document recall@' + str(k):>20} {'fact recall@' + str(k):>16}"]
    for r in results:
        lines.append(f"{r.name:<28} {r.document_recall:>14.3f} ({r.document_hits}/{r.total})"
                     f" {r.fact_recall:>9.3f} ({r.fact_hits}/{r.total})")
    return "\n".join(lines)


def compare(passages: Sequence[Passage], vectors, embedder, questions: Sequence[Question],
            weights: Sequence[float] = (0.3, 0.5, 0.7)) -> Dict[str, Recall]:
    results: Dict[str, Recall] = {}
    results["embedding (dense only)"] = measure("embedding (dense only)",
                                                Retriever(passages, vectors, embedder, "embedding"), questions)
    results["ngram (char 3-5 TF-IDF)"] = measure("ngram (char 3-5 TF-IDF)",
                                                 Retriever(passages, None, None, "ngram"), questions)
    for weight in weights:
        name = f"hybrid (dense weight {weight})"
        results[name] = measure(name, Retriever(passages, vectors, embedder, "hybrid", dense_weight=weight),
                                questions)
    return results
