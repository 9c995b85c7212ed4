"""Database faults: a dropped PostgreSQL connection is re-made (pre-ping) and idempotent work retried
once; a database lost for good ends the run in one line and the same command resumes; a SQLite file
deleted mid-run fails the run in one line instead of claiming the results were stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import Database
from tests.cli.test_signals import run_rows, start, wait_until
from tests.dbutil import backend_url
from tests.evals.cli_helpers import ROOT

RUN = ("run", "--suite", "ceval", "--batch-size", "1", "--no-progress")


@pytest.fixture
def pg_url(tmp_path: Path) -> tuple[str, str]:
    """A fresh PostgreSQL schema URL tagged with its own application_name (so its sessions can be found)."""
    name = f"leitai_fault_{uuid.uuid4().hex[:8]}"
    with backend_url("postgresql", tmp_path) as url:
        yield make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False), name


def terminate(admin_url: str, app_name: str) -> int:
    engine = create_engine(admin_url)
    try:
        with engine.begin() as c:
            return len(
                c.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": app_name},
                ).all()
            )
    finally:
        engine.dispose()


def rerun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evals.cli", *args], env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=cwd,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.pg
def test_retry_once_survives_a_connection_killed_mid_work(pg_url: tuple[str, str]) -> None:
    url, name = pg_url
    database = Database(url)
    admin = os.environ["EVALS_TEST_PG_URL"]
    calls: list[int] = []

    def work(s):  # type: ignore[no-untyped-def]
        calls.append(1)
        s.execute(text("SELECT 1"))  # the connection is checked out ...
        if len(calls) == 1:
            assert terminate(admin, name) >= 1  # ... and dropped by the server under it
        return s.execute(text("SELECT 2")).scalar_one()

    assert database.retry_once(work) == 2
    assert len(calls) == 2
    database.dispose()


@pytest.mark.pg
def test_run_survives_a_dropped_connection(tiny_model_dir: Path, tmp_path: Path, pg_url: tuple[str, str]) -> None:
    url, name = pg_url
    proc = start(*RUN, "--db", url, cwd=tmp_path)
    wait_until(lambda: any(n >= 3 for _, _, n in run_rows(url)), proc)
    assert terminate(os.environ["EVALS_TEST_PG_URL"], name) >= 1
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert [(s, n) for s, _, n in run_rows(url)] == [("finished", 80)]


@pytest.mark.pg
def test_run_that_loses_its_database_exits_in_one_line_and_resumes(
    tiny_model_dir: Path, tmp_path: Path, pg_url: tuple[str, str]
) -> None:
    url, name = pg_url
    admin = os.environ["EVALS_TEST_PG_URL"]
    proc = start(*RUN, "--db", url, cwd=tmp_path)
    wait_until(lambda: any(n >= 3 for _, _, n in run_rows(url)), proc)
    stop = threading.Event()

    def keep_killing() -> None:  # the server refuses this client for good: every session it opens dies
        while not stop.is_set():
            terminate(admin, name)

    killer = threading.Thread(target=keep_killing, daemon=True)
    killer.start()
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        stop.set()
        killer.join()
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "run the same command again" in err, err
    [(status, _, stored)] = run_rows(url)
    assert status == "running" or status == "failed"  # the database was gone: nothing could record it
    again = rerun(*RUN, "--db", url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{stored} from the store" in " ".join(again.stdout.split())
    assert [(s, n) for s, _, n in run_rows(url)] == [("finished", 80)]


def test_sqlite_file_deleted_mid_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    for attempt in range(3):
        db_file = tmp_path / f"gone{attempt}.db"
        url = f"sqlite:///{db_file}"
        proc = start(*RUN, "--db", url, cwd=tmp_path)
        wait_until(lambda url=url: any(n >= 3 for _, _, n in run_rows(url)), proc)
        os.kill(proc.pid, signal.SIGSTOP)  # nothing moves between this check and the deletion
        if [status for status, _, _ in run_rows(url)] == ["running"]:
            break
        os.kill(proc.pid, signal.SIGCONT)  # the tiny model's 80 items outran the 0.2 s poll: try again
        proc.communicate(timeout=300)
    else:
        pytest.fail("the run finished before the test could pause it, three times")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "deleted" in err, err
    assert "stored in" not in out
    again = rerun(*RUN, "--db", url, cwd=tmp_path)  # starts over in a new file
    assert again.returncode == 0, again.stderr
    assert [(s, n) for s, _, n in run_rows(url)] == [("finished", 80)]


def test_interrupt_handlers_do_not_leak_into_the_caller() -> None:
    from evals.cli import main

    before = signal.getsignal(signal.SIGTERM)
    for argv in (["--help"], ["run", "--limit", "0"]):
        try:
            main(argv)
        except SystemExit:
            pass
    assert signal.getsignal(signal.SIGTERM) is before
