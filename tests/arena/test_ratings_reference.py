"""Our sandwich, reweighted and style-controlled BT against LMArena's `arena-rank` 0.1.1.

The reference numbers were recorded from the package by tests/arena/arena_rank_reference.py
(in its own venv, since it pins numpy/jax); when `arena_rank` is importable here the fixture is
recorded afresh first, so the comparison is against the installed package.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import numpy as np
import pytest

from arena.battle_log import Battles
from arena.ratings_board import RatingOptions, rate_board
from tests.arena.arena_rank_reference import FIXTURE, WINNERS, record


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    if importlib.util.find_spec("arena_rank") is not None:
        return record()
    return dict(json.loads(FIXTURE.read_text(encoding="utf-8")))


def _battles(ref: dict[str, Any]) -> Battles:
    d = ref["battles"]
    names = d["models"]
    records = []
    for a, b, w, ta, tb in zip(d["a"], d["b"], d["winner"], d["tokens_a"], d["tokens_b"]):
        meta = {
            "sum_assistant_a_tokens": ta,
            "sum_assistant_b_tokens": tb,
            **{f"{k}_{s}": {} for k in ("header_count", "bold_count", "list_count") for s in "ab"},
        }
        records.append({"model_a": names[a], "model_b": names[b], "winner": WINNERS[w], "conv_metadata": meta})
    return Battles.from_records(records, style=True)


def _compare(board: Any, expected: dict[str, Any], tol: float) -> None:
    worst = 0.0
    for i, name in enumerate(board.models):
        e = expected[name]
        for ours, theirs in (
            (board.rating[i], e["rating"]),
            (board.ci_low[i], e["lower"]),
            (board.ci_high[i], e["upper"]),
        ):
            worst = max(worst, abs(float(ours) - theirs))
    assert worst < tol, f"largest difference from arena-rank: {worst:.3f} rating points"


def test_plain_bt_and_sandwich_cis_match_arena_rank(reference: dict[str, Any]) -> None:
    board = rate_board(_battles(reference), RatingOptions(ci="sandwich"))
    _compare(board, reference["plain"], 0.5)


def test_reweighted_bt_matches_arena_rank(reference: dict[str, Any]) -> None:
    battles = _battles(reference)
    board = rate_board(battles, RatingOptions(ci="sandwich", reweight=True))
    _compare(board, reference["reweighted"], 1.0)
    plain = rate_board(battles, RatingOptions(ci="sandwich"))
    # the fixture's pair counts are uneven enough that reweighting moves ratings for real
    assert np.abs(board.rating - plain.rating).max() > 3.0


def test_style_controlled_fit_matches_arena_rank(reference: dict[str, Any]) -> None:
    board = rate_board(_battles(reference), RatingOptions(ci="sandwich", style_control=True))
    _compare(board, reference["style"], 0.5)
    coef, lo, hi = board.style["length"]
    assert coef == pytest.approx(reference["style"]["coef_length"], abs=1e-3)
    assert lo < coef < hi
    for name in ("headers", "bold", "lists"):  # constant (all 0) features stay out of the fit
        assert board.style[name][0] == 0.0
