"""Several processes sharing one database: migrations race, writers overlap, nothing is lost."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import pytest

from db import Database, repo

N_ITEMS, BATCH = 120, 8


def _writer(url: str, worker: int, barrier: Any) -> None:
    barrier.wait()  # start together so migration and start_run really race
    database = Database(url)
    with database.session() as s:
        model = repo.upsert_model(s, "shared", "/ckpt")
        repo.start_run(s, "run1", "ceval", model.id, {"k": 1}, {"worker": worker})
    # Worker 0 writes items [0, 80), worker 1 writes [40, 120): 40 overlap.
    lo = 0 if worker == 0 else N_ITEMS // 3
    ids = list(range(lo, lo + 2 * N_ITEMS // 3))
    for start in range(0, len(ids), BATCH):
        with database.session() as s:
            done = repo.done_item_ids(s, "run1")  # read-then-write, as the resume wrapper does
            rows = [{"item_id": str(i), "extra": {"w": worker}} for i in ids[start : start + BATCH]]
            repo.add_item_results(s, "run1", [r for r in rows if r["item_id"] not in done] or rows)
    with database.session() as s:
        repo.finish_run(s, "run1", elapsed_s=1.0, n_items=len(ids))
    database.dispose()


@pytest.mark.slow
def test_two_processes_lose_nothing(db_url: str) -> None:
    ctx = mp.get_context("spawn")  # no inherited connections or locks
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(db_url, w, barrier)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]

    database = Database(db_url)
    with database.session(write=False) as s:
        assert repo.done_item_ids(s, "run1") == {str(i) for i in range(N_ITEMS)}
        assert len(repo.item_results(s, "run1")) == N_ITEMS
        run = repo.get_run(s, "run1")
        assert run is not None and run.elapsed_s == 2.0 and run.status == "finished"
        assert len(repo.list_models(s)) == 1
    database.dispose()
