"""`evals dashboard`: a bad store URL is a one-line user error; a good one serves the app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.dashboards.test_vote_browser import free_port, wait_healthy
from tests.evals.cli_helpers import ROOT, run_cli


def test_bad_url_is_a_user_error() -> None:
    result = run_cli("dashboard", "--db", "nosuchdriver://x", timeout=60)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dashboard_serves(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "evals.cli",
        "dashboard",
        "--port",
        str(port),
        "--db",
        f"sqlite:///{tmp_path / 'd.db'}",
    ]
    # Own process group: `evals dashboard` starts streamlit as a child, and both must stop.
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert (tmp_path / "d.db").exists()  # migrated before serving
