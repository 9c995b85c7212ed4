"""Reading and writing FastChat clean-battle logs (JSON array and JSONL)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena import battle_log
from arena.battle_log import (
    A_WINS,
    B_WINS,
    TIE,
    TIE_BOTHBAD,
    BattleLogError,
    Battles,
    read_battle_log,
    write_battle_log,
)
from tests.arena.helpers import battle, simulate

RECORDS = [
    battle("vicuna-13b", "koala-13b", "model_a", 1.0),
    battle("koala-13b", "chinese-alpaca-2-13b", "tie", 2.0),
    battle("chinese-alpaca-2-13b", "vicuna-13b", "model_b", 3.0),
    battle("vicuna-13b", "chinese-alpaca-2-13b", "tie (bothbad)", 4.0),
]


def _assert_same(b1: Battles, b2: Battles) -> None:
    assert b1.models == b2.models
    for f in ("model_a", "model_b", "outcome", "tstamp"):
        np.testing.assert_array_equal(getattr(b1, f), getattr(b2, f))


def test_json_array_and_jsonl_read_the_same(tmp_path: Path) -> None:
    # FastChat writes clean-battle JSON indented, with more fields than we use.
    extra = [dict(r, judge="arena_user_1", anony=True, language="Chinese", turn=1) for r in RECORDS]
    (tmp_path / "log.json").write_text(json.dumps(extra, indent=2, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in extra), encoding="utf-8")
    b1, b2 = read_battle_log(tmp_path / "log.json"), read_battle_log(tmp_path / "log.jsonl")
    _assert_same(b1, b2)
    assert b1.models == ("chinese-alpaca-2-13b", "koala-13b", "vicuna-13b")  # sorted
    assert b1.outcome.tolist() == [A_WINS, TIE, B_WINS, TIE_BOTHBAD]
    assert [b1.models[i] for i in b1.model_a] == [r["model_a"] for r in RECORDS]
    assert b1.tstamp.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert b1.to_records() == RECORDS


def test_jsonl_with_blank_lines_crlf_and_bom(tmp_path: Path) -> None:
    text = "\ufeff" + "\r\n".join(json.dumps(r) for r in RECORDS[:2]) + "\r\n\r\n  \n" + json.dumps(RECORDS[2]) + "\n\n"
    (tmp_path / "log.jsonl").write_text(text, encoding="utf-8")
    assert read_battle_log(tmp_path / "log.jsonl").to_records() == RECORDS[:3]


def test_tstamp_is_optional_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "tstamp"}) + "\n" for r in RECORDS))
    b = read_battle_log(path)
    assert b.tstamp is None and len(b) == 4


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_write_then_read_round_trips(tmp_path: Path, suffix: str) -> None:
    b = Battles.from_records(simulate({"a": 1000.0, "b": 1100.0, "模型丙": 900.0}, 300, seed=1))
    write_battle_log(b, tmp_path / f"out{suffix}")
    _assert_same(b, read_battle_log(tmp_path / f"out{suffix}"))


def test_many_chunks_keep_order_and_line_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(battle_log, "_CHUNK", 7)
    records = simulate({"a": 1000.0, "b": 1100.0, "c": 900.0, "d": 1000.0}, 100, seed=2)
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    b = read_battle_log(path)
    assert b.to_records() == records
    records[60]["winner"] = "draw"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(BattleLogError, match=r"log\.jsonl:61: winner 'draw' is not one of"):
        read_battle_log(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"model_a": "x", "model_b": "y", "winner": "bothbad", "tstamp": 5}', r":3: winner 'bothbad' is not one of"),
        ('{"model_a": "x", "model_b": "y", "tstamp": 5}', r":3: missing field 'winner'"),
        (
            '{"model_a": "x", "model_b": "x", "winner": "tie", "tstamp": 5}',
            r":3: model_a and model_b are the same model",
        ),
        ('{"model_a": "x", "model_b": 7, "winner": "tie", "tstamp": 5}', r":3: model_b must be a non-empty string"),
        ('{"model_a": "x", "model_b": "y", "winner": "tie", "tstamp": "noon"}', r":3: tstamp must be a number"),
        ('{"model_a": "x", "model_b": "y", "winner": "tie"}', r":3: missing field 'tstamp'"),
        ('["x", "y", "tie"]', r":3: expected a JSON object, got list"),
        ('{"model_a": "x", "model_b": "y", "winner": ', r":3: not valid JSON"),
    ],
)
def test_malformed_jsonl_names_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n\n" + line + "\n" + json.dumps(RECORDS[1]) + "\n")
    with pytest.raises(BattleLogError, match=message):
        read_battle_log(path)


def test_malformed_json_array_names_the_index(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(RECORDS[:2] + [battle("a", "b", "model_c", 9.0)]))
    with pytest.raises(BattleLogError, match=r"bad\.json: battle at index 2: winner 'model_c'"):
        read_battle_log(path)
    path.write_text('{"model_a": "a"')
    with pytest.raises(BattleLogError, match="not valid JSON"):
        read_battle_log(path)
    path.write_text('{"battles": []}\n{"x": 1}')
    with pytest.raises(BattleLogError, match=r":1: missing field 'model_a'"):
        read_battle_log(path)


@pytest.mark.parametrize("text", ["", "  \n\n", "[]"])
def test_empty_logs_are_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.json"
    path.write_text(text)
    with pytest.raises(BattleLogError, match="empty battle log|no battles"):
        read_battle_log(path)


def test_from_records_validates_too() -> None:
    with pytest.raises(BattleLogError, match="battle at index 1: model_a and model_b are the same"):
        Battles.from_records([battle("a", "b", "tie"), battle("a", "a", "tie")])
