"""LongBench metrics, implemented from PROTOCOLS.md §3.6 so results equal the official ones.

Every metric has the signature `metric(prediction, ground_truth, *, all_classes=None) -> float`
and returns a value in [0, 1]; the per-sample rule (first line, max over answers) lives in
`evals.longbench.scoring`. Pinned dependencies change these numbers: jieba==0.42.1 (default
dictionary, HMM on), rapidfuzz 3.x for the edit ratio; ROUGE-L is our own reimplementation of
rouge==1.0.1 (see `_rouge.py`), checked against the package in the tests.
"""

from __future__ import annotations

import logging
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from evals.longbench._rouge import (
    OFFICIAL_MAX_RECON_CALLS_EN,
    OFFICIAL_MAX_RECON_CALLS_ZH,
    RougeUndefined,
    rouge_l_f,
)

Metric = Callable[..., float]

# Exactly the official CJK set. Note it has "》" but not "《" and ends with an ASCII ".";
# a faithful copy matters more than a tidy one.
_CJK_PUNCTUATION = "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."
_ZH_PUNCTUATION = frozenset(string.punctuation + _CJK_PUNCTUATION)
_EN_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_DIGITS = re.compile(r"\d+")  # Unicode digits, as the official `re.findall(r"\d+", ...)`


def _cut(text: str) -> list[str]:
    # Imported lazily: jieba costs ~1 s to import and loads its dictionary on first use.
    import jieba

    jieba.setLogLevel(logging.WARNING)  # keep "Building prefix dict..." off the CLI output
    return list(jieba.cut(text, cut_all=False))


def normalize_zh_answer(text: str) -> str:
    """Lower-case, delete ASCII + official CJK punctuation, delete all whitespace."""
    return "".join("".join(ch for ch in text.lower() if ch not in _ZH_PUNCTUATION).split())


def normalize_answer(text: str) -> str:
    """English normalization: lower, strip ASCII punctuation, drop a/an/the, squeeze spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _EN_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1_tokens(prediction: Iterable[str], ground_truth: Iterable[str]) -> float:
    """Multiset token F1: overlap = Counter(p) & Counter(g); 0 when nothing overlaps.

    Args:
        prediction: Predicted tokens (duplicates count).
        ground_truth: Gold tokens.

    Returns:
        2PR/(P+R) with P = overlap/|p|, R = overlap/|g|, or 0 for no overlap (this also
        covers an empty side).
    """
    pred, gold = list(prediction), list(ground_truth)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision = 1.0 * same / len(pred)
    recall = 1.0 * same / len(gold)
    return (2 * precision * recall) / (precision + recall)


def qa_f1_zh_score(prediction: str, ground_truth: str, **_: object) -> float:
    """Chinese QA F1: jieba tokens (cut_all=False), each normalized, empties dropped, multiset F1."""
    pred = [t for t in map(normalize_zh_answer, _cut(prediction)) if t]
    gold = [t for t in map(normalize_zh_answer, _cut(ground_truth)) if t]
    return f1_tokens(pred, gold)


def qa_f1_score(prediction: str, ground_truth: str, **_: object) -> float:
    """English QA F1 over whitespace tokens of the normalized strings."""
    return f1_tokens(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def _rouge_or_zero(hyp: str, ref: str, max_recon_calls: int) -> float:
    try:
        return rouge_l_f(hyp, ref, max_recon_calls=max_recon_calls)
    except RougeUndefined:
        return 0.0


def rouge_score(prediction: str, ground_truth: str, **_: object) -> float:
    """ROUGE-L F (rouge==1.0.1 semantics); 0 wherever the official call raises.

    Args:
        prediction: Hypothesis, words separated by spaces, sentences by ".".
        ground_truth: Reference, same conventions.

    Returns:
        F in [0, 1]; 0 for an empty side and for pairs whose LCS reconstruction overflows the
        package's recursion under the official stack (the official code swallows both).
    """
    return _rouge_or_zero(prediction, ground_truth, OFFICIAL_MAX_RECON_CALLS_EN)


def rouge_zh_score(prediction: str, ground_truth: str, **_: object) -> float:
    """Chinese ROUGE-L: jieba tokens joined by single spaces, then ROUGE-L F (no lower-casing).

    Same 0 rules as `rouge_score`; the official Chinese path is one frame deeper, so its
    recursion cliff comes one LCS step earlier.
    """
    return _rouge_or_zero(" ".join(_cut(prediction)), " ".join(_cut(ground_truth)), OFFICIAL_MAX_RECON_CALLS_ZH)


def classification_score(
    prediction: str, ground_truth: str, *, all_classes: Sequence[str] | None = None, **_: object
) -> float:
    """Few-shot classification (lsht, trec) with the official list-mutation quirk.

    Classes found in the prediction are collected in `all_classes` order; then every collected
    class that is a proper substring of the gold label is removed *while the list is being
    iterated*, so the element right after a removed one is skipped and may survive.

    Args:
        prediction: Model output (first line already taken by the scorer).
        ground_truth: Gold class label.
        all_classes: The dataset's class list (required).

    Returns:
        1/len(matched) if the gold label survives in the matched list, else 0.
    """
    if all_classes is None:
        raise ValueError("classification_score needs all_classes")
    matched = [c for c in all_classes if c in prediction]
    # A list iterator holds an index that advances after each item; `remove` drops the *first*
    # equal element. This loop does exactly that, so the skip-after-removal is reproduced.
    i = 0
    while i < len(matched):
        term = matched[i]
        i += 1
        if term in ground_truth and term != ground_truth:
            matched.remove(term)
    return 1.0 / len(matched) if ground_truth in matched else 0.0


def _share_of(numbers: list[str], target: str) -> float:
    if not numbers:
        return 0.0
    return sum(1 for x in numbers if x == target) / len(numbers)


def _retrieval(prediction: str, ground_truth: str, pattern: str) -> float:
    found = re.findall(pattern, ground_truth)
    if not found:
        raise ValueError(f"gold answer {ground_truth!r} has no paragraph id matching {pattern!r}")
    return _share_of(_DIGITS.findall(prediction), found[0])


def retrieval_zh_score(prediction: str, ground_truth: str, **_: object) -> float:
    """Share of the numbers in the prediction that equal the gold "段落N" id (0 if none)."""
    return _retrieval(prediction, ground_truth, r"段落(\d+)")


def retrieval_score(prediction: str, ground_truth: str, **_: object) -> float:
    """English retrieval: as `retrieval_zh_score` with gold "Paragraph N"."""
    return _retrieval(prediction, ground_truth, r"Paragraph (\d+)")


def count_score(prediction: str, ground_truth: str, **_: object) -> float:
    """passage_count: share of the numbers in the prediction equal to the gold string (0 if none)."""
    return _share_of(_DIGITS.findall(prediction), ground_truth)


def first_code_line(prediction: str) -> str:
    """The first line (after leading newlines) containing none of "`", "#", "//"; "" if none."""
    for line in prediction.lstrip("\n").split("\n"):
        if "`" not in line and "#" not in line and "//" not in line:
            return line
    return ""


def edit_ratio(a: str, b: str) -> int:
    """fuzzywuzzy's `fuzz.ratio` with the python-Levenshtein backend, via rapidfuzz.

    Identical strings (both empty included) give 100 before the empty check, as fuzzywuzzy's
    decorator order does; one empty side gives 0. Otherwise `round(rapidfuzz.fuzz.ratio)`,
    Python's round-half-even, like fuzzywuzzy's `int(round(...))`.
    """
    from rapidfuzz import fuzz

    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(fuzz.ratio(a, b)))


def code_sim_score(prediction: str, ground_truth: str, **_: object) -> float:
    """Edit similarity of the first code line of the prediction with the gold line, in [0, 1]."""
    return edit_ratio(first_code_line(prediction), ground_truth) / 100


METRICS: dict[str, Metric] = {
    "qa_f1_zh_score": qa_f1_zh_score,
    "qa_f1_score": qa_f1_score,
    "rouge_zh_score": rouge_zh_score,
    "rouge_score": rouge_score,
    "classification_score": classification_score,
    "retrieval_zh_score": retrieval_zh_score,
    "retrieval_score": retrieval_score,
    "count_score": count_score,
    "code_sim_score": code_sim_score,
}
