"""Property: whatever malformed file or option value a user hands the real CLI, it ends with exit 0 or 2,
never a traceback, and leaves nothing half-written in the database.

In-process (`evals.cli.main`) for speed, and no model ever loads: runs go to `--backend openai` at a
closed port, so valid data gets as far as "cannot reach" (exit 2) and invalid data stops earlier.
A few fixed cases also run the CLI in a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from db import Database, Run
from db.models_arena import ArenaPrompt
from tests.evals.cli_helpers import call_in_process, run_cli

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DEAD_SERVER = ("--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--scoring", "logprob")
HEADER = "id,question,A,B,C,D,answer,explanation"

cell = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(["A", "B", "E", "", "法学", '"', '""', "\n", ",", "\x00", "\ufeff", "中文，逗号"]),
)
csv_line = st.lists(cell, min_size=0, max_size=10).map(lambda cells: ",".join(cells))
csv_text = st.builds(
    lambda header, lines: "\n".join([header, *lines]),
    st.sampled_from([HEADER, "question,A,B,C,D,answer", "", "id;question;A;B;C;D;answer", HEADER.upper()]),
    st.lists(csv_line, max_size=6),
)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
bank_record = st.fixed_dictionaries(
    {},
    optional={
        "text": st.one_of(st.text(max_size=40), st.just("解释一下长城的历史。"), json_value),
        "category": st.one_of(st.sampled_from(["通用知识", "写作", "nope"]), json_value),
        "language": st.one_of(st.sampled_from(["zh", "en", ""]), json_value),
        "source": st.one_of(st.text(max_size=300), json_value),
    },
)
battle_record = st.fixed_dictionaries(
    {},
    optional={
        "model_a": st.one_of(st.sampled_from(["a", "b", "模型"]), json_value),
        "model_b": st.one_of(st.sampled_from(["a", "b", "c"]), json_value),
        "winner": st.one_of(st.sampled_from(["model_a", "model_b", "tie", "tie (bothbad)", "x"]), json_value),
        "tstamp": st.one_of(st.floats(allow_nan=True), st.integers(), json_value),
    },
)


def jsonl_of(records: st.SearchStrategy) -> st.SearchStrategy[str]:
    line = st.one_of(records.map(lambda r: json.dumps(r, ensure_ascii=False)), st.text(max_size=30), st.just(""))
    return st.lists(line, max_size=6).map("\n".join)


def encoded(text: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """The text as UTF-8, UTF-8 with a BOM, GBK/GB18030, truncated mid-character, or raw bytes."""
    return st.one_of(
        text.map(lambda t: t.encode("utf-8")),
        text.map(lambda t: b"\xef\xbb\xbf" + t.encode("utf-8")),
        text.map(lambda t: t.encode("gb18030")),
        text.map(lambda t: t.encode("gbk", errors="ignore")),
        text.map(lambda t: t.encode("utf-8")[:-1]),
        st.binary(max_size=200),
    )


def call(*args: str) -> tuple[int, str]:
    """Run the real entry point in-process; anything but a clean exit 0 or 2 fails the property."""
    code, _, text = call_in_process(*args)
    assert code in (0, 2), f"exit {code}: {text}"
    assert "Traceback" not in text
    if code == 2:
        assert len([ln for ln in text.splitlines() if ln.startswith("error")]) == 1, text
    return code, text


def count(url: str, model: type) -> int:
    database = Database(url)
    try:
        with database.session(write=False) as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        database.dispose()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'p.db'}"


@SETTINGS
@given(val=encoded(csv_text), dev=encoded(csv_text))
def test_malformed_ceval_csv(tmp_path: Path, db: str, val: bytes, dev: bytes) -> None:
    data = tmp_path / "ceval"
    for split, raw in (("val", val), ("dev", dev)):
        (data / split).mkdir(parents=True, exist_ok=True)
        (data / split / f"law_{split}.csv").write_bytes(raw)
    code, _ = call("run", "--suite", "ceval", "--data", str(data), "--subjects", "law", *DEAD_SERVER, "--db", db)
    assert code == 2  # either the data is refused or (valid data) the closed port is
    assert count(db, Run) == 0  # nothing stored for a run that never started


@SETTINGS
@given(raw=encoded(jsonl_of(bank_record)), suffix=st.sampled_from([".jsonl", ".csv"]))
def test_malformed_bank_file(tmp_path: Path, db: str, raw: bytes, suffix: str) -> None:
    path = tmp_path / f"bank{suffix}"
    path.write_bytes(raw)
    before = count(db, ArenaPrompt)
    code, _ = call("arena", "bank", "import", str(path), "--db", db)
    if code == 2:
        assert count(db, ArenaPrompt) == before  # a refused file adds no row at all


@SETTINGS
@given(
    raw=st.one_of(
        encoded(jsonl_of(battle_record)),
        encoded(st.lists(battle_record, max_size=6).map(lambda r: json.dumps(r, ensure_ascii=False))),
    )
)
def test_malformed_battle_log(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "battles.jsonl"
    path.write_bytes(raw)
    call("arena", "ratings", "--import", str(path), "--bootstrap", "0", "--no-store")


@SETTINGS
@given(raw=encoded(st.text(max_size=200)), suffix=st.sampled_from([".txt", ".jsonl"]))
def test_malformed_ppl_file(tmp_path: Path, db: str, raw: bytes, suffix: str) -> None:
    path = tmp_path / f"corpus{suffix}"
    path.write_bytes(raw)
    code, _ = call("run", "--suite", "ppl", "--data", str(path), *DEAD_SERVER, "--db", db)
    assert code == 2 and count(db, Run) == 0


option_value = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(alphabet=string.printable + "中文", max_size=8),
)


@SETTINGS
@given(
    option=st.sampled_from(
        [
            "--limit",
            "--shots",
            "--batch-size",
            "--context",
            "--stride",
            "--max-length",
            "--max-new-tokens",
            "--concurrency",
            "--data-parallel",
            "--suite",
            "--split",
            "--subjects",
            "--scoring",
            "--template",
            "--protocol",
            "--mode",
            "--dtype",
            "--quant",
            "--backend",
            "--shot",
            "--limt",
        ]
    ),  # fmt: skip
    value=option_value,
)
def test_option_values_on_evals_run(db: str, option: str, value: str) -> None:
    code, _ = call("run", *DEAD_SERVER, option, value, "--db", db)
    assert code == 2  # a bad value, or a good one that reaches the closed port
    assert count(db, Run) == 0


@pytest.mark.parametrize(
    ("args", "content"),
    [
        (("arena", "bank", "import", "{file}"), b"\x00\x01binary\xff" * 20),
        (("arena", "ratings", "--import", "{file}", "--no-store"), '[{"model_a": "甲"}]'.encode("gbk")),
        (("run", "--suite", "ppl", "--data", "{file}", *DEAD_SERVER), "北京\x00上海".encode()),
    ],
)
def test_subprocess_cases(tmp_path: Path, args: tuple[str, ...], content: bytes) -> None:
    path = tmp_path / "input.jsonl" if "ppl" not in args else tmp_path / "input.txt"
    path.write_bytes(content)
    argv = [a.replace("{file}", str(path)) for a in args]
    proc = run_cli(*argv, "--db", f"sqlite:///{tmp_path / 's.db'}", timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # the error, plus at most the GBK note
