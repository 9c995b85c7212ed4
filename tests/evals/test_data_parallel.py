"""`evals run --data-parallel 2` on CPU: two worker processes, one merged run, same answers as one process."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

from evals.parallel import shard_keys
from tests.evals.cli_helpers import load_json, run_cli


def _items(subject_sizes: dict[str, int]) -> list[SimpleNamespace]:
    return [SimpleNamespace(key=f"{s}/{i}", subject=s) for s, n in subject_sizes.items() for i in range(n)]


def test_shards_partition_items_by_subject_chunks():
    items = _items({"law": 5, "physics": 3, "history": 40})
    shards = [shard_keys(items, i, 3, batch_size=2) for i in range(3)]  # chunks of 8 items
    assert set().union(*shards) == {it.key for it in items}
    assert sum(map(len, shards)) == len(items)  # disjoint
    assert {"law/0", "law/4"} <= shards[0] and {"physics/0", "physics/2"} <= shards[1]
    assert "history/0" in shards[2] and "history/8" in shards[0]  # history's chunks dealt on


def test_two_cpu_workers_match_one_process(tiny_model_dir, ceval_sample_dir, tmp_path):
    common = ("run", "--suite", "ceval", "--model", str(tiny_model_dir), "--data", str(ceval_sample_dir),
              "--limit", "3", "--batch-size", "2", "--no-progress")  # fmt: skip
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    db_two = tmp_path / "two.db"
    res = run_cli(*common, "--db", f"sqlite:///{tmp_path / 'one.db'}", "--json", str(one))
    assert res.returncode == 0, res.stderr
    res = run_cli(*common, "--db", f"sqlite:///{db_two}", "--json", str(two), "--data-parallel", "2")
    assert res.returncode == 0, res.stderr
    a, b = load_json(one), load_json(two)
    assert a["run_id"] == b["run_id"] and a["n_items"] == b["n_items"] == 3 * len(a["metrics"]["by_subject"])
    by_key = {(it["subject"], it["id"]): it for it in a["items"]}
    assert {(it["subject"], it["id"]) for it in b["items"]} == set(by_key)
    for it in b["items"]:
        ref = by_key[(it["subject"], it["id"])]
        assert it["pred"] == ref["pred"]
        assert all(abs(it["scores"][k] - ref["scores"][k]) < 1e-4 for k in "ABCD")
    assert b["metrics"]["accuracy"] == a["metrics"]["accuracy"]
    with sqlite3.connect(db_two) as con:
        runs = con.execute("SELECT id, status, n_items FROM runs").fetchall()
        n_rows = con.execute("SELECT COUNT(*) FROM item_results").fetchone()[0]
    assert runs == [(b["run_id"], "finished", b["n_items"])] and n_rows == b["n_items"]


def test_more_workers_than_cores_is_one_line(tmp_path, capsys):
    """A worker per core at most: `--data-parallel 500` on a CPU machine once spawned 500 model-loading
    processes (found by the bad-input property test when the machine ran out of memory)."""
    import os

    import pytest

    from evals.cli import main

    n = (os.cpu_count() or 1) + 1
    with pytest.raises(SystemExit) as exc:
        main(["run", "--suite", "ceval", "--limit", "1", "--data-parallel", str(n), "--no-progress",
              "--db", f"sqlite:///{tmp_path / 'dp.db'}"])  # fmt: skip
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --data-parallel") and "cores" in err and len(err.splitlines()) == 1
