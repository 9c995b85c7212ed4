"""Chinese data as it comes: GBK/GB18030 CSV and JSONL are read with a one-line note; binary files, NUL
bytes and undecodable text are refused in one line (with the iconv command); values PostgreSQL cannot
store (NUL characters, over-long strings) are refused alike on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from arena.battles import serve_battle
from arena.errors import VoteRefused
from arena.votes import VoteLimits, record_vote
from core.textfiles import NotTextError, decode_text
from db import Database
from db.models_arena import ArenaPrompt as Prompt
from db.models_arena import Vote
from tests.arena.store_fixtures import add_models_with_answers
from tests.cli.helpers import assert_one_line_error, call_main

ROOT = Path(__file__).resolve().parents[2]
QUESTION = {
    "text": "请解释一下都江堰为什么能使用两千多年？",
    "category": "通用知识",
    "language": "zh",
    "source": "测试",
}


def gbk_copy(src: Path, dst: Path, codec: str = "gbk") -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_text(encoding="utf-8").encode(codec))


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
def test_decode_gbk_and_gb18030(codec: str) -> None:
    text = "中文，标点：“引号”。A,B\n"
    assert decode_text(text.encode(codec), "f.csv") == text
    assert decode_text(b"\xef\xbb\xbf" + text.encode(), "f.csv") == text  # BOM dropped


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL"),
        (bytes(range(1, 32)) * 50, "control characters"),
        ("café résumé naïve".encode("latin-1"), "iconv -f GB18030 -t UTF-8"),
    ],
)
def test_not_text_is_refused_with_a_hint(raw: bytes, needle: str) -> None:
    with pytest.raises(NotTextError, match=needle):
        decode_text(raw, "f.txt")


def test_gbk_ceval_csv_runs_with_a_note(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = ROOT / "evals" / "resources" / "ceval_sample"
    for split in ("dev", "val"):
        for f in (sample / split).glob("law_*.csv"):
            gbk_copy(f, tmp_path / "gbk" / split / f.name)
    utf8 = tmp_path / "utf8"
    shutil.copytree(tmp_path / "gbk", utf8)
    for f in utf8.rglob("*.csv"):
        f.write_text(f.read_bytes().decode("gbk"), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'r.db'}"
    args = ("run", "--suite", "ceval", "--subjects", "law", "--no-progress", "--db", db)
    got = call_main(capsys, *args, "--data", str(tmp_path / "gbk"), "--json", str(tmp_path / "gbk.json"))
    assert got.code == 0, got.err
    assert "GB18030/GBK" in got.err and "iconv" in got.err
    want = call_main(capsys, *args, "--data", str(utf8), "--json", str(tmp_path / "utf8.json"))
    assert want.code == 0, want.err
    gbk_doc, utf8_doc = (json.loads((tmp_path / n).read_text()) for n in ("gbk.json", "utf8.json"))
    assert gbk_doc["metrics"] == utf8_doc["metrics"] and gbk_doc["n_items"] == utf8_doc["n_items"] > 0


def test_gb18030_bank_jsonl_and_battle_log(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bank = tmp_path / "bank.jsonl"
    bank.write_bytes((json.dumps(QUESTION, ensure_ascii=False) + "\n").encode("gb18030"))
    got = call_main(capsys, "arena", "bank", "import", str(bank), "--db", db_url)
    assert got.code == 0, got.err
    assert "GB18030/GBK" in got.err
    database = Database(db_url)
    with database.session(write=False) as s:
        assert s.scalar(select(Prompt.text).where(Prompt.source == "测试")) == QUESTION["text"]
    database.dispose()

    log = tmp_path / "battles.jsonl"
    rows = [
        {"model_a": "模型甲", "model_b": "模型乙", "winner": w, "tstamp": i}
        for i, w in enumerate(["model_a", "tie"] * 20)
    ]
    log.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("gbk"))
    got = call_main(capsys, "arena", "ratings", "--import", str(log), "--bootstrap", "0")
    assert got.code == 0, got.err
    assert "模型甲" in got.out and "GB18030/GBK" in got.err


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary\x00" * 100, b"\x7fELF\x02\x01\x01\x00" + bytes(500)])
def test_binary_ppl_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    got = call_main(capsys, "run", "--suite", "ppl", "--data", str(corpus), "--db", f"sqlite:///{tmp_path / 'r.db'}")
    assert_one_line_error(got)
    assert "binary" in got.err


def test_undecodable_csv_names_the_conversion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bank = tmp_path / "bank.csv"
    bank.write_bytes("text,category\ncafé résumé,通用\n".encode().replace("é".encode(), b"\xe9"))
    got = call_main(capsys, "arena", "bank", "import", str(bank), "--db", f"sqlite:///{tmp_path / 'r.db'}")
    assert_one_line_error(got)
    assert "iconv -f GB18030 -t UTF-8" in got.err


def test_nul_in_a_bank_row_is_refused_on_every_backend(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bank = tmp_path / "bank.jsonl"
    bank.write_text(json.dumps({**QUESTION, "source": "a\u0000b"}) + "\n", encoding="utf-8")  # a JSON "\u0000"
    got = call_main(capsys, "arena", "bank", "import", str(bank), "--db", db_url)
    assert_one_line_error(got)
    assert "NUL" in got.err
    database = Database(db_url)
    with database.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == 0  # nothing half-written
    database.dispose()


@pytest.mark.parametrize("voter", ["v" * 129, "a\x00b"])
def test_bad_voter_id_is_refused_on_every_backend(db_url: str, voter: str) -> None:
    database = Database(db_url)
    add_models_with_answers(database, ["m1", "m2"])
    view = serve_battle(database, "sess", rng=np.random.default_rng(0))
    with pytest.raises(VoteRefused) as exc:
        record_vote(database, view.battle_id, "sess", "a", voter, limits=VoteLimits(max_votes=None))
    assert exc.value.code == "bad_voter"
    with database.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 0
    # the longest allowed id is stored on both
    assert record_vote(database, view.battle_id, "sess", "a", "v" * 128, limits=VoteLimits(max_votes=None))
    database.dispose()
