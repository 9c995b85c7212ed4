"""Bradley–Terry maximum likelihood, batched, and its bootstrap (used by `arena.ratings`).

Strengths here are natural-log odds units with mean 0: P(i beats j) = sigmoid(t_i - t_j).
`arena.ratings` turns them into rating points (scale / ln(base) per unit, centred at init).

The bootstrap never touches individual battles: resampling N battles with replacement is
a multinomial draw of the (pair, outcome) cell counts, so all rounds are drawn at once and
fitted as one batch of Newton iterations over an (R, M, M) tensor.
"""

from __future__ import annotations

import numpy as np

_RIDGE = 1e-6
"""L2 penalty on natural-log strengths in bootstrap fits: it keeps degenerate rounds (a model
that happens to draw no loss) finite. The point fit runs on a strongly connected comparison
graph, where the MLE exists, and uses no penalty."""
_MAX_STEP = 2.0
"""Largest Newton step per iteration in natural-log units (~350 rating points): a damped
start for lopsided data, never binding near the optimum."""
_MAX_BATCH_CELLS = 4_000_000
"""Bootstrap rounds are fitted in batches of at most this many (round, i, j) cells (~32 MB
per float64 temporary), so 1000 rounds x 30 models is one batch and 200 models is ten."""


def fit_bt(
    wins: np.ndarray,
    *,
    ridge: float = _RIDGE,
    start: np.ndarray | None = None,
    tol: float = 1e-9,
    max_iter: int = 200,
) -> np.ndarray:
    """Bradley–Terry maximum-likelihood strengths from (fractional) pair win counts.

    Maximises sum_ij W_ij log sigmoid(t_i - t_j) - ridge * |t|^2 by damped Newton, for a
    batch of count matrices at once.

    Args:
        wins: (..., M, M) with wins[..., i, j] = wins of i over j (a tie adds 0.5 to both
            [i, j] and [j, i]).
        ridge: L2 penalty (0 for the plain MLE). The gauge is sum t = 0 either way.
        start: (M,) starting strengths with mean 0 (e.g. the point fit, for bootstrap
            rounds); zeros when None.
        tol: Stop when no strength moves by more than this (natural-log units).
        max_iter: Iteration cap.

    Returns:
        (..., M) strengths t in natural-log odds units, mean 0 per batch element. Without
        ridge the MLE is finite only if the comparison graph (i -> j when i beat j, ties both
        ways) is strongly connected; use `unbounded_models` to find the models that break it.
    """
    w = np.asarray(wins, dtype=np.float64)
    m = w.shape[-1]
    batch_shape = w.shape[:-2]
    w = w.reshape(-1, m, m)
    n = w + w.transpose(0, 2, 1)  # (R, M, M) comparisons between i and j
    n_row = n.sum(axis=2)  # (R, M) comparisons of i
    won = w.sum(axis=2)  # (R, M) total wins of i
    theta = np.zeros(won.shape) if start is None else np.repeat(np.asarray(start, np.float64)[None, :], len(w), 0)
    diag = np.arange(m)
    active = np.arange(w.shape[0])  # rounds still moving; converged ones drop out of the batch
    for _ in range(max_iter):
        th, na = theta[active], n[active]
        # P(i beats j) = sigmoid(t_i - t_j) = (1 + x_ij) / 2 with x = tanh((t_i - t_j) / 2);
        # the tanh form cannot overflow, and the updates below run in place on two
        # (r, M, M) buffers because this loop is the whole cost of a 1000-round bootstrap.
        x = th[:, :, None] - th[:, None, :]
        x *= 0.5
        np.tanh(x, out=x)
        nx = na * x
        expected = 0.5 * (n_row[active] + nx.sum(axis=2))  # (r, M) expected wins
        grad = won[active] - expected - 2.0 * ridge * th  # (r, M)
        # Fisher weights n p (1 - p) = n (1 - x^2) / 4; the negative Hessian is their graph
        # Laplacian + 2*ridge*I. Its null direction is the all-ones vector (shifting every
        # strength changes nothing); adding 1*1^T makes it well conditioned without changing
        # the step, because grad and every step are orthogonal to 1 (wins and expected wins
        # both sum to the number of comparisons).
        nx *= x
        np.subtract(nx, na, out=nx)
        nx *= 0.25  # now -v
        row = nx.sum(axis=2)  # -(sum_j v_ij)
        nx += 1.0
        nx[:, diag, diag] = 2.0 * ridge + 1.0 - row
        step = np.linalg.solve(nx, grad[:, :, None])[:, :, 0]
        biggest = np.abs(step).max(axis=1)
        step *= np.minimum(1.0, _MAX_STEP / np.maximum(biggest, 1e-300))[:, None]
        theta[active] = th + step
        active = active[biggest > tol]
        if active.size == 0:
            break
    return theta.reshape(*batch_shape, m)


def unbounded_models(wins: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """Models whose BT rating has no finite MLE together with the largest coherent group.

    The MLE exists iff the directed graph "i beat j at least once, or they tied" is
    strongly connected (Zermelo/Ford). This keeps the largest strongly connected component
    (ties broken by battles played) and flags every other model: e.g. one that won all its
    battles (its rating would run to +inf) or a group that never met the rest.

    Args:
        wins: (M, M) wins of i over j.
        ties: (M, M) ties between i and j, symmetric.

    Returns:
        (M,) bool, True for models to leave out of the BT fit.
    """
    adj = (wins > 0) | (ties > 0)
    comp = _strong_components(adj)
    played = (wins + wins.T + ties).sum(axis=1)
    sizes = np.bincount(comp, minlength=comp.max() + 1)
    volume = np.bincount(comp, weights=played, minlength=comp.max() + 1)
    best = max(range(sizes.size), key=lambda c: (sizes[c], volume[c], -c))
    flagged: np.ndarray = comp != best
    return flagged


def _strong_components(adj: np.ndarray) -> np.ndarray:
    """Component id per node (Kosaraju, iterative; M is at most a few hundred)."""
    m = adj.shape[0]
    succ = [np.flatnonzero(adj[i]).tolist() for i in range(m)]
    pred = [np.flatnonzero(adj[:, i]).tolist() for i in range(m)]
    seen = [False] * m
    finish: list[int] = []
    for root in range(m):
        if seen[root]:
            continue
        seen[root] = True
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next((x for x in it if not seen[x]), None)
            if nxt is None:
                finish.append(node)
                stack.pop()
            else:
                seen[nxt] = True
                stack.append((nxt, iter(succ[nxt])))
    comp = np.full(m, -1)
    label = 0
    for root in reversed(finish):
        if comp[root] >= 0:
            continue
        comp[root] = label
        todo = [root]
        while todo:
            node = todo.pop()
            for x in pred[node]:
                if comp[x] < 0:
                    comp[x] = label
                    todo.append(x)
        label += 1
    return comp


def bootstrap_bt(
    wins: np.ndarray,
    ties: np.ndarray,
    n_rounds: int,
    rng: np.random.Generator,
    *,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """BT strengths on `n_rounds` resamples of the battles, with replacement.

    Resampling N battles is a multinomial draw of N over the (pair, outcome) cells with the
    observed frequencies, so the rounds never materialise battles: one (R, cells) draw, then
    batched Newton fits.

    Args:
        wins: (M, M) wins of i over j.
        ties: (M, M) ties, symmetric.
        n_rounds: Number of bootstrap rounds R.
        rng: Random generator (seeded by the caller for reproducibility).
        start: (M,) strengths to start every round's Newton from, normally the point fit:
            rounds land near it, so this halves the iterations.

    Returns:
        ``(theta, degenerate)``: (R, M) natural-log strengths, mean 0 per round, and (R, M)
        bool, True where the round left the model without a loss or without a win (its
        strength there is held finite only by the ridge).
    """
    m = wins.shape[0]
    wi, wj = np.nonzero(wins)  # cells "i beat j"
    ti, tj = np.nonzero(np.triu(ties, 1))  # cells "i tied j", i < j
    counts = np.concatenate([wins[wi, wj], ties[ti, tj]]).astype(np.float64)
    total = int(round(counts.sum()))
    theta = np.empty((n_rounds, m))
    degenerate = np.empty((n_rounds, m), bool)
    if total == 0 or n_rounds == 0:
        theta[:] = 0.0
        degenerate[:] = True
        return theta, degenerate
    draws = rng.multinomial(total, counts / total, size=n_rounds)  # (R, cells)
    nw = wi.size
    per_batch = max(1, _MAX_BATCH_CELLS // (m * m))
    for lo in range(0, n_rounds, per_batch):
        d = draws[lo : lo + per_batch]
        w = np.zeros((d.shape[0], m, m))  # (r, M, M) resampled wins, ties as halves
        w[:, wi, wj] = d[:, :nw]
        half = 0.5 * d[:, nw:]
        w[:, ti, tj] += half
        w[:, tj, ti] += half
        theta[lo : lo + d.shape[0]] = fit_bt(w, start=start, tol=1e-8)
        # A model with no loss (or no win) this round: strictly, no finite MLE.
        won, lost = w.sum(axis=2), w.sum(axis=1)
        degenerate[lo : lo + d.shape[0]] = (won == 0) | (lost == 0)
    return theta, degenerate


def predicted_win_rate(ratings: np.ndarray, *, scale: float = 400.0, base: float = 10.0) -> np.ndarray:
    """(M, M) matrix P(i beats j) = 1 / (1 + base**((r_j - r_i) / scale)); diagonal 0.5."""
    r = np.asarray(ratings, dtype=np.float64)
    return 1.0 / (1.0 + np.power(base, (r[None, :] - r[:, None]) / scale))
