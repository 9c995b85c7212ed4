"""Checked before any model loads: backend, --json path, --context, and a database that is reachable,
writable and not from a newer schema. Each is one line, exit 2, and stores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import Database
from db.migrate import head_revisions
from tests.cli.helpers import assert_one_line_error, call_main


def stored_runs(url: str) -> int:
    database = Database(url)
    try:
        with database.session(write=False) as s:
            return int(s.execute(text("SELECT count(*) FROM runs")).scalar_one())
    finally:
        database.dispose()


def test_unknown_backend(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    result = call_main(capsys, "run", "--backend", "tpu", "--db", db_url)
    assert_one_line_error(result)
    assert "unknown --backend 'tpu'" in result.err and "hf" in result.err


@pytest.mark.parametrize("target", ["/proc/leitai/out.json", "/proc/out.json", "DIR"])
def test_unwritable_json_path(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str, target: str) -> None:
    path = str(tmp_path) if target == "DIR" else target
    result = call_main(capsys, "run", "--json", path, "--db", db_url)
    assert_one_line_error(result)
    assert "--json" in result.err
    assert stored_runs(db_url) == 0


def test_context_larger_than_the_model(
    capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, tmp_path: Path, db_url: str
) -> None:
    result = call_main(capsys, "run", "--suite", "ppl", "--model", str(tiny_model_dir), "--context", "1000000",
                       "--db", db_url)  # fmt: skip
    assert_one_line_error(result)
    assert "--context 1000000" in result.err and "positions" in result.err
    assert stored_runs(db_url) == 0


def _read_only(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///file:{parsed.database}?mode=ro&uri=true"
    options = (parsed.query.get("options") or "") + " -cdefault_transaction_read_only=on"
    return parsed.update_query_dict({"options": options.strip()}).render_as_string(hide_password=False)


def test_read_only_database(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    Database(db_url).dispose()  # exists and is migrated; only writes are refused
    result = call_main(capsys, "run", "--db", _read_only(db_url))
    assert_one_line_error(result)
    assert "does not accept writes" in result.err
    # reading commands still work on it
    assert call_main(capsys, "results", "--db", _read_only(db_url)).code == 0


def test_database_from_a_newer_schema(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    Database(db_url).dispose()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfacade99'"))
    engine.dispose()
    result = call_main(capsys, "results", "--db", db_url)
    assert_one_line_error(result)
    assert "f00dfacade99" in result.err
    assert all(head in result.err for head in head_revisions())


def test_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    result = call_main(capsys, "run", "--db", "postgresql://nobody:s3cretpw@127.0.0.1:1/none")
    assert_one_line_error(result)
    assert "s3cretpw" not in result.err


def _count(url: str, table: str) -> int:
    database = Database(url)
    try:
        with database.session(write=False) as s:
            return int(s.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        database.dispose()


def test_ratings_json_is_checked_before_the_snapshot_is_stored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    log = tmp_path / "battles.jsonl"
    log.write_text('{"model_a": "a", "model_b": "b", "winner": "model_a"}\n'
                   '{"model_a": "b", "model_b": "a", "winner": "model_a"}\n')  # fmt: skip
    Database(db_url).dispose()
    for target in (str(tmp_path), "/proc/leitai/ratings.json"):
        result = call_main(capsys, "arena", "ratings", "--import", str(log), "--store", "--json", target,
                           "--db", db_url)  # fmt: skip
        assert_one_line_error(result)
        assert "--json" in result.err
    assert _count(db_url, "rating_snapshots") == 0


def test_train_json_is_checked_before_training(
    capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, tmp_path: Path, db_url: str
) -> None:
    data = tmp_path / "sft.jsonl"
    data.write_text('{"instruction": "你好", "input": "", "output": "你好！"}\n', encoding="utf-8")
    out = tmp_path / "out"
    result = call_main(capsys, "train", "sft", "--base", str(tiny_model_dir), "--data", str(data), "--steps", "1",
                       "--preset", "tiny", "--out", str(out), "--json", str(tmp_path), "--db", db_url)  # fmt: skip
    assert_one_line_error(result)
    assert "--json" in result.err
    assert not out.exists()
    assert _count(db_url, "models") == 0


def test_models_add_with_an_unregistered_base_stores_nothing(
    capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, db_url: str
) -> None:
    result = call_main(capsys, "models", "add", "child", "--path", str(tiny_model_dir), "--base", "nosuch",
                       "--db", db_url)  # fmt: skip
    assert_one_line_error(result)
    assert "--base 'nosuch' is not a registered model" in result.err
    assert _count(db_url, "models") == 0


def test_compare_a_run_with_itself(capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, db_url: str) -> None:
    ran = call_main(capsys, "run", "--model", str(tiny_model_dir), "--limit", "1", "--no-progress", "--db", db_url)
    assert ran.code == 0, ran.err
    database = Database(db_url)
    with database.session(write=False) as s:
        run_id = str(s.execute(text("SELECT id FROM runs")).scalar_one())
    database.dispose()
    result = call_main(capsys, "compare", run_id, run_id[:8], "--db", db_url)
    assert_one_line_error(result)
    assert "same run" in result.err


def test_generate_with_an_unknown_model_prints_only_the_error(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    # the job's size used to be announced first, so the mistake came as the second of two lines
    assert call_main(capsys, "arena", "bank", "import", "--default", "--db", db_url).code == 0
    for args in (["--models", "no-such-model"], ["--models", "no-such-model", "--prompts", "99999"]):
        result = call_main(capsys, "arena", "generate", *args, "--limit", "1", "--db", db_url)
        assert_one_line_error(result)
        assert "generating" not in result.err
    assert _count(db_url, "arena_answers") == 0
