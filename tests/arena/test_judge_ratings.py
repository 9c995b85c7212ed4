"""Judge verdict levels in ratings (strong ×3) and the judge measures, on hand-built logs."""

from __future__ import annotations

import math

import pytest

from arena.battle_log import Battles
from arena.judge import JUDGE_LABELS, LEVELS, combine, level_outcome, swap_level, verdict_level
from arena.judge_ratings import pair_rank_brier, repeat_strong, separability
from arena.ratings_board import Board, rate_board


def board(records: list[dict[str, object]]) -> Board:
    return rate_board(repeat_strong(Battles.from_records(records, flags=True)))


def brier(judge: Board, human: Board) -> tuple[float | None, int]:
    value, pairs = pair_rank_brier(judge, human)
    return (None if value is None else round(value, 9)), pairs


def games(a: str, b: str, winner: str, n: int, flags: tuple[str, ...] = ()) -> list[dict[str, object]]:
    return [{"model_a": a, "model_b": b, "winner": winner, "flags": list(flags)}] * n


def test_five_levels_read_from_label_scores() -> None:
    for label, level in zip(JUDGE_LABELS, LEVELS, strict=True):
        scores = {x: (-0.2 if x == label else -4.0) for x in JUDGE_LABELS}
        assert verdict_level(scores) == level
    assert [swap_level(x) for x in LEVELS] == ["B>>A", "B>A", "A=B", "A>B", "A>>B"]
    assert [level_outcome(x) for x in LEVELS] == ["model_a", "model_a", "tie", "model_b", "model_b"]
    # First order says A>>B; swapped order (回答A = battle's B) says "B>>A" there, i.e. A>>B here.
    assert combine("A>>B", swap_level("B>>A")) == "A>>B"


def test_strong_verdict_counts_three_battles() -> None:
    strong_then_weak = games("m1", "m2", "model_a", 1, ("strong",)) + games("m1", "m2", "model_b", 1)
    weighted = board(strong_then_weak)
    # m1 wins 3 of 4 counted battles: BT p = 3/4, a gap of 400 log10(3) points.
    gap = weighted.rating[0] - weighted.rating[1]
    assert gap == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert weighted.n_battles.tolist() == [4, 4]
    # The same log without the flag is an even split; a tie is a tie whatever the flag says.
    plain = board(games("m1", "m2", "model_a", 1) + games("m1", "m2", "model_b", 1))
    assert plain.rating[0] - plain.rating[1] == pytest.approx(0.0, abs=1e-6)
    ties = board(
        games("m1", "m2", "tie", 1) + games("m1", "m2", "model_a", 1, ("strong",)) + games("m1", "m2", "model_b", 3)
    )
    assert ties.rating[0] - ties.rating[1] == pytest.approx(0.0, abs=1e-6)  # 3 + ½ vs 3 + ½


def test_separability_and_pair_rank_brier_by_hand() -> None:
    clear = board(games("m1", "m2", "model_a", 300) + games("m1", "m2", "model_b", 100))
    vague = board(games("m1", "m2", "model_a", 3) + games("m1", "m2", "model_b", 1))
    assert separability(clear) == (1.0, 1) and separability(vague) == (0.0, 1)
    humans_agree = board(games("m1", "m2", "model_a", 2) + games("m1", "m2", "model_b", 1))
    humans_disagree = board(games("m1", "m2", "model_a", 1) + games("m1", "m2", "model_b", 2))
    # The judge board predicts m1 over m2 with p = 3/4 in both logs.
    assert brier(vague, humans_agree) == (0.0625, 1)
    assert brier(clear, humans_disagree) == (0.5625, 1)
    # Three models: judge says m1 > m2 > m3 at p = 3/4 per step; humans rank m3 first.
    judge3 = board(
        games("m1", "m2", "model_a", 3) + games("m1", "m2", "model_b", 1)
        + games("m2", "m3", "model_a", 3) + games("m2", "m3", "model_b", 1)
        + games("m1", "m3", "model_a", 9) + games("m1", "m3", "model_b", 1)
    )  # fmt: skip
    humans3 = board(games("m3", "m1", "model_a", 2) + games("m3", "m2", "model_a", 2) + games("m1", "m2", "model_a", 2)
                    + games("m3", "m1", "model_b", 1) + games("m3", "m2", "model_b", 1) + games("m1", "m2", "model_b", 1))  # fmt: skip
    r = judge3.rating
    p = {(i, j): 1 / (1 + 10 ** ((r[j] - r[i]) / 400)) for i in range(3) for j in range(3)}
    assert p[(0, 1)] == pytest.approx(0.75, abs=1e-6) and p[(0, 2)] == pytest.approx(0.9, abs=1e-6)
    expected = ((0.75 - 1) ** 2 + (0.9 - 0) ** 2 + (0.75 - 0) ** 2) / 3  # m1>m2 yes, m1>m3 no, m2>m3 no
    assert brier(judge3, humans3) == (round(expected, 9), 3)
