"""SIGINT / SIGTERM sent to the real CLI in a subprocess: one line, exit 130 / 143, the run marked
interrupted (never left "running"), and the same command resumes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.evals.cli_helpers import ROOT

MESSAGE = "interrupted — run the same command again to resume"


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "evals.cli", *args],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def wait_until(cond: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"exited {proc.returncode} before the signal:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the process to get going")
        time.sleep(0.2)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, err


def assert_interrupted(code: int, err: str, sig: signal.Signals) -> None:
    assert code == 128 + sig, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == MESSAGE, err


def run_rows(url: str) -> list[tuple[str, str | None, int]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            runs = c.execute(sa.text("SELECT id, status FROM runs")).all()
            return [
                (
                    status,
                    rid,
                    c.execute(sa.text("SELECT count(*) FROM item_results WHERE run_id = :r"), {"r": rid}).scalar_one(),
                )
                for rid, status in runs
            ]
    except sa.exc.DBAPIError:  # not created or not migrated yet
        return []
    finally:
        engine.dispose()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_evals_run_is_marked_interrupted_and_resumes(tiny_model_dir: Path, tmp_path: Path, sig: signal.Signals) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    args = ("run", "--suite", "ceval", "--batch-size", "1", "--no-progress", "--db", url)
    proc = start(*args, cwd=tmp_path)
    wait_until(lambda: any(n > 0 for _, _, n in run_rows(url)), proc)
    proc.send_signal(sig)
    code, err = finish(proc)
    assert_interrupted(code, err, sig)
    [(status, _, stored)] = run_rows(url)
    assert status == "interrupted"
    assert stored < 80  # it really was stopped part-way

    again = subprocess.run(
        [sys.executable, "-m", "evals.cli", *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"{80 - stored} computed, {stored} from the store" in " ".join(again.stdout.split())
    [(status, _, stored)] = run_rows(url)
    assert (status, stored) == ("finished", 80)


def test_arena_ratings_sigterm(tmp_path: Path) -> None:
    # The battle log is a FIFO: the command blocks reading it, so the signal lands mid-command every time.
    log = tmp_path / "battles.jsonl"
    os.mkfifo(log)
    proc = start("arena", "ratings", "--import", str(log), "--bootstrap", "100", cwd=tmp_path)
    writer = None
    while writer is None:  # opening the writing end succeeds only once the command has the file open
        try:
            writer = os.open(log, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
    try:
        os.write(writer, b'{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": 1}\n')  # half a log
        proc.send_signal(signal.SIGTERM)
        # The kernel may hand a process-directed signal to any thread (numpy's BLAS threads included); then
        # the main thread's read of the FIFO is not interrupted, and Python runs the handler at the next
        # bytecode. Ending the file gives it that bytecode: the command must still stop as interrupted.
        time.sleep(1.0)
        os.close(writer)
        writer = None
        assert_interrupted(*finish(proc), signal.SIGTERM)
    finally:
        if writer is not None:
            os.close(writer)


def test_train_tiny_sigint(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    proc = start("train", "tiny", "--out", str(out), "--steps", "1000000", cwd=tmp_path)
    time.sleep(15)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    assert_interrupted(*finish(proc), signal.SIGINT)


def test_dashboard_sigterm_stops_streamlit(tmp_path: Path) -> None:
    from tests.dashboards.test_vote_browser import free_port, wait_healthy

    port = free_port()
    proc = start("dashboard", "--port", str(port), "--db", f"sqlite:///{tmp_path / 'd.db'}", cwd=tmp_path)
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    proc.send_signal(signal.SIGTERM)  # to `evals` only, as a service manager would
    code, err = finish(proc)
    assert_interrupted(code, err, signal.SIGTERM)
    # streamlit was evals' child in the same session: nothing of it may be left serving
    leftovers = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
