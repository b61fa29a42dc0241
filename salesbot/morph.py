"""One Russian morphological analyser (pymorphy3) per process, loaded on first use."""
from __future__ import annotations

import threading

_analyzer = None
_lock = threading.Lock()


def analyzer():
    global _analyzer
    with _lock:
        if _analyzer is None:
            import pymorphy3

            _analyzer = pymorphy3.MorphAnalyzer()
        return _analyzer


def is_dictionary_word(word: str) -> bool:
    """«хочу», «коричневые», «сумку» are Russian words; «гуччи», «асикс», «версаче» are not (brands, names)."""
    parses = analyzer().parse(word.lower())
    return bool(parses) and parses[0].is_known and "LATN" not in parses[0].tag
