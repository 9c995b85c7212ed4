"""Helpers for the `evals sweep` tests: what a database stores, and a real local Ray cluster."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]


def stored_state(url: str) -> dict[str, dict[str, Any]]:
    """run id -> what the database holds of it: status, item count, metrics and every item row (no
    timings or row ids: two databases that ran the same jobs compare equal)."""
    engine = create_engine(url)
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as con:
        for run_id, suite, model, status, n_items in con.execute(
            text("SELECT r.id, r.suite, m.name, r.status, r.n_items FROM runs r JOIN models m ON m.id = r.model_id")
        ):
            out[run_id] = {"suite": suite, "model": model, "status": status, "n_items": n_items,
                           "metrics": {}, "items": {}}  # fmt: skip
        for run_id, name, subset, value in con.execute(text("SELECT run_id, name, subset, value FROM metrics")):
            out[run_id]["metrics"][(name, subset)] = value
        for run_id, item_id, subject, pred, gold, correct, score, extra in con.execute(
            text("SELECT run_id, item_id, subject, pred, gold, correct, score, extra FROM item_results")
        ):
            extra = json.loads(extra) if isinstance(extra, str) else extra
            out[run_id]["items"][item_id] = (subject, pred, gold, bool(correct) if correct is not None else None,
                                             score, extra)  # fmt: skip
    engine.dispose()
    return out


def item_row_ids(url: str) -> dict[tuple[str, str], int]:
    """(run id, item id) -> the row's primary key: a recomputed item would get a new one."""
    engine = create_engine(url)
    with engine.connect() as con:
        rows = {(r, i): pk for pk, r, i in con.execute(text("SELECT id, run_id, item_id FROM item_results"))}
    engine.dispose()
    return rows


def run_statuses(url: str) -> dict[str, tuple[str, int]]:
    """run id -> (status, stored item rows)."""
    engine = create_engine(url)
    with engine.connect() as con:
        status = dict(con.execute(text("SELECT id, status FROM runs")).all())
        counts = dict(con.execute(text("SELECT run_id, COUNT(*) FROM item_results GROUP BY run_id")).all())
    engine.dispose()
    return {run_id: (s, int(counts.get(run_id, 0))) for run_id, s in status.items()}


def sweep_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`evals sweep ...` as a user's process (its output in pipes, read by the caller)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "evals.cli", "sweep", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env, cwd=ROOT)  # fmt: skip


def wait_for(predicate: Any, *, timeout: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    """Poll until `predicate()` holds (a failed test when `proc` ends first or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep ended before {what}: {proc.communicate()[1][-2000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RayCluster:
    """A head node and a worker node on 127.0.0.1, one CPU each (each node a `ray start --block`)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
        self.nodes: list[subprocess.Popen[bytes]] = []

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        ray = str(Path(sys.executable).with_name("ray"))
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-memory", "100000000",
                  "--disable-usage-stats", "--block"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the workers import evals from this tree
        proc = subprocess.Popen([ray, "start", *args, *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env, start_new_session=True)  # fmt: skip
        self.nodes.append(proc)
        return proc

    def start(self) -> None:
        self._start("--head", "--port", str(self.port), "--include-dashboard=false", "--temp-dir", self.temp_dir)
        self._wait_nodes(1)
        self._start("--address", self.address)
        self._wait_nodes(2)

    def _wait_nodes(self, n: int, timeout: float = 120) -> None:
        """Until `ray status` lists `n` active nodes (it reads the cluster's control store, no dashboard)."""
        ray = str(Path(sys.executable).with_name("ray"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = subprocess.run([ray, "status", "--address", self.address], capture_output=True, text=True)
            active = res.stdout.partition("Active:")[2].partition("Pending:")[0]
            if res.returncode == 0 and sum("node_" in line for line in active.splitlines()) >= n:
                return
            if any(p.poll() is not None for p in self.nodes):
                raise RuntimeError("a Ray node exited while starting")
            time.sleep(1)
        raise RuntimeError(f"Ray cluster did not reach {n} nodes")

    def _session_pids(self) -> list[tuple[int, str]]:
        """(pid, command) of every process of the nodes: each `ray start` leads a session of its own, and
        its workers keep that session (they get process groups of their own)."""
        sessions = {str(p.pid) for p in self.nodes}
        out = subprocess.run(["ps", "-eo", "pid,sid,args"], capture_output=True, text=True).stdout
        rows = [line.split(None, 2) for line in out.splitlines()[1:]]
        return [(int(r[0]), r[2] if len(r) > 2 else "") for r in rows if len(r) > 1 and r[1] in sessions]

    def actor_pids(self) -> list[int]:
        """Pids of the sweep's actors on either node."""
        return [pid for pid, args in self._session_pids() if args.startswith("ray::SweepWorker")]

    def stop(self) -> None:
        for proc in reversed(self.nodes):  # `ray start --block` ends its node's processes on SIGTERM
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.nodes):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        for pid, _ in self._session_pids():  # anything of the nodes still left
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        import shutil

        shutil.rmtree(self.temp_dir, ignore_errors=True)


@contextmanager
def ray_cluster() -> Iterator[RayCluster]:
    cluster = RayCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _close(a: Any, b: Any) -> bool:
    """Equal, numbers within float noise (processes with other thread counts sum in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        import math

        return (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5)
        )
    return bool(a == b)


def assert_same_results(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> None:
    """The same runs, statuses, item rows and predictions; scores and metrics equal up to float noise."""
    assert a.keys() == b.keys()
    for run_id in a:
        ra, rb = a[run_id], b[run_id]
        assert {k: ra[k] for k in ("suite", "model", "status", "n_items")} == {
            k: rb[k] for k in ("suite", "model", "status", "n_items")
        }, run_id
        assert ra["items"].keys() == rb["items"].keys(), run_id
        for key, row in ra["items"].items():
            assert row[:4] == rb["items"][key][:4], (run_id, key)  # subject, prediction, gold, correct
            assert _close(row[4:], rb["items"][key][4:]), (run_id, key)  # score, per-choice scores
        assert _close(ra["metrics"], rb["metrics"]), run_id
