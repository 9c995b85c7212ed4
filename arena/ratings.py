"""Arena ratings: online Elo, Bradley–Terry MLE with bootstrap CIs, win-rate matrices.

Pure functions over numpy arrays, no I/O. Conventions (FastChat-compatible, PROTOCOLS.md §5):

* Outcomes ``model_a`` / ``model_b`` / ``tie`` / ``tie (bothbad)``; both tie kinds score
  half a win for each side.
* Online Elo: battles in timestamp order, ``e_a = 1 / (1 + base**((r_b - r_a) / scale))``,
  ``r_a += k * (s_a - e_a)``, ``r_b -= k * (s_a - e_a)`` with K=4, scale 400, base 10,
  init 1000 by default.
* Bradley–Terry: P(i beats j) = 1 / (1 + base**((R_j - R_i) / scale)), fitted by maximum
  likelihood on the aggregated pair counts (a tie = half a win each way), reported as
  ``R = scale * beta + init`` with beta in log-``base`` units and the ratings' mean at
  ``init`` (or one model pinned by ``anchor``). CIs are the 2.5 / 97.5 % quantiles over
  bootstrap rounds that resample battles with replacement; the point rating is the fit on
  all data.

The BT fit and its vectorized bootstrap live in `arena.ratings_bt`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from arena.battle_log import A_WINS, B_WINS, Battles
from arena.ratings_bt import bootstrap_bt, fit_bt, predicted_win_rate, unbounded_models

__all__ = [
    "RatingParams",
    "RatingRow",
    "Ratings",
    "bootstrap_bt",
    "compute_ratings",
    "fit_bt",
    "online_elo",
    "pair_counts",
    "predicted_win_rate",
    "unbounded_models",
]


@dataclass(frozen=True, slots=True)
class RatingParams:
    """Parameters of every rating method (defaults = FastChat's).

    Attributes:
        k: Online Elo step size.
        scale: Rating points per factor ``base`` in odds.
        base: Odds base: a ``scale``-point gap means ``base``:1 odds.
        init: Initial Elo rating and the mean of the BT ratings (1500 = the seed arena's scale).
        n_bootstrap: BT bootstrap rounds; 0 skips the CIs.
        seed: Seed of the bootstrap's random generator.
        anchor: ``(model, rating)`` pins that model's BT rating instead of centring the mean.
    """

    k: float = 4.0
    scale: float = 400.0
    base: float = 10.0
    init: float = 1000.0
    n_bootstrap: int = 100
    seed: int = 0
    anchor: tuple[str, float] | None = None


class RatingRow(NamedTuple):
    """One stored rating, shaped like a ``rating_snapshots`` row."""

    method: str
    model: str
    rating: float | None
    ci_low: float | None
    ci_high: float | None
    n_battles: int


@dataclass(frozen=True, slots=True, eq=False)
class Ratings:
    """Everything `compute_ratings` produces; arrays are indexed like ``models``.

    BT fields are NaN for models left out of the fit (see ``excluded`` and ``warnings``);
    CIs are NaN when ``params.n_bootstrap == 0``; ``win_rate`` is NaN for a model whose
    battles were all ties.

    Attributes:
        models: Model names.
        elo: (M,) online Elo after the last battle.
        bt: (M,) Bradley–Terry rating fitted on all battles.
        ci_low: (M,) 2.5 % bootstrap quantile of the BT rating.
        ci_high: (M,) 97.5 % bootstrap quantile.
        rank_ub: (M,) 1 + number of models whose ``ci_low`` exceeds this model's ``ci_high``
            (plain BT rank without bootstrap); 0 for excluded models.
        win_rate: (M,) wins / (wins + losses), ties left out.
        battles: (M,) battles played, ties included.
        wins, losses, ties: (M,) outcome counts (both tie kinds in ``ties``).
        battle_matrix: (M, M) battles between i and j, ties included, symmetric.
        win_matrix: (M, M) wins of i over j (ties not counted).
        pairwise_win_rate: (M, M) wins of i over j / non-tie battles between them; NaN
            where they have none and on the diagonal.
        predicted_win_rate: (M, M) P(i beats j) under the fitted BT ratings.
        excluded: (M,) bool, models left out of the BT fit.
        bootstrap: (R, M) BT ratings of every bootstrap round (NaN for excluded models).
        warnings: Human-readable warnings (unbounded ratings, unreliable CIs).
        params: The parameters used.
    """

    models: tuple[str, ...]
    elo: np.ndarray
    bt: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rank_ub: np.ndarray
    win_rate: np.ndarray
    battles: np.ndarray
    wins: np.ndarray
    losses: np.ndarray
    ties: np.ndarray
    battle_matrix: np.ndarray
    win_matrix: np.ndarray
    pairwise_win_rate: np.ndarray
    predicted_win_rate: np.ndarray
    excluded: np.ndarray
    bootstrap: np.ndarray
    warnings: tuple[str, ...] = ()
    params: RatingParams = field(default_factory=RatingParams)

    def order(self) -> np.ndarray:
        """Indices of the models by BT rating (best first), excluded models last by Elo."""
        bt_key = np.where(self.excluded, -np.inf, np.nan_to_num(self.bt, nan=-np.inf))
        return np.lexsort((-self.elo, -bt_key))

    def rows(self) -> list[RatingRow]:
        """The ratings as ``rating_snapshots`` rows: method ``elo`` (no CI) and ``bt``."""
        out: list[RatingRow] = []
        for i, name in enumerate(self.models):
            n = int(self.battles[i])
            out.append(RatingRow("elo", name, float(self.elo[i]), None, None, n))
            out.append(RatingRow("bt", name, _opt(self.bt[i]), _opt(self.ci_low[i]), _opt(self.ci_high[i]), n))
        return out

    def to_json(self) -> dict[str, dict[str, float | int | None]]:
        """``{model: {"elo", "bt", "ci_low", "ci_high", "win_rate", "battles"}}``, NaN as None."""
        return {
            self.models[i]: {
                "elo": float(self.elo[i]),
                "bt": _opt(self.bt[i]),
                "ci_low": _opt(self.ci_low[i]),
                "ci_high": _opt(self.ci_high[i]),
                "win_rate": _opt(self.win_rate[i]),
                "battles": int(self.battles[i]),
            }
            for i in self.order()
        }


def _opt(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


# ---------------------------------------------------------------- online Elo


def online_elo(
    model_a: np.ndarray,
    model_b: np.ndarray,
    score_a: np.ndarray,
    n_models: int,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> np.ndarray:
    """Sequential Elo over battles in the given order.

    Args:
        model_a: (N,) int codes of the first models.
        model_b: (N,) int codes of the second models.
        score_a: (N,) score of model_a: 1 win, 0 loss, 0.5 tie.
        n_models: Number of models (codes are < n_models).
        k, scale, base, init: Elo parameters.

    Returns:
        (n_models,) ratings after the last battle. Updates are zero-sum, so the mean stays
        at ``init`` (FastChat computes model_b's expectation separately; the two agree to
        rounding).
    """
    # Inherently sequential: each update depends on the previous ones. A plain loop over
    # Python ints/floats with everything in locals runs ~0.3 us per battle, far cheaper
    # than numpy scalar indexing; precomputing ln(base)/scale turns `base ** x` into exp.
    from math import exp, log

    c = log(base) / scale
    r = [float(init)] * n_models
    for i, j, s in zip(model_a.tolist(), model_b.tolist(), score_a.tolist()):
        ri = r[i]
        rj = r[j]
        d = k * (s - 1.0 / (1.0 + exp((rj - ri) * c)))
        r[i] = ri + d
        r[j] = rj - d
    return np.array(r)


def pair_counts(battles: Battles) -> tuple[np.ndarray, np.ndarray]:
    """(wins, ties): (M, M) wins of i over j, and symmetric tie counts (both tie kinds)."""
    m = len(battles.models)
    a = battles.model_a.astype(np.int64)
    b = battles.model_b.astype(np.int64)
    o = battles.outcome
    # One bincount over flat (winner, loser) indices instead of np.add.at (10x faster).
    win_a, win_b = o == A_WINS, o == B_WINS
    tie = ~(win_a | win_b)
    flat = np.concatenate([a[win_a] * m + b[win_a], b[win_b] * m + a[win_b]])
    wins = np.bincount(flat, minlength=m * m).reshape(m, m).astype(np.float64)
    ties = np.bincount(a[tie] * m + b[tie], minlength=m * m).reshape(m, m).astype(np.float64)
    return wins, ties + ties.T


# ---------------------------------------------------------------- everything at once


def compute_ratings(battles: Battles, params: RatingParams | None = None) -> Ratings:
    """Online Elo, BT with bootstrap CIs, win rates and matrices for a battle log.

    Args:
        battles: The battles; sorted by ``tstamp`` (stable) for Elo when present, else
            taken in log order.
        params: Rating parameters; FastChat's defaults when None.

    Returns:
        The ratings. Models with no finite BT rating are excluded from BT (NaN) and named
        in ``warnings``.

    Raises:
        ValueError: No battles, or ``params.anchor`` names a model without a BT rating.
    """
    p = params or RatingParams()
    if len(battles) == 0:
        raise ValueError("no battles")
    models = battles.models
    m = len(models)
    warnings: list[str] = []

    # 1) Online Elo in time order.
    order = np.argsort(battles.tstamp, kind="stable") if battles.tstamp is not None else slice(None)
    o = battles.outcome[order]
    score_a = np.where(o == A_WINS, 1.0, np.where(o == B_WINS, 0.0, 0.5))
    elo = online_elo(
        battles.model_a[order], battles.model_b[order], score_a, m, k=p.k, scale=p.scale, base=p.base, init=p.init
    )

    # 2) Counts, win rates, observed matrices.
    wins, ties = pair_counts(battles)
    won, lost, tied = wins.sum(axis=1), wins.sum(axis=0), ties.sum(axis=1)
    played = won + lost + tied
    battle_matrix = wins + wins.T + ties
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = won / (won + lost)
        decisive = wins + wins.T
        pairwise = np.where(decisive > 0, wins / decisive, np.nan)

    # 3) BT on the largest strongly connected group; others have no finite MLE.
    excluded = unbounded_models(wins, ties)
    if (~excluded).sum() < 2:  # a lone model has no rating relative to anyone
        excluded[:] = True
    keep = np.flatnonzero(~excluded)
    for i in np.flatnonzero(excluded):
        warnings.append(_exclusion_warning(models[i], int(played[i]), won[i], lost[i], tied[i], len(keep)))
    kw, kt = wins[np.ix_(keep, keep)], ties[np.ix_(keep, keep)]
    to_points = p.scale / np.log(p.base)  # natural-log strength -> rating points
    theta = fit_bt(kw + 0.5 * kt, ridge=0.0) if keep.size else np.zeros(0)

    anchor_idx: int | None = None
    if p.anchor is not None:
        name, _ = p.anchor
        if name not in models:
            raise ValueError(f"anchor model {name!r} is not in the battle log")
        pos = np.flatnonzero(keep == models.index(name))
        if pos.size == 0:
            raise ValueError(f"anchor model {name!r} has no BT rating (see the warnings)")
        anchor_idx = int(pos[0])

    def to_rating(t: np.ndarray) -> np.ndarray:
        # Gauge: mean strength 0 (from the fit) -> mean rating `init`, or pin the anchor.
        r: np.ndarray = to_points * t + p.init
        if anchor_idx is not None:
            r = r - r[..., anchor_idx : anchor_idx + 1] + p.anchor[1]  # type: ignore[index]
        return r

    bt = np.full(m, np.nan)
    bt[keep] = to_rating(theta)

    # 4) Bootstrap CIs.
    ci_low, ci_high = np.full(m, np.nan), np.full(m, np.nan)
    boot = np.full((p.n_bootstrap, m), np.nan)
    if p.n_bootstrap > 0 and keep.size:
        rng = np.random.default_rng(p.seed)
        t_boot, degenerate = bootstrap_bt(kw, kt, p.n_bootstrap, rng, start=theta)
        boot[:, keep] = to_rating(t_boot)
        ci_low[keep], ci_high[keep] = np.quantile(boot[:, keep], [0.025, 0.975], axis=0)
        share = degenerate.mean(axis=0)
        for k_, i in enumerate(keep):
            if share[k_] > 0.025:
                warnings.append(
                    f"{models[i]}: won or lost every resampled battle in {share[k_]:.0%} of bootstrap "
                    f"rounds ({int(played[i])} battles); its CI is unreliable"
                )

    # 5) Rank (UB): 1 + models whose lower bound beats this one's upper bound.
    rank = np.zeros(m, np.int64)
    lo = ci_low[keep] if p.n_bootstrap > 0 else bt[keep]
    hi = ci_high[keep] if p.n_bootstrap > 0 else bt[keep]
    rank[keep] = 1 + (lo[None, :] > hi[:, None]).sum(axis=1)

    return Ratings(
        models=models,
        elo=elo,
        bt=bt,
        ci_low=ci_low,
        ci_high=ci_high,
        rank_ub=rank,
        win_rate=win_rate,
        battles=played.astype(np.int64),
        wins=won.astype(np.int64),
        losses=lost.astype(np.int64),
        ties=tied.astype(np.int64),
        battle_matrix=battle_matrix.astype(np.int64),
        win_matrix=wins.astype(np.int64),
        pairwise_win_rate=pairwise,
        predicted_win_rate=predicted_win_rate(bt, scale=p.scale, base=p.base),
        excluded=excluded,
        bootstrap=boot,
        warnings=tuple(warnings),
        params=p,
    )


def _exclusion_warning(name: str, n: int, won: float, lost: float, tied: float, group: int) -> str:
    if lost == 0 and tied == 0:
        what = f"won all {n} of its battles"
    elif won == 0 and tied == 0:
        what = f"lost all {n} of its battles"
    else:
        what = (
            f"is not linked to the main group of {group} models by both wins and losses "
            f"(it only beat, only lost to, or never met them; {n} battles)"
        )
    return f"{name} {what}: its BT rating is unbounded, so it has none (Elo and win rate still shown)"
