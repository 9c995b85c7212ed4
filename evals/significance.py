"""Paired significance of two runs on the same items: bootstrap CI of the accuracy difference, McNemar.

Pure functions over per-item correctness; no I/O, no torch. `evals compare` is the CLI front.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# Below this many discordant pairs the chi-square approximation is poor; use the exact binomial test.
EXACT_BELOW = 25
DEFAULT_RESAMPLES = 10_000


@dataclass(frozen=True, slots=True)
class McNemar:
    """McNemar's test on the discordant pairs.

    `b` = items A got right and B wrong, `c` = items A got wrong and B right.
    `method` is "exact" (two-sided binomial) or "chi2" (with continuity correction).
    """

    b: int
    c: int
    p_value: float
    method: str
    statistic: float | None = None  # chi-square statistic; None for the exact test


@dataclass(frozen=True, slots=True)
class Comparison:
    """Paired comparison of runs A and B over their common items (accuracies in 0–1)."""

    n: int
    accuracy_a: float
    accuracy_b: float
    diff: float  # accuracy_b - accuracy_a
    ci_low: float
    ci_high: float
    confidence: float
    resamples: int
    seed: int
    mcnemar: McNemar
    only_a: int = 0  # scored items present in A only (left out of the comparison)
    only_b: int = 0

    def significant(self, alpha: float = 0.05) -> bool:
        """McNemar's p below `alpha`."""
        return self.mcnemar.p_value < alpha


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> McNemar:
    """McNemar's test for paired binary outcomes.

    Exact two-sided binomial test (p = min(1, 2·P[X ≤ min(b, c)]), X ~ Bin(b + c, 1/2)) when there are
    fewer than 25 discordant pairs; otherwise chi-square with Edwards' continuity correction,
    (|b − c| − 1)² / (b + c), on 1 degree of freedom. No discordant pairs gives p = 1.

    Args:
        a_correct: per-item correctness of A (bool array).
        b_correct: per-item correctness of B, same items in the same order.

    Returns:
        b, c, the p-value and the method used.
    """
    a = np.asarray(a_correct, dtype=bool)
    bb = np.asarray(b_correct, dtype=bool)
    if a.shape != bb.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {bb.shape}")
    b = int(np.count_nonzero(a & ~bb))
    c = int(np.count_nonzero(~a & bb))
    n = b + c
    if n < EXACT_BELOW:
        if n == 0:
            return McNemar(b, c, 1.0, "exact")
        tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
        return McNemar(b, c, min(1.0, 2 * tail), "exact")
    # Clipped at 0 so that b == c gives statistic 0 and p = 1 (no evidence either way).
    stat = max(abs(b - c) - 1, 0) ** 2 / n
    # Chi-square survival function with 1 dof: P[Z² > x] = erfc(sqrt(x / 2)); avoids importing scipy.
    return McNemar(b, c, math.erfc(math.sqrt(stat / 2)), "chi2", stat)


def bootstrap_diff_ci(
    a_correct: np.ndarray,
    b_correct: np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of accuracy(B) − accuracy(A) under the paired bootstrap (items resampled with replacement).

    Per item the paired difference d = b − a is −1, 0 or +1, so a resample's mean depends only on how many
    of each it drew: drawing the three counts from Multinomial(n, observed frequencies) is exactly the
    paired bootstrap, in O(resamples) memory instead of O(resamples × n).

    Args:
        a_correct: per-item correctness of A.
        b_correct: per-item correctness of B, same items in the same order.
        resamples: bootstrap resamples.
        seed: numpy Generator seed (same seed, same interval).
        confidence: e.g. 0.95.

    Returns:
        (low, high) in accuracy units (0–1).
    """
    a = np.asarray(a_correct, dtype=np.int8)
    b = np.asarray(b_correct, dtype=np.int8)
    n = a.size
    if n == 0:
        raise ValueError("no items to bootstrap")
    if resamples < 1:
        raise ValueError("resamples must be >= 1")
    d = b - a
    worse, better = np.count_nonzero(d == -1), np.count_nonzero(d == 1)
    probs = np.array([worse, n - worse - better, better]) / n  # P(d = -1), P(d = 0), P(d = +1)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, probs, size=resamples)  # (R, 3)
    diffs = (counts[:, 2] - counts[:, 0]) / n  # (R,)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    return float(low), float(high)


def compare_paired(
    a: Mapping[str, bool],
    b: Mapping[str, bool],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    """Compare two runs on the items both scored, matched by item id.

    Args:
        a: item id -> correct, for run A (unscored items already left out).
        b: the same for run B.
        resamples: bootstrap resamples for the CI.
        seed: bootstrap seed.
        confidence: CI level.

    Returns:
        The comparison; `only_a`/`only_b` count items that could not be paired.

    Raises:
        ValueError: the runs have no item in common.
    """
    common = sorted(a.keys() & b.keys())
    if not common:
        raise ValueError("the runs have no scored items in common")
    xa = np.fromiter((bool(a[k]) for k in common), dtype=bool, count=len(common))
    xb = np.fromiter((bool(b[k]) for k in common), dtype=bool, count=len(common))
    acc_a, acc_b = float(xa.mean()), float(xb.mean())
    low, high = bootstrap_diff_ci(xa, xb, resamples=resamples, seed=seed, confidence=confidence)
    return Comparison(
        n=len(common),
        accuracy_a=acc_a,
        accuracy_b=acc_b,
        diff=acc_b - acc_a,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        mcnemar=mcnemar(xa, xb),
        only_a=len(a.keys() - b.keys()),
        only_b=len(b.keys() - a.keys()),
    )


def verdict(cmp: Comparison, alpha: float = 0.05) -> str:
    """One line, e.g. `B − A = +3.2 pts, 95% CI [+0.5, +5.9], McNemar p = 0.021 → significant at 5%`."""
    level = f"{cmp.confidence * 100:g}%"
    tag = "significant" if cmp.significant(alpha) else "not significant"
    return (
        f"B − A = {100 * cmp.diff:+.1f} pts, {level} CI [{100 * cmp.ci_low:+.1f}, {100 * cmp.ci_high:+.1f}], "
        f"McNemar p {_p(cmp.mcnemar.p_value)} → {tag} at {alpha * 100:g}%"
    )


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"
