"""A battle generator with known strengths and a known length effect, for style-control tests.

Each model has a true strength and a habitual answer length ("verbosity") unrelated to its
strength. A battle's outcome follows logit = s_a - s_b + length_effect * (L_a - L_b)/(L_a + L_b),
so with a large effect the longer answer wins nearly regardless of strength. Header, bold and
list counts are drawn independently of everything: placebos whose true effect is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.battle_log import Battles


@dataclass(frozen=True)
class StyleLog:
    battles: Battles
    strength: np.ndarray  # (M,) true strengths, natural-log odds, indexed like battles.models
    length_effect: float
    raw_length_std: float  # std of (L_a - L_b)/(L_a + L_b): z-scored coefficient = effect * this


def style_log(
    n: int = 30_000, m: int = 12, *, length_effect: float = 3.0, tie_rate: float = 0.08, seed: int = 0
) -> StyleLog:
    rng = np.random.default_rng(seed)
    strength = np.linspace(-1.0, 1.0, m)
    # verbosity drawn so that weak and strong models are mixed, fixed by the seed
    verbosity = rng.permutation(np.linspace(-1.0, 1.0, m))
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    len_a = np.exp(6.0 + 0.8 * verbosity[a] + 0.25 * rng.normal(size=n))
    len_b = np.exp(6.0 + 0.8 * verbosity[b] + 0.25 * rng.normal(size=n))
    raw = (len_a - len_b) / (len_a + len_b)
    logit = strength[a] - strength[b] + length_effect * raw
    u, tie = rng.random(n), rng.random(n) < tie_rate
    outcome = np.where(tie, 2, np.where(u < 1.0 / (1.0 + np.exp(-logit)), 0, 1)).astype(np.int8)
    placebo = rng.poisson(2.0, size=(n, 6)).astype(np.float64)  # headers, bold, lists for a then b
    style = np.column_stack([len_a, placebo[:, 0:3], len_b, placebo[:, 3:6]])
    names = tuple(f"model-{k:02d}" for k in range(m))  # sorted order = code order
    battles = Battles(
        models=names,
        model_a=a.astype(np.int32),
        model_b=b.astype(np.int32),
        outcome=outcome,
        style=style,
    )
    return StyleLog(battles, strength, length_effect, float(raw.std()))
