"""Weighted, contextual Bradley–Terry by Newton, with the sandwich (robust) covariance.

One engine serves three fits (LMArena's current methods, see PROTOCOLS.md §5):

* plain BT on aggregated rows: one row per (model_a, model_b, score) cell with its count;
* inverse-propensity reweighted BT: every battle of a pair weighs ``1 / max(n_pair, 50)``;
* contextual ("style-controlled") BT: one row per battle, logit = t_a - t_b + f . beta.

Strengths are natural-log odds with sum 0 over the rated models; ``arena.ratings_board`` turns
them into rating points.

The covariance is the sandwich ``H^+ J H^+``: H the Hessian of the (weighted, penalised)
negative log-likelihood at the optimum, J the sum over battles of the outer products of the
per-battle scores ``w (o - p) x``. A row that stands for ``c`` identical battles adds ``c``
such outer products, so aggregating rows changes nothing. H and J are singular along
"all strengths + 1" (the gauge); adding that direction's outer product to H before solving
gives the pseudo-inverse on the sum-0 subspace, which is where J lives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MAX_STEP = 2.0
"""Largest Newton step (natural-log units) per iteration: damps the first steps on lopsided data."""


@dataclass(frozen=True, slots=True, eq=False)
class Rows:
    """Comparison rows for the fit.

    Attributes:
        a: (N,) int code of the first model.
        b: (N,) int code of the second model.
        score: (N,) 1.0 a won, 0.0 b won, 0.5 tie.
        count: (N,) identical battles this row stands for (1 for per-battle rows).
        weight: (N,) per-battle weight (1 unless reweighted).
        features: (N, K) per-battle features (K may be 0).
    """

    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    count: np.ndarray
    weight: np.ndarray
    features: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class Fit:
    """Result of `fit_contextual`.

    Attributes:
        theta: (M,) strengths, natural-log odds, sum 0.
        beta: (K,) feature coefficients (natural-log odds per feature unit).
        cov: (M + K, M + K) sandwich covariance of (theta, beta).
        iterations: Newton iterations used.
    """

    theta: np.ndarray
    beta: np.ndarray
    cov: np.ndarray
    iterations: int


def fit_contextual(
    rows: Rows,
    n_models: int,
    *,
    l2: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 100,
    covariance: bool = True,
    start: Fit | None = None,
) -> Fit:
    """Maximise sum_i c_i w_i [o_i z_i - log(1 + e^z_i)] - l2/2 |beta|^2, z = t_a - t_b + f . beta.

    Args:
        rows: The comparisons.
        n_models: M; codes in ``rows.a``/``rows.b`` are below it. Every model must be in the
            strongly connected comparison graph, or its strength runs off to infinity.
        l2: Ridge penalty on beta only (strengths are never penalised), in units of the
            summed log-likelihood, so its pull does not grow with the number of battles.
        tol: Stop when no parameter moves by more than this.
        max_iter: Iteration cap.
        covariance: Also compute the sandwich covariance (else ``cov`` is empty).
        start: Start Newton from this fit (e.g. the point fit, for bootstrap rounds).

    Returns:
        The fit.
    """
    m, k = n_models, rows.features.shape[1]
    design = _Design(rows, m)
    cw = rows.count * rows.weight
    theta = np.zeros(m) if start is None else start.theta.copy()
    beta = np.zeros(k) if start is None else start.beta.copy()
    gauge = np.zeros(m + k)
    gauge[:m] = 1.0
    gauge_outer = np.outer(gauge, gauge)
    penalty = np.zeros((m + k, m + k))
    penalty[m:, m:] = l2 * np.eye(k)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        p = design.prob(theta, beta)
        resid = cw * (rows.score - p)
        grad = np.concatenate([design.per_model(resid), design.f_t @ resid - l2 * beta])
        hess = design.gram(cw * p * (1.0 - p)) + penalty + gauge_outer
        step = np.linalg.solve(hess, grad)
        biggest = float(np.abs(step).max()) if step.size else 0.0
        if biggest > _MAX_STEP:
            step *= _MAX_STEP / biggest
        theta += step[:m]
        beta += step[m:]
        theta -= theta.mean()
        if biggest <= tol:
            break
    cov = np.zeros((0, 0))
    if covariance:
        p = design.prob(theta, beta)
        hess = design.gram(cw * p * (1.0 - p)) + penalty + gauge_outer
        # Score of one battle: w (o - p) x; a row of c battles contributes c times its square.
        meat = design.gram(rows.count * (rows.weight * (rows.score - p)) ** 2)
        bread = np.linalg.inv(hess)
        cov = bread @ meat @ bread
    return Fit(theta=theta, beta=beta, cov=cov, iterations=it)


class _Design:
    """x_i = (e_a - e_b, f_i) for every row, as a sparse (N, M) difference matrix D plus F.

    One sparse product replaces the per-column gathers and bincounts of D^T v and D^T (v F),
    the bulk of each Newton step on a million per-battle rows.
    """

    def __init__(self, rows: Rows, m: int) -> None:
        from scipy.sparse import csr_matrix

        n = rows.a.size
        self.rows, self.m = rows, m
        indptr = np.arange(0, 2 * n + 1, 2)
        indices = np.column_stack([rows.a, rows.b]).ravel()
        data = np.tile([1.0, -1.0], n)
        self.diff = csr_matrix((data, indices, indptr), shape=(n, m))
        self.diff_t = self.diff.T  # a CSC view: its products with (N,) and (N, K) are single passes
        self.pair = rows.a * m + rows.b
        self.f_t = np.ascontiguousarray(rows.features.T)  # (K, N): contiguous per feature

    def prob(self, theta: np.ndarray, beta: np.ndarray) -> np.ndarray:
        z = self.diff @ theta
        if beta.size:
            z += beta @ self.f_t
        # sigmoid via tanh: no overflow for any z
        p: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
        return p

    def per_model(self, values: np.ndarray) -> np.ndarray:
        """sum of values where the model is a, minus where it is b: (M,)."""
        out: np.ndarray = self.diff_t @ values
        return out

    def gram(self, values: np.ndarray) -> np.ndarray:
        """sum_i values_i x_i x_i^T: the (M+K)^2 block matrix."""
        m, f_t = self.m, self.f_t
        k = f_t.shape[0]
        out = np.empty((m + k, m + k))
        pair = np.bincount(self.pair, values, m * m).reshape(m, m)
        pair = pair + pair.T
        out[:m, :m] = np.diag(pair.sum(axis=1)) - pair
        if k:
            fv_t = f_t * values  # (K, N)
            cross = np.stack([self.diff_t @ row for row in fv_t], axis=1)  # contiguous rows: no copies
            out[:m, m:] = cross
            out[m:, :m] = cross.T
            out[m:, m:] = f_t @ fv_t.T
        return out


def aggregate_rows(a: np.ndarray, b: np.ndarray, score: np.ndarray, weight: np.ndarray, n_models: int) -> Rows:
    """Collapse battles into one row per (a, b, score) cell; weights must be constant per pair.

    Args:
        a, b: (N,) model codes.
        score: (N,) 1, 0 or 0.5.
        weight: (N,) per-battle weights, equal within an unordered pair (reweighting is).
        n_models: M.

    Returns:
        At most 3 M^2 rows, without features.
    """
    m = n_models
    code = (a.astype(np.int64) * m + b) * 3 + (2.0 * score).astype(np.int64)  # score 0, .5, 1 -> 0, 1, 2
    if 3 * m * m <= 4 * code.size:  # a dense count is cheaper than sorting
        all_counts = np.bincount(code, minlength=3 * m * m)
        cells = np.flatnonzero(all_counts)
        counts = all_counts[cells]
        w_all = np.zeros(3 * m * m)
        w_all[code] = weight  # constant within a cell
        w = w_all[cells]
    else:
        cells, inverse, counts = np.unique(code, return_inverse=True, return_counts=True)
        w = np.zeros(cells.size)
        w[inverse] = weight
    return Rows(
        a=(cells // 3 // m).astype(np.int64),
        b=(cells // 3 % m).astype(np.int64),
        score=(cells % 3) / 2.0,
        count=counts.astype(np.float64),
        weight=w,
        features=np.zeros((cells.size, 0)),
    )


def propensity_weights(a: np.ndarray, b: np.ndarray, n_models: int, floor: int = 50) -> np.ndarray:
    """Per-battle inverse-propensity weights 1 / max(battles of its unordered pair, floor)."""
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    key = lo * n_models + hi
    n_pair = np.bincount(key, minlength=n_models * n_models)
    weights: np.ndarray = 1.0 / np.maximum(n_pair[key], floor).astype(np.float64)
    return weights
