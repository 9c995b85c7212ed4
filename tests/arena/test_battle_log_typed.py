"""The typed (msgspec) read path of battle logs agrees with the generic dict path, chunk by chunk.

Each test reads the same file twice: as shipped (typed where a chunk allows it) and with the typed path
switched off, so every record goes through the generic path that names errors; the results must be equal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from arena import battle_log
from arena.battle_log import BattleLogError, Battles, read_battle_log
from arena.ratings_style import metadata_counts
from tests.arena.helpers import simulate

MODELS = {"甲": 1000.0, "b": 1100.0, "c": 900.0, "d": 1000.0}


def _meta(rng: np.random.Generator, k: int) -> dict[str, Any]:
    """FastChat-shaped conv_metadata; some groups lack keys, some counts are floats, extra keys around."""
    meta: dict[str, Any] = {"sum_user_tokens": 12, "turns": 1}
    for side in "ab":
        meta[f"sum_assistant_{side}_tokens"] = int(rng.integers(1, 2000)) if k % 5 else 123.5
        levels = {f"h{i}": int(rng.poisson(0.5)) for i in range(1, 7) if (i + k) % 4}
        meta[f"header_count_{side}"] = levels
        meta[f"list_count_{side}"] = {"ordered": int(rng.poisson(2)), "unordered": int(rng.poisson(1))}
        meta[f"bold_count_{side}"] = {"**": int(rng.poisson(1))} if k % 3 else {"**": 1, "__": 2}
    return meta


def _records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    records = simulate(MODELS, n, seed=seed)
    for k, rec in enumerate(records):
        rec["conv_metadata"] = _meta(rng, k)
        rec["question_id"] = f"q{k}"  # a field nobody reads
        if k % 7 == 0:
            rec["category"] = "数学" if k % 2 else "coding"
        if k % 11 == 0:
            rec["flags"] = ["suspect", "fast"] if k % 2 else []
    return records


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    else:
        path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


class _Paths:
    """Counts the chunks each path took."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, typed: bool = True) -> None:
        self.typed = self.generic = 0
        add_typed, add = battle_log._Builder.add_typed, battle_log._Builder.add

        def spy_typed(builder: Any, records: list[Any]) -> bool:
            ok = typed and add_typed(builder, records)
            self.typed += ok
            return ok

        def spy_generic(builder: Any, *args: Any) -> None:
            self.generic += 1
            add(builder, *args)

        monkeypatch.setattr(battle_log._Builder, "add_typed", spy_typed)
        monkeypatch.setattr(battle_log._Builder, "add", spy_generic)


def _read_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Battles, Battles, _Paths]:
    with monkeypatch.context() as m:
        paths = _Paths(m)
        fast = read_battle_log(path, style=True, category=True, flags=True)
    with monkeypatch.context() as m:
        _Paths(m, typed=False)
        slow = read_battle_log(path, style=True, category=True, flags=True)
    return fast, slow, paths


def _assert_equal(b1: Battles, b2: Battles) -> None:
    assert b1.models == b2.models
    for f in ("model_a", "model_b", "outcome", "tstamp", "style", "category", "flags"):
        np.testing.assert_array_equal(getattr(b1, f), getattr(b2, f), err_msg=f)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_fastchat_log_is_read_typed_and_equals_the_generic_path(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(battle_log, "_CHUNK_BYTES", 4000)  # many chunks
    monkeypatch.setattr(battle_log, "_CHUNK", 50)
    records = _records(400)
    fast, slow, paths = _read_both(_write(tmp_path / f"log{suffix}", records), monkeypatch)
    assert paths.typed > 1 and paths.generic == 0  # the typed path did all the work
    _assert_equal(fast, slow)
    assert fast.style is not None and fast.style.shape == (400, 8)
    np.testing.assert_array_equal(fast.style[17], metadata_counts(records[17]["conv_metadata"]))
    assert set(fast.category) == {"", "数学", "coding"} and "fast,suspect" in set(fast.flags)


def test_unusual_chunks_fall_back_and_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(battle_log, "_CHUNK_BYTES", 3000)
    records = _records(300, seed=1)
    records[40]["conv_metadata"]["header_count_a"]["h7"] = 4  # a key the typed schema does not know
    records[120]["conv_metadata"]["list_count_b"] = 3  # a bare number: the generic path accepts it
    records[200] |= {"model_a": "only-in-a-fallback-chunk", "model_b": "b"}
    path = tmp_path / "log.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines[250] += "\r"  # CRLF line
    lines.insert(270, "   ")  # a blank line
    path.write_text("\n".join(lines) + "\n\n\n", encoding="utf-8")
    fast, slow, paths = _read_both(path, monkeypatch)
    assert paths.typed > 1 and paths.generic >= 3
    _assert_equal(fast, slow)
    assert "only-in-a-fallback-chunk" in fast.models
    assert fast.style is not None and fast.style[40, 1] == sum(records[40]["conv_metadata"]["header_count_a"].values())
    assert fast.style[120, 7] == 3


def test_json_array_with_an_unusual_record_falls_back_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = _records(60, seed=2)
    records[59]["conv_metadata"]["bold_count_b"]["~~"] = 1
    fast, slow, paths = _read_both(_write(tmp_path / "log.json", records), monkeypatch)
    assert paths.generic >= 1
    _assert_equal(fast, slow)


def _jsonl_with(tmp_path: Path, bad_line: int, text: str, extra: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(r) for r in _records(120, seed=3)]
    lines[bad_line - 1] = text
    for at, line in (extra or {}).items():
        lines[at - 1] = line
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps(
    {"model_a": "b", "model_b": "c", "winner": "tie", "tstamp": 1.0, "conv_metadata": _meta(np.random.default_rng(), 1)}
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model_a": "b", "model_b": "c", "winner": "draw", "tstamp": 1.0}', r"bad\.jsonl:97: winner 'draw'"),
        (GOOD + " " + GOOD, r"bad\.jsonl:97: not valid JSON"),  # two records on one line
        (GOOD + ", " + GOOD, r"bad\.jsonl:97: not valid JSON"),  # ... even with a comma between
        ('{"model_a": "b",\n "model_b": "c", "winner": "tie", "tstamp": 1.0}', r"bad\.jsonl:97: not valid JSON"),
        ('{"model_a": "", "model_b": "c", "winner": "tie", "tstamp": 1.0}', r":97: model_a must be a non-empty"),
        ('{"model_a": "c", "model_b": "c", "winner": "tie", "tstamp": 1.0}', r":97: model_a and model_b are the same"),
        ('{"model_a": "b", "model_b": "c", "winner": "tie"}', r":97: missing field 'tstamp'"),
        (
            '{"model_a": "b", "model_b": "c", "winner": "tie", "tstamp": 2, "conv_metadata": 5}',
            r":97: no conv_metadata",
        ),
    ],
)
def test_errors_in_later_chunks_name_their_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.setattr(battle_log, "_CHUNK_BYTES", 2000)
    with pytest.raises(BattleLogError, match=message):
        read_battle_log(_jsonl_with(tmp_path, 97, text), style=True)


def test_two_records_on_a_line_are_refused_even_beside_a_blank_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As many values as lines in the chunk, but not one per line: still the generic path's error.
    monkeypatch.setattr(battle_log, "_CHUNK_BYTES", 1 << 20)
    path = _jsonl_with(tmp_path, 30, GOOD + "," + GOOD, extra={31: ""})
    with pytest.raises(BattleLogError, match=r"bad\.jsonl:30: not valid JSON"):
        read_battle_log(path, style=True)
