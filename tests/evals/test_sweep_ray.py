"""`evals sweep --executor ray` on a real local cluster (a head and a worker node on 127.0.0.1, one CPU
each) writing to PostgreSQL: the same stored results as the local executor, a worker killed mid-sweep
loses nothing and the rerun finishes only the rest; `--data-parallel` shards as actors on both nodes."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.cli import main
from tests.evals.sweep_helpers import (
    RayCluster,
    assert_same_results,
    item_row_ids,
    run_statuses,
    stored_state,
    sweep_process,
    wait_for,
)

pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'leitai[ray]')")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    from tests.evals.sweep_helpers import ray_cluster

    with ray_cluster() as c:
        yield c


def _finish(proc, timeout: float = 300) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    return proc.returncode, out, err


def test_killed_worker_loses_nothing_and_results_match_local(
    cluster: RayCluster, pg_url: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    jobs = ["--models", f"{tiny_model_dir},twin={tiny_model_dir}", "--suites", "ceval,ppl",
            "--limit", "4", "--batch-size", "1", "--no-progress"]  # fmt: skip
    ray_args = [*jobs, "--executor", "ray", "--ray-address", cluster.address, "--retries", "0", "--db", pg_url]
    proc = sweep_process(*ray_args)
    try:

        def computing() -> bool:
            """A run has stored items and is still running: killing the actors now interrupts them mid-job."""
            try:
                states = run_statuses(pg_url).values()
            except Exception:  # tables not there yet
                return False
            return any(s == "running" and n > 0 for s, n in states) and bool(cluster.actor_pids())

        wait_for(computing, timeout=240, what="an actor computing", proc=proc)
        for pid in cluster.actor_pids():  # SIGKILL: no handler runs, as when a node is lost
            os.kill(pid, signal.SIGKILL)
    finally:
        rc, _, err = _finish(proc)
    assert rc == 1, err
    assert "did not finish" in err and "run the same command again to resume" in err
    assert "postgres@" not in err  # the database URL is never shown
    before, statuses = item_row_ids(pg_url), run_statuses(pg_url)
    unfinished = 4 - sum(s == "finished" for s, _ in statuses.values())
    assert unfinished >= 1  # at least the job that was computing

    rc, out, err = _finish(sweep_process(*ray_args))
    assert rc == 0, err
    after = item_row_ids(pg_url)
    assert {k: after[k] for k in before} == before  # nothing stored before the kill was recomputed

    local_db = f"sqlite:///{tmp_path / 'local.db'}"
    main(["sweep", *jobs, "--db", local_db])
    on_ray, local = stored_state(pg_url), stored_state(local_db)
    assert len(on_ray) == 4 and all(r["status"] == "finished" for r in on_ray.values())
    assert_same_results(on_ray, local)  # an actor runs 1 torch thread: scores agree up to float noise


def test_data_parallel_shards_as_actors(cluster: RayCluster, pg_url: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    jobs = ["--models", str(tiny_model_dir), "--suites", "ceval", "--limit", "2", "--batch-size", "2", "--no-progress"]
    rc, out, err = _finish(sweep_process(*jobs, "--executor", "ray", "--ray-address", cluster.address,
                                         "--data-parallel", "2", "--db", pg_url))  # fmt: skip
    assert rc == 0, err
    local_db = f"sqlite:///{tmp_path / 'local.db'}"
    main(["sweep", *jobs, "--db", local_db])
    sharded = stored_state(pg_url)
    assert len(sharded) == 1 and all(r["status"] == "finished" for r in sharded.values())
    assert_same_results(sharded, stored_state(local_db))  # the same run hash, items and metrics
