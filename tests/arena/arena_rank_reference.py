"""Record LMArena's `arena-rank` (0.1.1) results on a fixed synthetic battle set.

Writes tests/arena/data/arena_rank_reference.json: the battles themselves (so the test never
depends on a random generator's stream) and arena-rank's ratings, sandwich CI bounds,
inverse-propensity reweighted ratings, and a contextual (style) fit. `test_ratings_reference.py`
compares ours with it, and calls `record()` to regenerate it when `arena_rank` is importable.

arena-rank pins its own numpy/jax, so it lives in its own venv:

    python3 -m venv .venv-ar && .venv-ar/bin/pip install arena-rank==0.1.1
    .venv-ar/bin/python tests/arena/arena_rank_reference.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FIXTURE = Path(__file__).parent / "data" / "arena_rank_reference.json"
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
STYLE_L2 = 1.0  # ours, in summed-log-likelihood units; arena-rank's reg is per mean loss


def synthetic_battles(seed: int = 7) -> dict[str, Any]:
    """8 models, 4,000 battles; pair frequencies very uneven (some pairs < 50 battles, some
    hundreds), so reweighting changes the ratings; a length feature that favours longer answers."""
    rng = np.random.default_rng(seed)
    m, n = 8, 4000
    strength = np.linspace(-1.2, 1.2, m)
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    popularity = rng.gamma(0.6, 1.0, len(pairs)) + 0.02
    pick = rng.choice(len(pairs), n, p=popularity / popularity.sum())
    i, j = np.array(pairs)[pick].T
    swap = rng.random(n) < 0.5
    a, b = np.where(swap, j, i), np.where(swap, i, j)
    verbosity = rng.normal(0, 1, m)
    len_a = np.exp(6 + 0.5 * verbosity[a] + 0.3 * rng.normal(size=n))
    len_b = np.exp(6 + 0.5 * verbosity[b] + 0.3 * rng.normal(size=n))
    feat = (len_a - len_b) / (len_a + len_b)
    p = 1 / (1 + np.exp(-(strength[a] - strength[b] + 2.0 * feat)))
    u, tie = rng.random(n), rng.random(n) < 0.12
    winner = np.where(tie, 2 + (rng.random(n) < 0.3), np.where(u < p, 0, 1))
    return {
        "models": [f"model-{k}" for k in range(m)],
        "a": a.tolist(),
        "b": b.tolist(),
        "winner": winner.tolist(),
        "tokens_a": np.round(len_a).astype(int).tolist(),
        "tokens_b": np.round(len_b).astype(int).tolist(),
    }


def record(path: Path = FIXTURE) -> dict[str, Any]:
    """Run arena-rank on `synthetic_battles()` and write the fixture."""
    import arena_rank
    import pandas as pd
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.models.contextual_bradley_terry import ContextualBradleyTerry
    from arena_rank.utils.data_utils import ContextualPairDataset, PairDataset

    data = synthetic_battles()
    names = data["models"]
    df = pd.DataFrame(
        {
            "model_a": [names[k] for k in data["a"]],
            "model_b": [names[k] for k in data["b"]],
            # arena-rank maps unknown strings (e.g. "tie (bothbad)") to 0.5, as a tie
            "winner": [WINNERS[w] for w in data["winner"]],
        }
    )
    ta, tb = np.array(data["tokens_a"], float), np.array(data["tokens_b"], float)
    df["length"] = (ta - tb) / (ta + tb)

    out: dict[str, Any] = {"package": f"arena-rank {getattr(arena_rank, '__version__', '0.1.1')}", "battles": data}
    for key, reweighted in (("plain", False), ("reweighted", True)):
        ds = PairDataset.from_pandas(df, reweighted=reweighted)
        res = BradleyTerry(n_competitors=len(ds.competitors)).compute_ratings_and_cis(ds, ci_method="sandwich")
        out[key] = _per_model(res)
    ds = ContextualPairDataset.from_pandas(df, feature_cols=["length"], reweighted=False)
    n = len(df)
    cbt = ContextualBradleyTerry(n_competitors=len(ds.competitors), n_features=1, reg=STYLE_L2 / n)
    res = cbt.compute_ratings_and_cis(ds, ci_method="sandwich")
    out["style"] = _per_model(res) | {"coef_length": float(res["coeffs"][0]), "reg": STYLE_L2 / n}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    return out


def _per_model(res: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"rating": float(r), "lower": float(lo), "upper": float(hi)}
        for name, r, lo, hi in zip(res["competitors"], res["ratings"], res["rating_lower"], res["rating_upper"])
    }


if __name__ == "__main__":
    doc = record()
    print(f"wrote {FIXTURE} ({len(doc['battles']['a'])} battles)")
