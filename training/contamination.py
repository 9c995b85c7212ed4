"""N-gram overlap between a training corpus and a suite's questions (`evals contamination`).

Text is normalised (NFKC, lower case, whitespace and punctuation removed) and cut into character
n-grams — characters, not words, because Chinese has no spaces; 13 characters is long enough that
chance matches between unrelated sentences are rare, yet short enough to catch a copied stem with
edited options. An item's overlap is the fraction of its n-grams found in the corpus; items at or
above `threshold` are reported as contaminated (all items with any overlap are listed).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

DEFAULT_N = 13
DEFAULT_THRESHOLD = 0.5
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    return _DROP.sub("", unicodedata.normalize("NFKC", text).lower())


def ngrams(text: str, n: int) -> Iterator[str]:
    t = normalise(text)
    if 0 < len(t) < n:
        yield t  # a short item is one "n-gram": matched only if it occurs whole
        return
    for i in range(len(t) - n + 1):
        yield t[i : i + n]


def corpus_ngrams(texts: Iterable[str], n: int) -> set[int]:
    """Hashes of every n-gram of the corpus (hashes keep memory at ~8 bytes per distinct n-gram)."""
    grams: set[int] = set()
    for t in texts:
        t = normalise(t)
        grams.update(hash(t[i : i + n]) for i in range(max(0, len(t) - n + 1)))
    return grams


def _short_in_corpus(texts: list[str], item: str) -> bool:
    target = normalise(item)
    return any(target in normalise(t) for t in texts)


@dataclass(frozen=True, slots=True)
class ItemOverlap:
    key: str
    subject: str
    overlap: float  # fraction of the item's n-grams seen in the corpus
    matched: int
    total: int
    contaminated: bool
    snippet: str


class ExamItem(Protocol):
    """What `check` reads of a benchmark item (evals' multiple-choice items have these fields)."""

    @property
    def key(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def options(self) -> Sequence[str]: ...


def check(
    corpus_texts: list[str],
    items: Sequence[ExamItem],
    *,
    n: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    with_options: bool = True,
) -> list[ItemOverlap]:
    """Overlap of every item with the corpus, most overlapping first."""
    grams = corpus_ngrams(corpus_texts, n)
    out: list[ItemOverlap] = []
    for it in items:
        text = it.question + ("".join(it.options) if with_options else "")
        own = list(dict.fromkeys(ngrams(text, n)))
        if not own:
            continue
        if len(own) == 1 and len(own[0]) < n:
            hit = 1 if _short_in_corpus(corpus_texts, own[0]) else 0
        else:
            hit = sum(1 for g in own if hash(g) in grams)
        frac = hit / len(own)
        out.append(ItemOverlap(key=it.key, subject=it.subject, overlap=frac, matched=hit, total=len(own),
                               contaminated=frac >= threshold and hit > 0, snippet=it.question[:40]))  # fmt: skip
    out.sort(key=lambda r: (-r.overlap, r.key))
    return out
