"""Rating maths: online Elo, Bradley–Terry MLE + bootstrap, win rates, matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.battle_log import Battles
from arena.ratings import (
    RatingParams,
    compute_ratings,
    fit_bt,
    online_elo,
    predicted_win_rate,
    unbounded_models,
)
from tests.arena.helpers import battle, make_battles, simulate

# ---------------------------------------------------------------- online Elo


def test_online_elo_matches_hand_computed_sequence() -> None:
    # Four battles, given out of time order: the Elo must replay them by tstamp.
    records = [
        battle("A", "B", "model_b", tstamp=40),  # 4) B beats A
        battle("A", "B", "model_a", tstamp=10),  # 1) A beats B
        battle("C", "A", "model_a", tstamp=30),  # 3) C beats A
        battle("B", "C", "tie", tstamp=20),  # 2) tie
    ]
    r = compute_ratings(make_battles(records), RatingParams(n_bootstrap=0))
    elo = dict(zip(r.models, r.elo))

    def expected(ra: float, rb: float) -> float:
        return 1 / (1 + 10 ** ((rb - ra) / 400))

    # 1) equal ratings: expectation 0.5, A gains K/2 = 2.
    a, b, c = 1002.0, 998.0, 1000.0
    # 2) B (998) ties C (1000): B is the underdog, so it gains a little.
    e = expected(b, c)
    b, c = b + 4 * (0.5 - e), c - 4 * (0.5 - e)
    assert b == pytest.approx(998.0115128, abs=1e-6)
    # 3) C beats A.
    e = expected(c, a)
    c, a = c + 4 * (1 - e), a - 4 * (1 - e)
    # 4) B beats A (winner "model_b", A is model_a).
    e = expected(a, b)
    a, b = a + 4 * (0 - e), b - 4 * (0 - e)

    assert elo["A"] == pytest.approx(a, abs=1e-9) == pytest.approx(997.9770411, abs=1e-6)
    assert elo["B"] == pytest.approx(b, abs=1e-9) == pytest.approx(1000.0228927, abs=1e-6)
    assert elo["C"] == pytest.approx(c, abs=1e-9) == pytest.approx(1002.0000663, abs=1e-6)
    assert sum(elo.values()) == pytest.approx(3000.0)  # zero-sum updates


def test_online_elo_parameters_k_and_init() -> None:
    r = compute_ratings(make_battles([battle("A", "B", "model_a")]), RatingParams(k=32, init=1500, n_bootstrap=0))
    assert dict(zip(r.models, r.elo)) == {"A": pytest.approx(1516.0), "B": pytest.approx(1484.0)}


def test_online_elo_equals_fastchat_formula_on_random_log() -> None:
    # Reference: the textbook loop with model_b's expectation computed on its own.
    rng = np.random.default_rng(3)
    n, m = 2000, 5
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    s = rng.choice([0.0, 0.5, 1.0], n)
    ref = [1000.0] * m
    for i, j, sa in zip(a, b, s):
        ea = 1 / (1 + 10 ** ((ref[j] - ref[i]) / 400))
        eb = 1 / (1 + 10 ** ((ref[i] - ref[j]) / 400))
        ref[i] += 4 * (sa - ea)
        ref[j] += 4 * (1 - sa - eb)
    np.testing.assert_allclose(online_elo(a, b, s, m), ref, atol=1e-8)


# ---------------------------------------------------------------- Bradley–Terry


TRUE = {"m0": 1250.0, "m1": 1180.0, "m2": 1100.0, "m3": 1040.0, "m4": 1000.0, "m5": 930.0, "m6": 850.0, "m7": 650.0}


@pytest.fixture(scope="module")
def simulated() -> Battles:
    return make_battles(simulate(TRUE, 20_000, seed=1))


def test_bt_recovers_true_strengths() -> None:
    # No ties here: ties that do not depend on strength count as half wins and so pull every
    # rating towards the mean (as in FastChat); that is the intended semantics, not an error.
    r = compute_ratings(make_battles(simulate(TRUE, 20_000, tie_rate=0.0, seed=1)), RatingParams(n_bootstrap=0))
    fitted = np.array([r.bt[r.models.index(x)] for x in TRUE])
    truth = np.array(list(TRUE.values()))
    truth = truth - truth.mean() + 1000.0  # BT is reported with its mean at `init`
    assert np.corrcoef(fitted, truth)[0, 1] > 0.98
    # ~5000 battles per model: the standard error is ~5 points.
    assert np.abs(fitted - truth).max() < 25.0
    assert fitted.mean() == pytest.approx(1000.0)
    assert not r.warnings


def test_bt_rank_and_online_elo_agree_on_ordering(simulated: Battles) -> None:
    r = compute_ratings(simulated, RatingParams(n_bootstrap=0))
    assert [r.models[i] for i in r.order()] == list(TRUE)
    assert np.corrcoef(r.bt, r.elo)[0, 1] > 0.95


def test_ties_count_half_a_win_each_way() -> None:
    # A: one win and one tie against B -> 1.5 : 0.5 -> P(A beats B) = 0.75.
    for tie in ("tie", "tie (bothbad)"):
        r = compute_ratings(
            make_battles([battle("A", "B", "model_a"), battle("B", "A", tie)]), RatingParams(n_bootstrap=0)
        )
        a, b = r.models.index("A"), r.models.index("B")
        assert r.bt[a] - r.bt[b] == pytest.approx(400 * math.log10(3), abs=1e-4)
        assert r.predicted_win_rate[a, b] == pytest.approx(0.75, abs=1e-8)
        assert r.ties.tolist() == [1, 1]
        assert r.win_rate[a] == 1.0 and r.win_rate[b] == 0.0  # ties left out
        assert r.battles.tolist() == [2, 2]


def test_fit_bt_batch_equals_single_fits() -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(1, 50, size=(6, 5, 5)).astype(float)
    w[:, range(5), range(5)] = 0
    batch = fit_bt(w)
    for k in range(6):
        np.testing.assert_allclose(batch[k], fit_bt(w[k]), atol=1e-9)
        assert batch[k].sum() == pytest.approx(0.0, abs=1e-9)


def test_fit_bt_is_the_mle() -> None:
    # At the optimum every model's expected wins equal its observed wins.
    rng = np.random.default_rng(1)
    w = rng.integers(0, 30, size=(6, 6)).astype(float)
    np.fill_diagonal(w, 0)
    t = fit_bt(w)
    p = 1 / (1 + np.exp(t[None, :] - t[:, None]))
    np.testing.assert_allclose(((w + w.T) * p).sum(axis=1), w.sum(axis=1), atol=1e-3)


def test_predicted_win_rate_matrix(simulated: Battles) -> None:
    r = compute_ratings(simulated, RatingParams(n_bootstrap=0))
    ri, rj = r.bt[:, None], r.bt[None, :]
    np.testing.assert_allclose(r.predicted_win_rate, 1 / (1 + 10 ** ((rj - ri) / 400)))
    np.testing.assert_allclose(r.predicted_win_rate + r.predicted_win_rate.T, 1.0)
    assert predicted_win_rate(np.array([1400.0, 1000.0]))[0, 1] == pytest.approx(10 / 11)


# ---------------------------------------------------------------- win rates and matrices


def test_win_rate_excludes_ties_and_pairwise_matrix() -> None:
    records = [
        battle("A", "B", "model_a"),
        battle("B", "A", "model_a"),
        battle("A", "B", "tie"),
        battle("A", "C", "model_a"),
        battle("C", "A", "tie (bothbad)"),
        battle("B", "C", "model_b"),
        battle("C", "B", "model_b"),
    ]
    r = compute_ratings(make_battles(records), RatingParams(n_bootstrap=0))
    i = {x: r.models.index(x) for x in "ABC"}
    assert r.wins[i["A"]] == 2 and r.losses[i["A"]] == 1 and r.ties[i["A"]] == 2
    assert r.win_rate[i["A"]] == pytest.approx(2 / 3)
    assert r.win_rate[i["B"]] == pytest.approx(2 / 4)  # beat A and C once each, lost to each once
    assert r.win_rate[i["C"]] == pytest.approx(1 / 3)  # the bothbad tie with A is left out
    assert r.pairwise_win_rate[i["A"], i["B"]] == pytest.approx(0.5)
    assert r.pairwise_win_rate[i["A"], i["C"]] == pytest.approx(1.0)
    assert np.isnan(r.pairwise_win_rate[i["A"], i["A"]])
    assert r.battle_matrix[i["A"], i["B"]] == 3 == r.battle_matrix[i["B"], i["A"]]
    assert r.battles.sum() == 2 * len(records)


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_ci_contains_point_and_is_seeded(simulated: Battles) -> None:
    p = RatingParams(n_bootstrap=200, seed=7)
    r1, r2 = compute_ratings(simulated, p), compute_ratings(simulated, p)
    assert np.all(r1.ci_low < r1.bt) and np.all(r1.bt < r1.ci_high)
    np.testing.assert_array_equal(r1.ci_low, r2.ci_low)
    np.testing.assert_array_equal(r1.bootstrap, r2.bootstrap)
    r3 = compute_ratings(simulated, RatingParams(n_bootstrap=200, seed=8))
    assert not np.array_equal(r1.bootstrap, r3.bootstrap)
    # The bootstrap is centred on the point fit.
    assert np.abs(np.median(r1.bootstrap, axis=0) - r1.bt).max() < 5.0


def test_bootstrap_ci_narrows_with_more_data() -> None:
    small = compute_ratings(make_battles(simulate(TRUE, 2_000, seed=2)), RatingParams(n_bootstrap=200))
    large = compute_ratings(make_battles(simulate(TRUE, 50_000, seed=2)), RatingParams(n_bootstrap=200))
    w_small = (small.ci_high - small.ci_low).mean()
    w_large = (large.ci_high - large.ci_low).mean()
    # 25x the data: widths shrink ~5x; allow generous slack.
    assert w_large < w_small / 3


def test_rank_ub_counts_models_clearly_above() -> None:
    r = compute_ratings(make_battles(simulate(TRUE, 20_000, seed=4)), RatingParams(n_bootstrap=100))
    for i in range(len(r.models)):
        assert r.rank_ub[i] == 1 + int(np.sum(r.ci_low > r.ci_high[i]))
    assert r.rank_ub[r.models.index("m0")] == 1
    assert r.rank_ub[r.models.index("m7")] == 8


def test_anchor_pins_one_model(simulated: Battles) -> None:
    free = compute_ratings(simulated, RatingParams(n_bootstrap=20))
    pinned = compute_ratings(simulated, RatingParams(n_bootstrap=20, anchor=("m4", 1114.0)))
    j = pinned.models.index("m4")
    assert pinned.bt[j] == pytest.approx(1114.0)
    np.testing.assert_allclose(pinned.bt - pinned.bt[j], free.bt - free.bt[j], atol=1e-6)
    assert pinned.ci_low[j] == pytest.approx(1114.0) == pinned.ci_high[j]
    with pytest.raises(ValueError, match="not in the battle log"):
        compute_ratings(simulated, RatingParams(n_bootstrap=0, anchor=("nope", 1000.0)))


# ---------------------------------------------------------------- degenerate logs


def test_model_that_wins_everything_gets_a_warning_not_a_number() -> None:
    records = simulate({"a": 1100.0, "b": 1000.0, "c": 900.0}, 600, seed=5)
    records += [battle("champ", x, "model_a", 2e9) for x in "abc"] + [battle("b", "champ", "model_b", 2e9)]
    r = compute_ratings(make_battles(records), RatingParams(n_bootstrap=50))
    c = r.models.index("champ")
    assert r.excluded[c] and np.isnan(r.bt[c]) and np.isnan(r.ci_low[c]) and r.rank_ub[c] == 0
    assert r.win_rate[c] == 1.0 and r.battles[c] == 4 and np.isfinite(r.elo[c])
    assert len(r.warnings) == 1 and "champ won all 4 of its battles" in r.warnings[0]
    assert np.all(np.isfinite(np.delete(r.bt, c)))
    assert r.to_json()["champ"]["bt"] is None
    assert [row for row in r.rows() if row.model == "champ" and row.method == "bt"][0].rating is None


def test_model_that_loses_everything_gets_a_warning() -> None:
    records = simulate({"a": 1100.0, "b": 1000.0}, 200, seed=6) + [battle("a", "dud", "model_a", 2e9)] * 3
    r = compute_ratings(make_battles(records), RatingParams(n_bootstrap=0))
    assert r.excluded.tolist() == [False, False, True]
    assert "dud lost all 3 of its battles" in r.warnings[0]


def test_disconnected_groups_keep_the_largest() -> None:
    records = simulate({"a": 1100.0, "b": 1000.0, "c": 900.0}, 300, seed=7)
    records += simulate({"x": 1000.0, "y": 1000.0}, 100, seed=8)
    r = compute_ratings(make_battles(records), RatingParams(n_bootstrap=10))
    assert [r.models[i] for i in np.flatnonzero(r.excluded)] == ["x", "y"]
    assert len(r.warnings) == 2 and all("not linked to the main group of 3" in w for w in r.warnings)


def test_two_models_one_always_wins_has_no_bt_at_all() -> None:
    r = compute_ratings(make_battles([battle("a", "b", "model_a")] * 5), RatingParams(n_bootstrap=10))
    assert r.excluded.all() and np.isnan(r.bt).all() and len(r.warnings) == 2


def test_unbounded_models_on_a_cycle_and_a_chain() -> None:
    cycle = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], float)  # a>b>c>a: strongly connected
    assert not unbounded_models(cycle, np.zeros((3, 3))).any()
    chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], float)  # a>b>c only
    assert unbounded_models(chain, np.zeros((3, 3))).sum() == 2


def test_rows_match_the_rating_snapshot_shape(simulated: Battles) -> None:
    r = compute_ratings(simulated, RatingParams(n_bootstrap=20))
    rows = r.rows()
    assert {row.method for row in rows} == {"elo", "bt"}
    assert len(rows) == 2 * len(r.models)
    bt = {row.model: row for row in rows if row.method == "bt"}
    assert bt["m0"].ci_low < bt["m0"].rating < bt["m0"].ci_high
    assert bt["m0"].n_battles == int(r.battles[r.models.index("m0")])
    assert list(r.to_json())[0] == "m0"  # JSON is ordered best first
    assert set(r.to_json()["m0"]) == {"elo", "bt", "ci_low", "ci_high", "win_rate", "battles"}


# ---------------------------------------------------------------- properties

_names = st.sampled_from(["a", "b", "c", "d"])
_battle = st.tuples(_names, _names, st.sampled_from(["model_a", "model_b", "tie", "tie (bothbad)"])).filter(
    lambda t: t[0] != t[1]
)
_MIRROR = {"model_a": "model_b", "model_b": "model_a", "tie": "tie", "tie (bothbad)": "tie (bothbad)"}


@settings(max_examples=60, deadline=None)
@given(st.lists(_battle, min_size=1, max_size=40), st.lists(st.booleans(), min_size=40, max_size=40))
def test_swapping_sides_with_mirrored_winner_changes_nothing(log: list, flips: list[bool]) -> None:
    original = [battle(a, b, w, float(t)) for t, (a, b, w) in enumerate(log)]
    swapped = [
        battle(b, a, _MIRROR[w], float(t)) if flip else battle(a, b, w, float(t))
        for t, ((a, b, w), flip) in enumerate(zip(log, flips))
    ]
    p = RatingParams(n_bootstrap=0)
    r1, r2 = compute_ratings(make_battles(original), p), compute_ratings(make_battles(swapped), p)
    np.testing.assert_allclose(r1.elo, r2.elo, atol=1e-9)
    np.testing.assert_allclose(r1.bt, r2.bt, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(r1.excluded, r2.excluded)
    np.testing.assert_allclose(r1.win_rate, r2.win_rate, equal_nan=True)
    assert r1.warnings == r2.warnings


@settings(max_examples=40, deadline=None)
@given(st.lists(_battle, min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_bt_ignores_battle_order(log: list, rnd) -> None:
    records = [battle(a, b, w) for a, b, w in log]
    shuffled = records[:]
    rnd.shuffle(shuffled)
    p = RatingParams(n_bootstrap=0)
    r1, r2 = compute_ratings(make_battles(records), p), compute_ratings(make_battles(shuffled), p)
    np.testing.assert_allclose(r1.bt, r2.bt, atol=1e-6, equal_nan=True)
    bounded = ~r1.excluded
    if bounded.any():
        assert np.nanmean(r1.bt) == pytest.approx(1000.0)
        assert np.all(np.abs(r1.bt[bounded] - 1000.0) < 5000)  # finite, not ridge-inflated
