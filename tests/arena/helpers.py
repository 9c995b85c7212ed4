"""Builders for battle logs used by the arena tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from arena.battle_log import Battles


def battle(a: str, b: str, winner: str, tstamp: float | None = None) -> dict[str, Any]:
    """One clean-battle record."""
    rec: dict[str, Any] = {"model_a": a, "model_b": b, "winner": winner}
    if tstamp is not None:
        rec["tstamp"] = tstamp
    return rec


def make_battles(records: list[dict[str, Any]]) -> Battles:
    return Battles.from_records(records)


def simulate(
    true_ratings: dict[str, float],
    n: int,
    *,
    tie_rate: float = 0.1,
    seed: int = 0,
    scale: float = 400.0,
    base: float = 10.0,
) -> list[dict[str, Any]]:
    """Battles between random distinct pairs drawn from a BT model with the given ratings.

    A `tie_rate` share of battles are ties (half of them "tie (bothbad)") independent of
    strength, so they carry no information and must not bias the fit.
    """
    rng = np.random.default_rng(seed)
    names = list(true_ratings)
    r = np.array([true_ratings[x] for x in names])
    m = len(names)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m  # never equal to a
    p_a = 1.0 / (1.0 + base ** ((r[b] - r[a]) / scale))
    win_a = rng.random(n) < p_a
    tie = rng.random(n) < tie_rate
    bothbad = rng.random(n) < 0.5
    out = []
    for k in range(n):
        if tie[k]:
            w = "tie (bothbad)" if bothbad[k] else "tie"
        else:
            w = "model_a" if win_a[k] else "model_b"
        out.append(battle(names[a[k]], names[b[k]], w, 1.7e9 + k))
    return out
