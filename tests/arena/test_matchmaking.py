"""Matchmaking maths: probabilities over eligible pairs, and what they favour."""

from __future__ import annotations

import numpy as np
import pytest

from arena.matchmaking import (
    EXPLORE,
    choose_pair,
    pair_gains,
    pair_probabilities,
    strength_covariance,
    strengths,
    uniform_pair,
)


def wins_from(pairs: dict[tuple[int, int], tuple[float, float]], m: int) -> np.ndarray:
    """(M, M) wins from {(i, j): (wins of i, wins of j)}."""
    w = np.zeros((m, m))
    for (i, j), (wi, wj) in pairs.items():
        w[i, j], w[j, i] = wi, wj
    return w


def test_probabilities_cover_exactly_the_eligible_pairs() -> None:
    m = 5
    eligible = np.ones((m, m), dtype=bool)
    eligible[0, 4] = eligible[4, 0] = False
    probs = pair_probabilities(np.zeros((m, m)), eligible)
    assert probs.sum() == pytest.approx(1.0)
    assert np.all(np.tril(probs) == 0)  # unordered pairs live on i < j
    assert probs[0, 4] == 0
    n_pairs = np.triu(eligible, 1).sum()
    assert probs[np.triu(eligible, 1)].min() >= EXPLORE / n_pairs - 1e-12  # nobody starves
    # With no votes, every pair is equally useful.
    assert np.allclose(probs[np.triu(eligible, 1)], 1 / n_pairs)


def test_favours_models_with_few_battles() -> None:
    # 0..3 have played each other a lot; model 4 is new.
    m = 5
    w = np.zeros((m, m))
    w[:4, :4] = 50.0
    np.fill_diagonal(w, 0.0)
    probs = pair_probabilities(w, np.ones((m, m), dtype=bool))
    new_pairs = probs[:4, 4].sum()
    assert new_pairs > 0.8  # 4 of 10 pairs involve the newcomer, but they get most battles


def test_favours_close_matches_over_settled_ones() -> None:
    # Same number of battles everywhere: 0 and 1 are neck and neck; 2 crushes 3.
    m = 4
    w = wins_from({(0, 1): (20, 20), (2, 3): (39, 1), (0, 2): (10, 30), (1, 3): (30, 10),
                   (0, 3): (30, 10), (1, 2): (10, 30)}, m)  # fmt: skip
    gains = pair_gains(w)
    assert gains[0, 1] > gains[2, 3]
    probs = pair_probabilities(w, np.ones((m, m), dtype=bool))
    assert probs[0, 1] > probs[2, 3]


def test_strengths_and_covariance_are_sane() -> None:
    w = wins_from({(0, 1): (30, 10), (1, 2): (30, 10), (0, 2): (35, 5)}, 3)
    theta = strengths(w)
    assert theta[0] > theta[1] > theta[2] and abs(theta.sum()) < 1e-9
    cov = strength_covariance(w, theta, prior=0.0)
    assert np.allclose(cov.sum(axis=1), 0.0, atol=1e-9)  # sum-zero gauge
    assert np.all(np.diag(cov) > 0)
    # More data, smaller variance.
    cov10 = strength_covariance(10 * w, theta, prior=0.0)
    assert np.allclose(np.diag(cov10), np.diag(cov) / 10)


def test_choose_pair_samples_by_probability() -> None:
    m = 4
    eligible = np.ones((m, m), dtype=bool)
    rng = np.random.default_rng(0)
    draws = [choose_pair(np.zeros((m, m)), eligible, rng) for _ in range(600)]
    assert all(i < j for i, j in draws)
    assert len(set(draws)) == 6
    assert uniform_pair(eligible, rng) in {(i, j) for i in range(m) for j in range(i + 1, m)}
    with pytest.raises(ValueError):
        choose_pair(np.zeros((m, m)), np.zeros((m, m), dtype=bool), rng)


def test_sampler_settles_a_new_model_faster_than_uniform() -> None:
    """The benchmark's claim in miniature: a newcomer's rating CI shrinks faster with our pairs."""
    elo = np.array([-150.0, -75.0, 0.0, 75.0, 150.0, 10.0])  # model 5 joins late
    theta = elo / (400.0 / np.log(10.0))

    def newcomer_sd(sampler, seed: int) -> float:  # type: ignore[no-untyped-def]
        rng = np.random.default_rng(seed)
        m = elo.size
        w = np.zeros((m, m))
        old = np.ones((m, m), dtype=bool)
        old[5, :] = old[:, 5] = False
        for i, j in (uniform_pair(old, rng) for _ in range(1500)):
            win = rng.random() < 1 / (1 + np.exp(theta[j] - theta[i]))
            w[(i, j) if win else (j, i)] += 1
        for _ in range(15):  # 15 updates of 20 votes
            frozen = w.copy()
            for i, j in (sampler(frozen, np.ones((m, m), dtype=bool), rng) for _ in range(20)):
                win = rng.random() < 1 / (1 + np.exp(theta[j] - theta[i]))
                w[(i, j) if win else (j, i)] += 1
        return float(np.sqrt(strength_covariance(w, strengths(w), prior=0.0)[5, 5]))

    ours = np.mean([newcomer_sd(choose_pair, s) for s in range(3)])
    uniform = np.mean([newcomer_sd(lambda w, e, r: uniform_pair(e, r), s) for s in range(3)])
    assert ours < 0.7 * uniform
