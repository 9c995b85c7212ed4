"""Style control: recovers true strengths where the longer answer wins, reports beta with CIs,
leaves placebo features at ~0; style counts from answer text and FastChat conv_metadata."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from arena.battle_log import Battles
from arena.ratings_board import STYLE_L2, RatingOptions, rate_board
from arena.ratings_style import STYLE_FEATURES, conv_metadata, metadata_counts, style_features, text_counts
from tests.arena.style_sim import style_log


def _tau(board_rating: np.ndarray, truth: np.ndarray) -> float:
    return float(kendalltau(board_rating, truth)[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_style_control_recovers_the_true_order(seed: int) -> None:
    log = style_log(seed=seed)
    plain = rate_board(log.battles)
    styled = rate_board(log.battles, RatingOptions(style_control=True))
    assert _tau(plain.rating, log.strength) < 0.6  # length confounds plain BT
    assert _tau(styled.rating, log.strength) >= 0.9
    # arena-rank's default, L2 = 1.0 on the *mean* log-likelihood = N in our units, pins beta near 0
    pinned = rate_board(log.battles, RatingOptions(style_control=True, style_l2=float(len(log.battles))))
    assert _tau(pinned.rating, log.strength) < 0.6
    assert pinned.style["length"][0] < 0.2 * styled.style["length"][0]
    assert STYLE_L2 == 1.0


def test_length_coefficient_has_a_ci_that_covers_the_truth_and_placebos_are_zero() -> None:
    log = style_log(n=40_000, tie_rate=0.0, seed=5)
    board = rate_board(log.battles, RatingOptions(style_control=True))
    assert set(board.style) == set(STYLE_FEATURES)
    coef, lo, hi = board.style["length"]
    true_z = log.length_effect * log.raw_length_std  # effect per SD of the z-scored feature
    assert lo < true_z < hi
    assert hi - lo < 0.2 * coef
    for name in ("headers", "bold", "lists"):
        c, plo, phi = board.style[name]
        assert abs(c) < 0.05 and plo < phi
        assert abs(c) < 0.05 * coef


def test_style_bootstrap_gives_coefficient_intervals() -> None:
    log = style_log(n=6_000, seed=1)
    board = rate_board(log.battles, RatingOptions(style_control=True, ci="bootstrap", n_bootstrap=30))
    coef, lo, hi = board.style["length"]
    assert lo < coef < hi and lo > 0
    assert np.all(board.ci_low < board.rating) and np.all(board.rating < board.ci_high)


def test_text_counts_and_conv_metadata_agree() -> None:
    text = (
        "# 标题\n\n**重点** 和 __强调__\n\n- 一\n- 二\n1. three words here\n\n```\n# not a header\n- not a list\n```\n"
    )
    tokens, headers, bold, lists = text_counts(text)
    assert (headers, bold, lists) == (1, 2, 3)
    assert tokens > 10
    meta = conv_metadata(text, "短")
    assert meta["header_count_a"]["h1"] == 1 and meta["list_count_a"] == {"ordered": 1, "unordered": 2}
    assert meta["bold_count_a"] == {"**": 1, "__": 1}
    assert metadata_counts(meta) == (tokens, 1, 2, 3, 1, 0, 0, 0)


def test_style_features_are_normalised_differences_z_scored() -> None:
    counts = np.array([[10, 0, 1, 0, 30, 0, 1, 0], [30, 0, 0, 0, 10, 0, 0, 0], [20, 0, 0, 0, 20, 0, 0, 0]], float)
    f = style_features(counts)
    raw = np.array([-0.5, 0.5, 0.0])
    assert np.allclose(f[:, 0], (raw - raw.mean()) / raw.std())
    assert np.all(f[:, 1] == 0)  # no headers anywhere: a constant feature stays 0, not NaN
    assert np.isfinite(f).all()


def test_style_control_needs_counts() -> None:
    battles = Battles.from_records([{"model_a": "x", "model_b": "y", "winner": "tie"}] * 3)
    with pytest.raises(ValueError, match="style control needs"):
        rate_board(battles, RatingOptions(style_control=True))


def test_style_fit_started_from_plain_bt_ends_where_a_cold_start_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from arena import ratings_board

    log = style_log(n=20_000, seed=3)
    starts: list[object] = []
    fit = ratings_board.fit_contextual

    def spy(*args: object, **kwargs: object) -> object:
        starts.append(kwargs.get("start"))
        return fit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ratings_board, "fit_contextual", spy)
    warm = rate_board(log.battles, RatingOptions(style_control=True))
    monkeypatch.setattr(ratings_board, "_plain_start", lambda *args: None)
    cold = rate_board(log.battles, RatingOptions(style_control=True))
    assert starts[0] is not None and starts[1] is None  # the first fit really was warm-started
    for field in ("rating", "ci_low", "ci_high"):
        np.testing.assert_allclose(getattr(warm, field), getattr(cold, field), rtol=0, atol=1e-6)
    for name in STYLE_FEATURES:
        np.testing.assert_allclose(warm.style[name], cold.style[name], rtol=0, atol=1e-8)
