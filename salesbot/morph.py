"""One Russian morphological analyser (pymorphy3) per process, loaded on first use."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def analyzer():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def is_dictionary_word(word: str) -> bool:
    """«хочу», «коричневые», «сумку» are Russian words; «гуччи», «асикс», «версаче» are not (brands, names)."""
    parses = analyzer().parse(word.lower())
    return bool(parses) and parses[0].is_known and "LATN" not in parses[0].tag
