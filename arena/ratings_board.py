"""The leaderboard's ratings as LMArena computes them (2025 on): BT with sandwich or bootstrap
CIs, optional inverse-propensity reweighting and style control, categories, provisional models.

`rate_board` wraps `arena.ratings.compute_ratings` (online Elo, win rates, the FastChat-
compatible bootstrap, the unbounded-model check) and `arena.ratings_fit` (weighted/contextual
BT and its sandwich covariance).

Rank is LMArena's: 1 + the number of models whose whole interval lies above this model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

import numpy as np

from arena.battle_log import A_WINS, B_WINS, Battles
from arena.ratings import RatingParams, Ratings, compute_ratings
from arena.ratings_fit import Fit, Rows, aggregate_rows, fit_contextual, propensity_weights
from arena.ratings_style import STYLE_FEATURES, style_features

CI_METHODS: tuple[str, ...] = ("sandwich", "bootstrap")

STYLE_L2 = 1.0
"""Ridge on the style coefficients, in summed-log-likelihood units (see `RatingOptions.style_l2`)."""


class RatingInputError(ValueError):
    """The battles cannot be rated as asked (empty, one model, disconnected, bad option)."""


@dataclass(frozen=True, slots=True)
class RatingOptions:
    """How to rate.

    Attributes:
        ci: "sandwich" (robust covariance of the MLE, the default) or "bootstrap".
        level: Confidence level of the intervals.
        n_bootstrap: Rounds for ``ci="bootstrap"`` (0: no intervals).
        reweight: Weigh each battle by 1 / max(battles of its pair, ``reweight_floor``), so
            pairs that matchmaking served often do not dominate the fit.
        reweight_floor: The 50 of LMArena's weights.
        style_control: Fit logit = r_a - r_b + f . beta over `STYLE_FEATURES`.
        style_l2: L2 penalty on beta in units of the summed log-likelihood. arena-rank's
            default (1.0 on the *mean* log-likelihood) equals N here, which pins beta near 0
            on any real log and leaves ratings confounded with style; an N-independent 1.0 is
            negligible next to the data's information on beta (about N/4 per unit feature
            variance) yet keeps beta finite when a feature separates the outcomes.
        category: Rate only battles of this category.
        min_votes: Models with fewer battles are marked provisional.
        seed: Bootstrap seed.
        params: Scale, base, init, K and anchor (shared with online Elo).
    """

    ci: str = "sandwich"
    level: float = 0.95
    n_bootstrap: int = 100
    reweight: bool = False
    reweight_floor: int = 50
    style_control: bool = False
    style_l2: float = STYLE_L2
    category: str | None = None
    min_votes: int = 0
    seed: int = 0
    params: RatingParams = field(default_factory=RatingParams)


@dataclass(frozen=True, slots=True, eq=False)
class Board:
    """Ratings of every model, arrays indexed like ``models``; NaN/0 where a model has no rating.

    Attributes:
        models: Model names.
        rating, ci_low, ci_high: (M,) rating points; CIs NaN without intervals.
        rank: (M,) 1 + models whose interval lies entirely above; 0 for unrated models.
        n_battles: (M,) battles played (in the category, if one was chosen).
        provisional: (M,) fewer than ``options.min_votes`` battles.
        style: {feature: (coef, ci_low, ci_high)} in log-odds per SD, empty without style control.
        base: The `Ratings` of the same battles (online Elo, win rates, matrices, exclusions).
        warnings: Human-readable notes (unbounded models, unreliable CIs).
        options: The options used.
    """

    models: tuple[str, ...]
    rating: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rank: np.ndarray
    n_battles: np.ndarray
    provisional: np.ndarray
    style: dict[str, tuple[float, float, float]]
    base: Ratings
    warnings: tuple[str, ...]
    options: RatingOptions

    def order(self) -> np.ndarray:
        """Model indices best first; unrated models last, by Elo."""
        key = np.nan_to_num(self.rating, nan=-np.inf)
        return np.lexsort((-self.base.elo, -key))

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: options, per-model entries (best first), style coefficients, warnings."""
        o = self.options
        models = {}
        for i in self.order():
            models[self.models[i]] = {
                "rating": _opt(self.rating[i]),
                "ci_low": _opt(self.ci_low[i]),
                "ci_high": _opt(self.ci_high[i]),
                "rank": int(self.rank[i]) or None,
                "n_battles": int(self.n_battles[i]),
                "provisional": bool(self.provisional[i]),
                "elo": float(self.base.elo[i]),
                "win_rate": _opt(self.base.win_rate[i]),
            }
        return {
            "ci": o.ci,
            "level": o.level,
            "n_bootstrap": o.n_bootstrap if o.ci == "bootstrap" else None,
            "reweight": o.reweight,
            "style_control": o.style_control,
            "category": o.category,
            "min_votes": o.min_votes,
            "n_battles": int(self.n_battles.sum() // 2),
            "models": models,
            "style": {k: {"coef": c, "ci_low": lo, "ci_high": hi} for k, (c, lo, hi) in self.style.items()} or None,
            "warnings": list(self.warnings),
        }


def _opt(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def rate_board(battles: Battles, options: RatingOptions | None = None) -> Board:
    """Rate battles as the leaderboard shows them.

    Raises:
        RatingInputError: No battles (in the category), fewer than two models, a style fit
            without style counts, or a comparison graph in separate pieces (ratings of models
            that never met, directly or through others, are not comparable: the message names
            the groups; rate each one on its own).
    """
    o = options or RatingOptions()
    if o.ci not in CI_METHODS:
        raise RatingInputError(f"ci must be one of {', '.join(CI_METHODS)}, got {o.ci!r}")
    if not 0.0 < o.level < 1.0:
        raise RatingInputError(f"level must be between 0 and 1, got {o.level}")
    if len(battles) == 0:
        raise RatingInputError("no battles to rate")
    if o.category is not None:
        if battles.category is None:
            raise RatingInputError("the battles carry no categories")
        keep = battles.category == o.category
        if not keep.any():
            cats = sorted({str(c) for c in battles.category if c})
            raise RatingInputError(
                f"no battles in category {o.category!r} (categories present: {', '.join(cats) or 'none'})"
            )
        battles = battles.select(keep)
    if o.style_control and battles.style is None:
        raise RatingInputError(
            "style control needs per-answer style counts (conv_metadata), and these battles have none"
        )
    if len(battles.models) < 2:
        raise RatingInputError(f"only one model ({battles.models[0]}) in the battles: nothing to rank it against")
    _check_connected(battles)

    plain_bootstrap = o.ci == "bootstrap" and not o.reweight and not o.style_control
    base = compute_ratings(battles, replace(o.params, n_bootstrap=o.n_bootstrap if plain_bootstrap else 0))
    m = len(battles.models)
    warnings = list(base.warnings)
    rating, lo, hi = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    style: dict[str, tuple[float, float, float]] = {}
    keep = np.flatnonzero(~base.excluded)
    if keep.size >= 2:
        if keep.size == m:  # every model rated: no copy of a million battles' columns
            sub = battles
        else:
            sub = battles.select(np.isin(battles.model_a, keep) & np.isin(battles.model_b, keep))
        rows = _rows(sub, o)
        fit = fit_contextual(
            rows, keep.size, l2=o.style_l2 if o.style_control else 0.0, start=_plain_start(base, keep, rows)
        )
        to_points = o.params.scale / np.log(o.params.base)
        shift, anchor_pos = o.params.init, 0
        if o.params.anchor is not None:
            name, value = o.params.anchor
            if name not in battles.models:
                raise RatingInputError(f"anchor model {name!r} is not in the battles")
            pos = np.flatnonzero(keep == battles.models.index(name))
            if pos.size == 0:
                raise RatingInputError(f"anchor model {name!r} has no BT rating (see the warnings)")
            anchor_pos = int(pos[0])
            shift = value - to_points * fit.theta[anchor_pos]
        rating[keep] = to_points * fit.theta + shift
        z = NormalDist().inv_cdf(0.5 + o.level / 2.0)
        if o.ci == "sandwich":
            var = np.diag(fit.cov).copy()
            if o.params.anchor is not None:  # ratings are differences from the anchor: Var(t_i - t_anchor)
                c = fit.cov[: keep.size, : keep.size]
                var[: keep.size] += c[anchor_pos, anchor_pos] - 2.0 * c[:, anchor_pos]
            se = np.sqrt(np.maximum(var, 0.0))
            lo[keep] = rating[keep] - z * to_points * se[: keep.size]
            hi[keep] = rating[keep] + z * to_points * se[: keep.size]
            beta_lo, beta_hi = fit.beta - z * se[keep.size :], fit.beta + z * se[keep.size :]
        elif o.n_bootstrap > 0:
            tail = (1.0 - o.level) / 2.0
            if plain_bootstrap:
                draws = base.bootstrap[:, keep]
                if o.params.anchor is not None:  # compute_ratings anchored them already
                    draws = draws - base.bt[keep] + rating[keep]
                lo[keep], hi[keep] = np.quantile(draws, [tail, 1.0 - tail], axis=0)
                beta_lo = beta_hi = fit.beta
            else:
                thetas, betas = _bootstrap(rows, keep.size, fit, o)
                pts = to_points * thetas + shift
                if o.params.anchor is not None:  # pin the anchor in every round, as in the point fit
                    pts += o.params.anchor[1] - pts[:, anchor_pos : anchor_pos + 1]
                lo[keep], hi[keep] = np.quantile(pts, [tail, 1.0 - tail], axis=0)
                beta_lo, beta_hi = np.quantile(betas, [tail, 1.0 - tail], axis=0)
        else:
            beta_lo = beta_hi = fit.beta
        if o.style_control:
            style = {
                name: (float(fit.beta[c]), float(beta_lo[c]), float(beta_hi[c]))
                for c, name in enumerate(STYLE_FEATURES)
            }
    has_ci = ~np.isnan(lo)
    rank = np.zeros(m, np.int64)
    low = np.where(has_ci, lo, rating)[keep]
    high = np.where(has_ci, hi, rating)[keep]
    rank[keep] = 1 + (low[None, :] > high[:, None]).sum(axis=1)
    return Board(
        models=battles.models,
        rating=rating,
        ci_low=lo,
        ci_high=hi,
        rank=rank,
        n_battles=base.battles,
        provisional=base.battles < o.min_votes,
        style=style,
        base=base,
        warnings=tuple(warnings),
        options=o,
    )


def _rows(battles: Battles, o: RatingOptions) -> Rows:
    m = len(battles.models)
    a, b = battles.model_a.astype(np.int64), battles.model_b.astype(np.int64)
    out = battles.outcome
    score = np.where(out == A_WINS, 1.0, np.where(out == B_WINS, 0.0, 0.5))
    weight = propensity_weights(a, b, m, o.reweight_floor) if o.reweight else np.ones(a.size)
    if not o.style_control:
        return aggregate_rows(a, b, score, weight, m)
    assert battles.style is not None
    return Rows(a=a, b=b, score=score, count=np.ones(a.size), weight=weight, features=style_features(battles.style))


def _plain_start(base: Ratings, keep: np.ndarray, rows: Rows) -> Fit | None:
    """Newton's start for a per-battle fit: the plain BT strengths `compute_ratings` already has (fitted on
    aggregated counts, so nearly free). Style shifts them only a little, which saves a few full passes
    over a million rows; aggregated fits (a few thousand rows) start from zero as before."""
    if rows.a.size < 10_000:
        return None
    theta = base.bt[keep]
    if not np.isfinite(theta).all():
        return None
    theta = (theta - theta.mean()) * np.log(base.params.base) / base.params.scale
    k = rows.features.shape[1]
    return Fit(theta=theta, beta=np.zeros(k), cov=np.zeros((0, 0)), iterations=0)


def _bootstrap(rows: Rows, m: int, fit: Fit, o: RatingOptions) -> tuple[np.ndarray, np.ndarray]:
    """(R, M) strengths and (R, K) coefficients refitted on resampled battles (weights kept)."""
    rng = np.random.default_rng(o.seed)
    total = int(round(rows.count.sum()))
    draws = rng.multinomial(total, rows.count / total, size=o.n_bootstrap)
    thetas, betas = np.empty((o.n_bootstrap, m)), np.empty((o.n_bootstrap, rows.features.shape[1]))
    l2 = o.style_l2 if o.style_control else 0.0
    for r in range(o.n_bootstrap):
        resampled = replace(rows, count=draws[r].astype(np.float64))
        f = fit_contextual(resampled, m, l2=l2, covariance=False, start=fit, tol=1e-8)
        thetas[r], betas[r] = f.theta, f.beta
    return thetas, betas


def _check_connected(battles: Battles) -> None:
    """Refuse a log whose models split into groups that never met, directly or via others."""
    m = len(battles.models)
    met = np.zeros((m, m), bool)
    met[battles.model_a, battles.model_b] = True
    met |= met.T
    group = np.full(m, -1)
    n_groups = 0
    for root in range(m):
        if group[root] >= 0:
            continue
        frontier = np.zeros(m, bool)
        frontier[root] = True
        while frontier.any():
            group[frontier] = n_groups
            frontier = met[frontier].any(axis=0) & (group < 0)
        n_groups += 1
    if n_groups == 1:
        return
    sizes = np.bincount(group)
    parts = []
    for g in np.argsort(-sizes, kind="stable")[:3]:
        names = [battles.models[i] for i in np.flatnonzero(group == g)]
        shown = ", ".join(names[:4]) + (f", … ({len(names)} models)" if len(names) > 4 else "")
        parts.append(f"[{shown}]")
    more = f" and {n_groups - 3} more" if n_groups > 3 else ""
    raise RatingInputError(
        f"the battles form {n_groups} groups of models that never met, directly or through others: "
        f"{'; '.join(parts)}{more}. Ratings across groups are not comparable, so none were computed; "
        "rate each group on its own (e.g. a log with only its battles)"
    )
