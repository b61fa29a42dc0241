"""A shop question answered in the words of the shop's own documents, without an LLM, when retrieval is sure.

The retriever ranks passages; this module decides whether one *line* of a passage answers the question well
enough to be quoted to the customer as it stands. The rule is deliberately strict: a quote that answers another
question is worse than handing the chat to a manager. A line is quoted only when

* it comes from a shop document, never from a chat export (those hold other customers' words and data);
* the line together with its section heading covers most of the question's content words (by IDF weight over the
  knowledge base, Russian word forms reduced to lemmas and fuzzy stems), and at least one distinctive word;
* no line from another section covers the question about as well (then retrieval cannot tell which one is meant).

Everything else goes to the LLM (with the top passages) or, without an LLM, to a manager.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from salesbot.knowledge.documents import CHAT_SECTION_PREFIX
from salesbot.knowledge.retrieval import Passage

# Question words and fillers that say nothing about what is asked.
STOP_LEMMAS = frozenset("""
а аа ага бы быть в вам вас ваш ведь во вот вы где да для до если есть ещё же за здравствуйте и из или
как какой каков когда кто ли либо мне мой можно мочь на надо нас не нет ну о об один он она они от по под
подсказать пожалуйста при про с сам свой сейчас скажите со спасибо так также там то тот тоже только у уже хотеть
хотеться что чтобы это этот я ваще вообще сколько который скольки добрый день вечер утро привет здравствовать
""".split())
MIN_COVERAGE = 0.7        # share of the question's IDF weight the quoted line must cover
RIVAL_MARGIN = 0.15       # another section's best line within this much of the best = not sure
MAX_QUOTE_CHARS = 320
_WORD = re.compile(r"[a-zа-яё0-9]+", re.I)


@lru_cache(maxsize=20000)
def lemma(word: str) -> str:
    from salesbot.morph import analyzer

    word = word.lower().replace("ё", "е")
    if not re.search("[а-я]", word):
        return word
    return analyzer().parse(word)[0].normal_form.replace("ё", "е")


def content_lemmas(text: str) -> List[str]:
    words = [lemma(w) for w in _WORD.findall(text.lower())]
    return [w for w in words if w not in STOP_LEMMAS and (len(w) > 2 or w.isdigit())]


def _stem(word: str) -> str:
    # 4 letters for short words («стоить»/«стоимость»), 5 for long ones, whose first 4 are often a prefix
    # («пересылка» is not «перевод»)
    return word[:4] if len(word) <= 6 else word[:5]


def _line_stems(line_words: Iterable[str]) -> set:
    return {w[:n] for w in line_words for n in (4, 5)}


def _matches(word: str, line_words: set, line_stems: set) -> bool:
    # the lemma, or for longer words a shared stem («стоимость»/«стоить», «курьерский»/«курьер»)
    return word in line_words or (len(word) >= 6 and _stem(word) in line_stems)


@dataclass(frozen=True)
class Quote:
    text: str
    passage: Passage
    coverage: float


class DocumentAnswerer:
    """Quotes the line of the shop's documents that answers a question, or says it is not sure (None)."""

    def __init__(self, passages: Sequence[Passage]):
        self._lines: List[Tuple[Passage, str, List[str]]] = []
        document_frequency: Counter = Counter()
        for passage in passages:
            words = set(content_lemmas(passage.text))
            document_frequency.update(words)
            if passage.section.startswith(CHAT_SECTION_PREFIX):
                continue
            for line in _answer_lines(passage):
                self._lines.append((passage, line, content_lemmas(f"{passage.section} {line}")))
        total = max(1, len(passages))
        self._idf: Dict[str, float] = {w: math.log((1 + total) / (1 + df)) + 1.0
                                       for w, df in document_frequency.items()}
        self._unseen_idf = math.log(1 + total) + 1.0
        self._common = math.log((1 + total) / (1 + total * 0.3)) + 1.0  # in ~30% of passages: not distinctive

    def weight(self, word: str) -> float:
        return self._idf.get(word, self._unseen_idf)

    def answer(self, question: str, ranked: Sequence[Passage] = ()) -> Optional[Quote]:
        """`ranked` (the retriever's top passages) limits the candidates when given."""
        words = list(dict.fromkeys(content_lemmas(question)))
        if not words:
            return None
        total = sum(self.weight(w) for w in words)
        allowed = {p.id for p in ranked} if ranked else None
        # every section's best line competes (a close rival outside the top passages still means «not sure»),
        # but only a line of the retriever's top passages may be quoted
        best_by_section: Dict[Tuple[str, str], Tuple[float, bool, Passage, str]] = {}
        for passage, line, line_words in self._lines:
            word_set = set(line_words)
            stems = _line_stems(word_set)
            covered = [w for w in words if _matches(w, word_set, stems)]
            coverage = sum(self.weight(w) for w in covered) / total
            distinctive = any(self.weight(w) > self._common for w in covered)
            key = (passage.source, passage.section)
            if key not in best_by_section or coverage > best_by_section[key][0]:
                best_by_section[key] = (coverage, distinctive, passage, line)
        ranking = sorted(best_by_section.values(), key=lambda item: -item[0])
        if not ranking or (allowed is not None and ranking[0][2].id not in allowed):
            return None
        coverage, distinctive, passage, line = ranking[0]
        rival = ranking[1][0] if len(ranking) > 1 else 0.0
        if coverage < MIN_COVERAGE or not distinctive or coverage - rival < RIVAL_MARGIN:
            return None
        return Quote(format_quote(passage.section, line), passage, round(coverage, 3))


def _answer_lines(passage: Passage) -> Iterable[str]:
    """The passage's lines without its heading (the first line), each a candidate quote."""
    lines = passage.text.split("\n")[1:] if passage.text.startswith(passage.section) else passage.text.split("\n")
    for line in lines:
        line = line.strip()
        if len(_WORD.findall(line)) >= 3:
            yield line


def format_quote(section: str, line: str) -> str:
    """«По Екатеринбургу: Стоимость курьерской доставки — 390 ₽…», without markdown, at most ~320 chars."""
    text = re.sub(r"\*\*|__|`", "", line).lstrip("-•* ").strip()
    heading = section.split("›")[-1].strip()
    # a file without headings has its file name as the section («payment»): not worth saying
    if heading and re.search("[а-яё]", heading, re.I) and heading.lower() not in text.lower():
        text = f"{heading}: {text[:1].lower() + text[1:] if text[:2].isalpha() and not text[:2].isupper() else text}"
    if len(text) > MAX_QUOTE_CHARS:
        text = text[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + "…"
    return text
