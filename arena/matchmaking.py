"""Which two models should the next battle pit against each other? Pure functions, no I/O.

Goal: the fewest votes until every model's Bradley–Terry rating is pinned down (narrow 95% CIs),
which is also what settles the ranking. Under the BT model the Fisher information of the
strengths theta is a weighted graph Laplacian

    L = sum over battles (i, j) of  w_ij (e_i - e_j)(e_i - e_j)^T,   w_ij = p_ij (1 - p_ij),

with p_ij = P(i beats j). The covariance of theta (sum-zero gauge) is L^+, so a model's CI
half-width is proportional to sqrt(L^+_kk). One more battle between i and j changes L^+ by a
rank-one update (Sherman–Morrison), so the expected shrinkage of the sum of all standard
deviations from that battle has a closed form:

    gain_ij = w_ij / (1 + w_ij R_ij) * sum_k (L^+ d_ij)_k^2 / (2 sd_k),     d_ij = e_i - e_j,

with R_ij = d_ij^T L^+ d_ij the "effective resistance" between i and j. This favours exactly what
the arena needs: models with few battles (large sd_k), pairs still rarely compared (large R_ij),
and close matches whose order is uncertain (w_ij = p(1-p) is largest at p = 1/2; a 90:10 pair
carries about a third of the information of a coin-flip pair).

Pairs are *sampled* with probability proportional to gain**SHARPNESS (mixed with a uniform share,
`explore`), not taken greedily: many voters are served between two rating updates, and a
deterministic pick would hand them all the same pair; the uniform share also keeps every pair
alive in case the BT model is wrong (non-transitive preferences).

What it buys (`benchmarks/matchmaking_sim.py`, benchmarks/RESULTS.md "Arena matchmaking"): from a
cold start, uniform pairs are already near-optimal for the mean CI width and the sampler saves
only 0–8 % of votes (the best possible allocation: 0–11 %); when counts are unbalanced, e.g. a
newly added model, it reaches the same CI width with 3–4.5x fewer votes.
"""

from __future__ import annotations

import numpy as np

# Strengths are in natural-log odds ("nats"); 1 nat = 400 / ln 10 ≈ 174 Elo points.
PRIOR_PAIR_COUNT = 0.5  # pseudo-battles (at p = 1/2) between every pair: keeps L invertible at the start
RIDGE = 0.05  # L2 penalty of the BT point fit: finite strengths before every model has won and lost
EXPLORE = 0.1  # share of battles drawn uniformly over eligible pairs
SHARPNESS = 2.0  # probability ∝ gain**SHARPNESS: closer to always taking the best pair, still random


def strengths(wins: np.ndarray, *, ridge: float = RIDGE) -> np.ndarray:
    """Ridge-regularized BT strengths (nats, mean 0) from (M, M) win counts (ties as halves)."""
    from arena.ratings import fit_bt  # the ratings engine's Newton solver; one BT fit in the codebase

    w = np.asarray(wins, dtype=np.float64)
    if w.shape[0] < 2 or not w.any():
        return np.zeros(w.shape[0])
    return np.asarray(fit_bt(w, ridge=ridge), dtype=np.float64)


def strength_covariance(wins: np.ndarray, theta: np.ndarray, *, prior: float = PRIOR_PAIR_COUNT) -> np.ndarray:
    """(M, M) approximate covariance of the BT strengths (sum-zero gauge), in nats^2.

    Args:
        wins: (M, M) wins of i over j, ties as halves.
        theta: (M,) current strengths.
        prior: Pseudo-battles at p = 1/2 between every pair, so the graph is connected from the start.

    Returns:
        L^+ of the Fisher-information Laplacian (observed counts weighted by p(1-p) at `theta`).
    """
    m = theta.shape[0]
    n = np.asarray(wins, np.float64) + np.asarray(wins, np.float64).T  # (M, M) battles per pair
    p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))  # (M, M) P(i beats j)
    a = n * p * (1.0 - p) + 0.25 * prior  # (M, M) edge weights of the information graph
    np.fill_diagonal(a, 0.0)
    lap = np.diag(a.sum(axis=1)) - a
    # Pseudo-inverse of a connected graph's Laplacian: invert after adding the projector on 1.
    ones = np.full((m, m), 1.0 / m)
    cov: np.ndarray = np.linalg.inv(lap + ones) - ones
    return cov


def pair_gains(wins: np.ndarray, *, theta: np.ndarray | None = None, prior: float = PRIOR_PAIR_COUNT) -> np.ndarray:
    """(M, M) expected shrinkage of the summed rating SDs from one more battle of each pair.

    Args:
        wins: (M, M) wins of i over j, ties as halves (a tie adds 0.5 to [i, j] and [j, i]).
        theta: (M,) current strengths in nats; fitted from `wins` when None.
        prior: See `strength_covariance`.

    Returns:
        Symmetric (M, M) gains >= 0 with a zero diagonal (see the module docstring).
    """
    w = np.asarray(wins, dtype=np.float64)
    m = w.shape[0]
    if m < 2:
        return np.zeros((m, m))
    theta = strengths(w) if theta is None else np.asarray(theta, dtype=np.float64)
    cov = strength_covariance(w, theta, prior=prior)  # (M, M)
    sd = np.sqrt(np.clip(np.diag(cov), 1e-12, None))  # (M,)
    # For d = e_i - e_j: (cov d)_k = cov_ki - cov_kj, so sum_k (cov d)_k^2 / (2 sd_k)
    # = A_ii + A_jj - 2 A_ij with A = cov diag(1 / (2 sd)) cov.
    a = (cov / (2.0 * sd)[None, :]) @ cov  # (M, M)
    da = np.diag(a)
    shrink = da[:, None] + da[None, :] - 2.0 * a  # (M, M)
    dc = np.diag(cov)
    resistance = dc[:, None] + dc[None, :] - 2.0 * cov  # (M, M) R_ij
    p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))
    wgt = p * (1.0 - p)
    gains: np.ndarray = np.clip(wgt / (1.0 + wgt * resistance) * shrink, 0.0, None)
    np.fill_diagonal(gains, 0.0)
    return gains


def pair_probabilities(
    wins: np.ndarray,
    eligible: np.ndarray,
    *,
    explore: float = EXPLORE,
    sharpness: float = SHARPNESS,
    theta: np.ndarray | None = None,
) -> np.ndarray:
    """(M, M) probability of serving each unordered pair next; non-zero only where i < j.

    Args:
        wins: (M, M) wins of i over j, ties as halves.
        eligible: (M, M) bool, True where the pair can be served (both answered a common prompt);
            read on i < j.
        explore: Share of probability spread uniformly over eligible pairs.
        sharpness: Exponent on the gains (1: proportional; larger: nearer the greedy best pair).
        theta: Current strengths (nats); fitted from `wins` when None.

    Returns:
        Upper-triangular probabilities summing to 1; all zeros when no pair is eligible.
    """
    m = np.asarray(wins).shape[0]
    mask = np.triu(np.asarray(eligible, dtype=bool), 1)
    if not mask.any():
        return np.zeros((m, m))
    g = np.where(mask, pair_gains(wins, theta=theta), 0.0)
    g = (g / max(g.max(), 1e-300)) ** sharpness  # rescaled first: gains can be tiny
    uniform: np.ndarray = mask / mask.sum()
    total = g.sum()
    if total <= 0 or not np.isfinite(total):
        return uniform
    probs: np.ndarray = (1.0 - explore) * g / total + explore * uniform
    return probs


def choose_pair(
    wins: np.ndarray,
    eligible: np.ndarray,
    rng: np.random.Generator,
    *,
    explore: float = EXPLORE,
    sharpness: float = SHARPNESS,
) -> tuple[int, int]:
    """Draw one pair (i, j), i < j, from `pair_probabilities`.

    Raises:
        ValueError: No pair is eligible.
    """
    probs = pair_probabilities(wins, eligible, explore=explore, sharpness=sharpness)
    flat = probs.ravel()
    if flat.sum() <= 0:
        raise ValueError("no eligible model pair")
    k = int(rng.choice(flat.size, p=flat / flat.sum()))
    i, j = divmod(k, probs.shape[1])
    return i, j


def uniform_pair(eligible: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """Draw an eligible pair (i, j), i < j, uniformly (the baseline FastChat-style sampler)."""
    ii, jj = np.nonzero(np.triu(np.asarray(eligible, dtype=bool), 1))
    if ii.size == 0:
        raise ValueError("no eligible model pair")
    k = int(rng.integers(ii.size))
    return int(ii[k]), int(jj[k])
