"""Bad battle logs through the real CLI: one clear line on stderr and exit 2, or ratings with a
bounded number of warnings; never NaN, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena.battle_log import Battles
from arena.ratings_board import RatingInputError, rate_board
from tests.arena.helpers import battle, simulate
from tests.arena.test_cli_ratings import run_cli


def _write(tmp_path: Path, records: object, name: str = "log.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return path


def _one_error_line(capsys: pytest.CaptureFixture[str], message: str) -> None:
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_empty_log_and_no_battles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert run_cli("--import", str(empty)) == 2
    _one_error_line(capsys, "empty battle log")
    assert run_cli("--import", str(_write(tmp_path, []))) == 2
    _one_error_line(capsys, "no battles in the log")


def test_unknown_winner_names_the_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [battle("a", "b", "model_a"), battle("a", "b", "A")]
    assert run_cli("--import", str(_write(tmp_path, records))) == 2
    _one_error_line(capsys, "battle at index 1: winner 'A' is not one of model_a, model_b, tie, tie (bothbad)")


def test_one_model_left_after_the_category_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [battle("a", "b", "model_a") | {"category": "math"}, battle("a", "c", "tie") | {"category": "code"}]
    assert run_cli("--import", str(_write(tmp_path, records)), "--category", "writing") == 2
    _one_error_line(capsys, "no battles in category 'writing' (categories present: code, math)")
    # In category math, a always beat b: both unbounded, said so, no NaN; the count is the category's.
    records = [battle("a", "b", "model_a") | {"category": "math"}] * 3
    path = _write(tmp_path, records + [battle("c", "d", "tie") | {"category": "code"}] * 2)
    assert run_cli("--import", str(path), "--category", "math") == 0
    captured = capsys.readouterr()
    assert "category math: 3 battles, 2 models" in captured.out and "nan" not in captured.out.lower()
    assert "a won all 3 of its battles" in " ".join(captured.err.split())
    # One model left (only reachable through the API: a log cannot pit a model against itself).
    one = Battles(("a",), np.zeros(2, np.int32), np.zeros(2, np.int32), np.zeros(2, np.int8))
    with pytest.raises(RatingInputError, match="only one model"):
        rate_board(one)
    with pytest.raises(RatingInputError, match="no battles to rate"):
        rate_board(one.select(np.zeros(2, bool)))


def test_disconnected_groups_are_refused_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    left = simulate({"a": 1000.0, "b": 1100.0, "c": 900.0}, 200, seed=1)
    right = simulate({"x": 1000.0, "y": 1200.0}, 100, seed=2)
    assert run_cli("--import", str(_write(tmp_path, left + right))) == 2
    _one_error_line(capsys, "the battles form 2 groups of models that never met")
    capsys.readouterr()
    assert run_cli("--import", str(_write(tmp_path, left + right))) == 2
    err = capsys.readouterr().err
    assert "[a, b, c]; [x, y]" in err and "rate each group on its own" in err


def test_many_unbounded_models_warn_in_a_few_lines_and_no_nan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = simulate({"a": 1000.0, "b": 1100.0, "c": 900.0}, 300, seed=3)
    records += [battle(f"newcomer-{k:04d}", "a", "model_a", 2e9 + k) for k in range(1495)]  # each won its one battle
    out_json = tmp_path / "r.json"
    assert run_cli("--import", str(_write(tmp_path, records)), "--json", str(out_json)) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 6 and "and 1,490 more like these" in warnings[-1]
    text = out_json.read_text()
    assert "NaN" not in text and "nan" not in captured.out.lower().replace("unbounded", "")
    doc = json.loads(text)
    assert len(doc["warnings"]) == 1495
    assert doc["models"]["newcomer-0000"]["rating"] is None and doc["models"]["newcomer-0000"]["rank"] is None
    assert all(doc["models"][m]["rating"] is not None for m in "abc")


def test_all_flagged_log_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [battle("a", "b", w) | {"flags": ["suspect"]} for w in ("model_a", "model_b", "tie")]
    path = _write(tmp_path, records)
    assert run_cli("--import", str(path)) == 2
    _one_error_line(capsys, "every battle is flagged (3 suspect); see --exclude-flags")
    assert run_cli("--import", str(path), "--exclude-flags", "none") == 0


def test_style_control_without_conv_metadata_names_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = {"sum_assistant_a_tokens": 10, "sum_assistant_b_tokens": 20}
    meta |= {f"{k}_{s}": {} for k in ("header_count", "bold_count", "list_count") for s in "ab"}
    records = [battle("a", "b", "model_a") | {"conv_metadata": meta}, battle("a", "b", "model_b")]
    assert run_cli("--import", str(_write(tmp_path, records)), "--style-control") == 2
    _one_error_line(capsys, "battle at index 1: no conv_metadata (style control needs")
    bad = dict(meta, sum_assistant_b_tokens="many")
    records = [battle("a", "b", "model_a") | {"conv_metadata": meta}, battle("a", "b", "tie") | {"conv_metadata": bad}]
    assert run_cli("--import", str(_write(tmp_path, records)), "--style-control") == 2
    _one_error_line(capsys, "battle at index 1: bad conv_metadata: expected a number, got 'many'")
