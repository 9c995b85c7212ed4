"""A first run says what it is doing: the embedded model's one-time build, and the size of an arena
generation (prompts × models × tokens, with --limit suggested) before any model loads; an interrupted
generation stops in one line and resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db import Database
from db.models_arena import ArenaAnswer
from tests.cli.helpers import call_main
from tests.cli.test_signals import assert_interrupted, finish, start, wait_until
from tests.evals.cli_helpers import ROOT


def test_first_run_announces_the_demo_model_build(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVALS_CACHE_DIR": str(tmp_path / "fresh-cache")}
    args = [sys.executable, "-m", "evals.cli", "run", "--subjects", "law", "--limit", "1", "--no-progress",
            "--db", f"sqlite:///{tmp_path / 'r.db'}"]  # fmt: skip
    first = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith("building the embedded demo model once"), first.stderr
    second = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "building" not in second.stderr, second.stderr


def n_answers(url: str) -> int:
    database = Database(url)
    try:
        with database.session(write=False) as s:
            return int(s.scalar(select(func.count()).select_from(ArenaAnswer)) or 0)
    finally:
        database.dispose()


def test_arena_generate_states_its_size_and_resumes_after_sigterm(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert call_main(capsys, "arena", "bank", "import", "--default", "--db", url).code == 0
    args = ("arena", "generate", "--models", str(tiny_model_dir), "--max-new-tokens", "64", "--batch-size", "1",
            "--no-progress", "--db", url)  # fmt: skip
    proc = start(*args, cwd=tmp_path)
    wait_until(lambda: n_answers(url) >= 2, proc)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert_interrupted(code, err, signal.SIGTERM)
    assert "generating 88 prompts × 1 model(s), up to 64 new tokens each" in err
    assert "try --limit 5 for a first run" in err
    stored = n_answers(url)
    assert 2 <= stored < 88

    again = call_main(capsys, *args[:-2], "--limit", str(stored + 1), "--db", url)
    assert again.code == 0, again.err
    assert f"generating {stored + 1} prompts" in again.err and "try --limit" not in again.err
    assert f"generated 1, already stored {stored}" in again.out
