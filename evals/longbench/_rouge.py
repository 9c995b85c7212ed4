"""ROUGE-L F as the pinned `rouge==1.0.1` package (pltrdy) computes it, reimplemented.

Semantics (PROTOCOLS.md §3.6, `rouge.Rouge().get_scores([hyp], [ref], avg=True)["rouge-l"]["f"]`
with the package defaults):

1. A text is split into "sentences" on ASCII "." (empty pieces dropped); each sentence is
   split into words on whitespace. A whitespace-only piece becomes the single word "".
2. Summary-level ROUGE-L with set semantics (`exclusive=True`): m / n = number of *distinct*
   words of the reference / hypothesis; for every (reference sentence, hypothesis sentence)
   pair one LCS is reconstructed (the package's tie-break: on a mismatch step back in the
   reference only when that cell is strictly larger) and its words go into one union *set*;
   LCS_u = size of that set.
3. R = LCS_u/m, P = LCS_u/n, F = 2 * (P*R / (P+R+1e-8)) — float operations in this order.
4. Empty hypothesis or reference (no sentence) -> the package raises -> the caller scores 0.

The package reconstructs each LCS recursively, one Python frame per step. Under the default
recursion limit (1000 frames) and the official `eval.py` call stack, a long pair raises
RecursionError, which the official `rouge_score` swallows into a score of 0. We reproduce that
cliff explicitly (`OFFICIAL_MAX_RECON_CALLS_*`) so results equal the official run's.
"""

from __future__ import annotations

# Frames on the stack when the official eval.py (module-level loop) enters the package's first
# recursive `_recon` call, for the Chinese path:
#   <module> -> scorer -> rouge_zh_score -> rouge_score -> Rouge.get_scores -> _get_avg_scores
#   -> metric lambda -> rouge_l_summary_level -> _union_lcs -> _recon_lcs   (10 frames)
# so at most 1000 - 10 = 990 `_recon` frames fit under CPython's default limit of 1000. The
# English path (scorer -> rouge_score directly) has one frame less, hence 991.
# tests/longbench/test_rouge_official.py finds both thresholds with the real package.
OFFICIAL_MAX_RECON_CALLS_ZH = 990
OFFICIAL_MAX_RECON_CALLS_EN = 991


class RougeUndefined(ValueError):
    """The package would raise here (empty side, or recursion too deep): official score is 0."""


def split_sentences(text: str) -> list[list[str]]:
    """Sentences (lists of words) exactly as the package sees `text`."""
    return [piece.split() or [""] for piece in text.split(".") if piece]


def _lcs_words(ref: list[str], hyp: list[str], max_calls: int | None) -> list[str]:
    """Words of the LCS the package reconstructs for (ref, hyp); enforces the recursion cliff."""
    n, m = len(ref), len(hyp)
    # table[i][j] = LCS length of ref[:i], hyp[:j]; (n+1) x (m+1).
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, prev, word = table[i], table[i - 1], ref[i - 1]
        for j in range(1, m + 1):
            if word == hyp[j - 1]:
                row[j] = prev[j - 1] + 1
            else:
                row[j] = prev[j] if prev[j] > row[j - 1] else row[j - 1]
    # Walk back the way the package's recursive `_recon` does; `calls` counts its frames.
    words: list[str] = []
    i, j, calls = n, m, 1
    while i > 0 and j > 0:
        if ref[i - 1] == hyp[j - 1]:
            words.append(ref[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
        calls += 1
    if max_calls is not None and calls > max_calls:
        raise RougeUndefined(f"LCS reconstruction needs {calls} frames > {max_calls}")
    return words


def rouge_l_f(hyp: str, ref: str, *, max_recon_calls: int | None = None) -> float:
    """ROUGE-L F of `hyp` against `ref` with `rouge==1.0.1` semantics (see module docstring).

    Args:
        hyp: Hypothesis text (words separated by whitespace, sentences by ".").
        ref: Reference text, same conventions.
        max_recon_calls: Reproduce the package's RecursionError for LCS reconstructions longer
            than this many frames (`OFFICIAL_MAX_RECON_CALLS_*` for the official stacks);
            None (default) computes the score however long the texts are.

    Returns:
        F in [0, 1].

    Raises:
        RougeUndefined: Where the package raises (empty side, too deep a reconstruction).
    """
    hyp_sents, ref_sents = split_sentences(hyp), split_sentences(ref)
    if not hyp_sents or not ref_sents:
        raise RougeUndefined("empty hypothesis or reference")
    m = len({w for s in ref_sents for w in s})
    n = len({w for s in hyp_sents for w in s})
    union: set[str] = set()
    for ref_s in ref_sents:
        for hyp_s in hyp_sents:
            union.update(_lcs_words(ref_s, hyp_s, max_recon_calls))
    llcs = len(union)
    r_lcs = llcs / m
    p_lcs = llcs / n
    return 2.0 * ((p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8))
