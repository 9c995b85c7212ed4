"""Arena matchmaking: votes needed to reach a target mean 95% CI width, our sampler vs uniform pairs.

Simulation: M models with fixed true Bradley–Terry ratings; each vote is a battle between the
pair the sampler picks, won by A with the BT probability, with 10 % ties (half each way).
Samplers:

* uniform: every pair equally likely (FastChat's anonymous-battle default);
* ours: `arena.matchmaking.choose_pair` (expected shrinkage of the rating SDs, 10 % uniform).

Votes arrive in batches of `--batch` (default 20) between two updates of the sampler's state,
as on a busy vote page. After every batch we fit BT (`arena.matchmaking.strengths`, the ratings
engine's Newton solver) and take each model's 95% CI width from the Fisher information at the
fitted ratings (`strength_covariance`, no prior); the run stops when the mean width is below
each target. At the stopping point of the first run per scenario the Fisher widths are checked
against the ratings engine's bootstrap (1000 rounds). Run::

    PYTHONPATH=. python benchmarks/matchmaking_sim.py [--runs 10] [--targets 100,75,50]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from arena import matchmaking  # noqa: E402

ELO_PER_NAT = 400.0 / math.log(10.0)  # rating points per natural-log-odds unit
Z95 = 1.959964
TIE_RATE = 0.10

Sampler = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[int, int]]


def ci_widths(wins: np.ndarray) -> np.ndarray:
    """(M,) 95% CI widths in Elo points from the Fisher information at the BT fit (inf if disconnected)."""
    theta = matchmaking.strengths(wins)
    n = wins + wins.T
    if np.any(n.sum(axis=1) == 0):
        return np.full(wins.shape[0], np.inf)
    cov = matchmaking.strength_covariance(wins, theta, prior=0.0)
    var = np.diag(cov)
    if np.any(var <= 0) or not np.all(np.isfinite(var)):
        return np.full(wins.shape[0], np.inf)
    return 2 * Z95 * np.sqrt(var) * ELO_PER_NAT


def simulate(
    true_elo: np.ndarray, sampler: Sampler, targets: list[float], rng: np.random.Generator, *, batch: int,
    max_votes: int, history: int = 0, watch: int | None = None,
) -> tuple[dict[float, int], tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Votes needed to reach each target CI width; also the final (decisive wins, ties).

    Args:
        history: Votes already collected by uniform pairs among all models but the last one
            (the "new model joins" scenario); not counted.
        watch: Stop on this model's CI width instead of the mean over all models.
    """
    m = true_elo.shape[0]
    theta = true_elo / ELO_PER_NAT
    eligible = np.ones((m, m), dtype=bool)
    decisive = np.zeros((m, m))  # (M, M) i beat j
    ties = np.zeros((m, m))  # (M, M) symmetric tie counts
    if history:
        old = eligible.copy()
        old[-1, :] = old[:, -1] = False
        _play(decisive, ties, theta, [matchmaking.uniform_pair(old, rng) for _ in range(history)], rng)
    need: dict[float, int] = {}
    votes = 0
    while votes < max_votes and len(need) < len(targets):
        frozen = decisive + 0.5 * ties  # the sampler sees the state of the last update only
        _play(decisive, ties, theta, [sampler(frozen, eligible, rng) for _ in range(batch)], rng)
        votes += batch
        widths = ci_widths(decisive + 0.5 * ties)
        width = float(widths.mean() if watch is None else widths[watch])
        for t in targets:
            if t not in need and width <= t:
                need[t] = votes
    for t in targets:
        need.setdefault(t, -1)  # not reached within max_votes
    return need, (decisive, ties)


def _play(
    decisive: np.ndarray, ties: np.ndarray, theta: np.ndarray, pairs: list[tuple[int, int]], rng: np.random.Generator
) -> None:
    """Add one simulated vote per pair: a tie with TIE_RATE, else a BT-distributed win."""
    for i, j in pairs:
        if rng.random() < TIE_RATE:
            ties[i, j] += 1
            ties[j, i] += 1
        elif rng.random() < 1.0 / (1.0 + math.exp(theta[j] - theta[i])):
            decisive[i, j] += 1
        else:
            decisive[j, i] += 1


def bootstrap_mean_width(decisive: np.ndarray, ties: np.ndarray, rounds: int = 1000) -> float:
    """Mean 95% CI width (Elo) from the ratings engine's multinomial bootstrap of the battles."""
    from arena.ratings import bootstrap_bt

    theta, _ = bootstrap_bt(decisive, ties, rounds, np.random.default_rng(0))
    lo, hi = np.percentile(theta, [2.5, 97.5], axis=0)
    return float(((hi - lo) * ELO_PER_NAT).mean())


def ours(wins: np.ndarray, eligible: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    return matchmaking.choose_pair(wins, eligible, rng)


def uniform(wins: np.ndarray, eligible: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    return matchmaking.uniform_pair(eligible, rng)


def optimal_ratio(true_elo: np.ndarray, iters: int = 2000) -> float:
    """Votes the best fixed pair allocation needs relative to uniform, for the mean-CI objective.

    The mean CI width of N votes allocated as fractions x over pairs is f(x) / sqrt(N) with
    f(x) = sum_k sqrt(L(x)^+_kk) at the true ratings, so the vote ratio is (f(x*) / f(uniform))^2.
    x* by exponentiated gradient on the simplex (the problem is convex in x).
    """
    m = true_elo.shape[0]
    theta = true_elo / ELO_PER_NAT
    ii, jj = np.triu_indices(m, 1)
    p = 1.0 / (1.0 + np.exp(theta[jj] - theta[ii]))
    w = p * (1.0 - p)  # (P,) information per battle of each pair

    def f_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        a = np.zeros((m, m))
        a[ii, jj] = a[jj, ii] = x * w
        ones = np.full((m, m), 1.0 / m)
        cov = np.linalg.inv(np.diag(a.sum(1)) - a + ones) - ones
        sd = np.sqrt(np.diag(cov))
        q = (cov / (2 * sd)[None, :]) @ cov
        dq = np.diag(q)
        return float(sd.sum()), -w * (dq[ii] + dq[jj] - 2 * q[ii, jj])

    x = np.full(ii.size, 1.0 / ii.size)
    f_uniform, _ = f_grad(x)
    for _ in range(iters):
        f, g = f_grad(x)
        x *= np.exp(-0.5 * g / np.abs(g).max())
        x /= x.sum()
    return (f / f_uniform) ** 2


def _median_votes(
    elo: np.ndarray, sampler: Sampler, targets: list[float], runs: int, seed: int, args: argparse.Namespace, **kw: int
) -> tuple[dict[float, float], tuple[np.ndarray, np.ndarray]]:
    need: dict[float, list[int]] = {t: [] for t in targets}
    last = (np.zeros(0), np.zeros(0))
    for run in range(runs):
        got, last_run = simulate(
            elo, sampler, targets, np.random.default_rng(1000 * run + seed), batch=args.batch,
            max_votes=args.max_votes, **kw,
        )  # fmt: skip
        if run == 0:
            last = last_run
        for t in targets:
            need[t].append(got[t] if got[t] > 0 else args.max_votes)
    return {t: statistics.median(v) for t, v in need.items()}, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--targets", default="100,75,50")
    ap.add_argument("--history", type=int, default=5000, help="votes before the new model joins")
    ap.add_argument("--max-votes", type=int, default=60_000)
    args = ap.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    m = args.models
    scenarios = {
        # Evenly spaced: like the seed arena's table (1379..1580 over 10 models, ~200 points).
        "spread 200 (seed-arena-like)": np.linspace(-100, 100, m),
        "spread 600": np.linspace(-300, 300, m),
        # A few strong and weak outliers around a tight middle.
        "outliers": np.concatenate([[-400, -250], np.linspace(-50, 50, m - 4), [250, 400]]),
    }
    t0 = time.perf_counter()
    print(f"{m} models, {args.runs} runs per cell (median), batches of {args.batch} votes, {TIE_RATE:.0%} ties\n")
    print("A. Cold start: votes until the mean 95% CI width over all models is below the target\n")
    print("| scenario | target (Elo) | uniform | ours | ours / uniform | best possible / uniform |")
    print("|---|---|---|---|---|---|")
    checks = []
    for name, elo in scenarios.items():
        best = optimal_ratio(elo)
        uni, (du, tu) = _median_votes(elo, uniform, targets, args.runs, 0, args)
        our, (do, to) = _median_votes(elo, ours, targets, args.runs, 1, args)
        for t in targets:
            print(f"| {name} | {t:g} | {uni[t]:,.0f} | {our[t]:,.0f} | {our[t] / uni[t]:.2f} | {best:.2f} |")
        for label, d, tie in (("uniform", du, tu), ("ours", do, to)):
            checks.append((name, label, float(ci_widths(d + 0.5 * tie).mean()), bootstrap_mean_width(d, tie)))

    print(f"\nB. A new model joins after {args.history:,} uniform votes among the other {m - 1}: "
          "votes until the new model's 95% CI width is below the target\n")  # fmt: skip
    print("| scenario | target (Elo) | uniform | ours | ours / uniform |")
    print("|---|---|---|---|---|")
    for name, elo in scenarios.items():
        # The newcomer sits mid-table (the hardest place: its neighbours are closest).
        order = np.r_[np.delete(np.arange(m), m // 2), m // 2]
        e = elo[order]
        kw = {"history": args.history, "watch": m - 1}
        uni, _ = _median_votes(e, uniform, targets, args.runs, 0, args, **kw)
        our, _ = _median_votes(e, ours, targets, args.runs, 1, args, **kw)
        for t in targets:
            print(f"| {name} | {t:g} | {uni[t]:,.0f} | {our[t]:,.0f} | {our[t] / uni[t]:.2f} |")

    print("\nCheck: Fisher vs bootstrap (1000 rounds) mean CI width at the end of run 0 of A (Elo points):")
    for name, label, fisher, boot in checks:
        print(f"  {name:30s} {label:8s} fisher {fisher:6.1f}   bootstrap {boot:6.1f}")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
