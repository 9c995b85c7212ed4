"""`evals arena pool add|list|remove` through the real CLI in a subprocess."""

from __future__ import annotations

from pathlib import Path

from db import Database, live_repo
from tests.evals.cli_helpers import run_cli


def test_pool_commands(tmp_path: Path, tiny_model_dir: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pool.db'}"
    env = {"MY_SECRET_KEY": "sk-do-not-store"}
    ok = run_cli("arena", "pool", "add", "srv", "--base-url", "http://127.0.0.1:8000/v1/", "--served-model-name",
                 "qwen", "--api-key-env", "MY_SECRET_KEY", "--temperature", "0", "--db", db, env=env)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    ok = run_cli("arena", "pool", "add", "tiny", "--model", str(tiny_model_dir), "--system-prompt", "", "--db", db)
    assert ok.returncode == 0, ok.stderr
    listed = run_cli("arena", "pool", "list", "--db", db)
    assert listed.returncode == 0
    lines = listed.stdout.strip().splitlines()
    assert lines[0].startswith("srv\topenai\thttp://127.0.0.1:8000/v1 model=qwen key from $MY_SECRET_KEY")
    assert lines[1].startswith(f"tiny\tlocal\t{tiny_model_dir.resolve()}")
    for bad in (
        ["srv", "--base-url", "http://x/v1", "--served-model-name", "m"],  # name taken
        ["x", "--base-url", "http://x/v1"],  # no served model name
        ["x", "--base-url", "http://x/v1", "--served-model-name", "m", "--model", str(tiny_model_dir)],
        ["x", "--model", str(tmp_path / "missing")],
        ["x", "--base-url", "file:///etc/passwd", "--served-model-name", "m"],
        ["x", "--base-url", "http://x/v1", "--served-model-name", "m", "--api-key-env", "sk-abc;rm"],
    ):
        res = run_cli("arena", "pool", "add", *bad, "--db", db)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, (bad, res.stderr)
    database = Database(db)
    with database.session(write=False) as s:
        rows = {r.name: r for r in live_repo.list_pool(s)}
    assert set(rows) == {"srv", "tiny"}  # refused adds wrote nothing
    assert rows["srv"].api_key_env == "MY_SECRET_KEY" and rows["srv"].gen_params["temperature"] == 0.0
    assert rows["tiny"].system_prompt == ""
    dump = repr([vars(r) for r in rows.values()])
    assert "sk-do-not-store" not in dump  # only the variable's name is stored
    database.dispose()
    gone = run_cli("arena", "pool", "remove", "srv", "--db", db)
    assert gone.returncode == 0
    again = run_cli("arena", "pool", "remove", "srv", "--db", db)
    assert again.returncode == 2 and "no model named 'srv'" in again.stderr
