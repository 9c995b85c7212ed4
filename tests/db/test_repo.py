from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from db import Database, repo


def make_item(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "item_id": f"subj/{i}",
        "subject": "subj",
        "pred": "A",
        "gold": "A" if i % 2 == 0 else "B",
        "correct": i % 2 == 0,
        "score": float(i % 2 == 0),
        "extra": {"choice_logprobs": [-0.1, -2.0], "答案": "甲"},
    }
    row.update(over)
    return row


def start(database: Database, run_id: str = "abc123", suite: str = "ceval", model: str = "m1") -> int:
    with database.session() as s:
        m = repo.upsert_model(s, model, f"/ckpt/{model}")
        repo.start_run(s, run_id, suite, m.id, {"shots": 5}, {"torch": "2.4"})
        return m.id


def test_model_upsert_roundtrip(database: Database) -> None:
    with database.session() as s:
        m = repo.upsert_model(s, "qwen-0.5b", "/a", params={"n_params": 494_000_000})
        assert m.id is not None and m.backend == "hf" and m.quantization == "none"
    with database.session() as s:
        m2 = repo.upsert_model(s, "qwen-0.5b", "/b", backend="vllm", quantization="int8")
        assert m2.id == m.id
    with database.session(write=False) as s:
        got = repo.get_model(s, "qwen-0.5b")
        assert got is not None
        assert (got.path, got.backend, got.quantization, got.params) == (
            "/b",
            "vllm",
            "int8",
            {"n_params": 494_000_000},
        )
        assert repo.get_model(s, "nope") is None
        assert [x.name for x in repo.list_models(s)] == ["qwen-0.5b"]
    with database.session() as s, pytest.raises(TypeError):
        repo.upsert_model(s, "x", "/x", colour="red")


def test_run_lifecycle(database: Database) -> None:
    start(database)
    with database.session() as s:
        repo.fail_run(s, "abc123", "CUDA OOM", elapsed_s=2.5)
    with database.session() as s:
        run = repo.get_run(s, "abc123")
        assert run is not None and (run.status, run.error, run.elapsed_s) == ("failed", "CUDA OOM", 2.5)
        assert run.finished_at is not None
        repo.start_run(s, "abc123", "ceval", run.model_id, {"shots": 5}, {"torch": "2.5"})
    with database.session() as s:
        repo.finish_run(s, "abc123", elapsed_s=4.0, n_items=10)
    with database.session() as s:
        run = repo.get_run(s, "abc123")
        assert run is not None
        assert (run.status, run.error, run.n_items, run.elapsed_s) == ("finished", None, 10, 6.5)
        assert run.versions == {"torch": "2.5"} and run.config == {"shots": 5}
        assert run.model.name == "m1"
    with database.session() as s, pytest.raises(LookupError):
        repo.finish_run(s, "missing", 1.0, 1)


def test_item_results_idempotent(database: Database) -> None:
    start(database)
    with database.session() as s:
        repo.add_item_results(s, "abc123", [make_item(i) for i in range(5)])
    with database.session() as s:  # a re-sent batch, overlapping and with a duplicate inside
        repo.add_item_results(s, "abc123", [make_item(3, pred="Z"), make_item(5), make_item(5), make_item(6)])
        repo.add_item_results(s, "abc123", [])
    with database.session(write=False) as s:
        rows = repo.item_results(s, "abc123")
        assert [r.item_id for r in rows] == [f"subj/{i}" for i in range(7)]
        assert rows[3].pred == "A"  # first write wins
        assert rows[0].extra == {"choice_logprobs": [-0.1, -2.0], "答案": "甲"}
        assert rows[1].correct is False and rows[0].score == 1.0
        assert repo.done_item_ids(s, "abc123") == {f"subj/{i}" for i in range(7)}
        assert repo.done_item_ids(s, "other") == set()


def test_item_defaults(database: Database) -> None:
    start(database)
    with database.session() as s:
        repo.add_item_results(s, "abc123", [{"item_id": "x"}])
    with database.session() as s:
        (row,) = repo.item_results(s, "abc123")
        assert (row.subject, row.pred, row.correct, row.extra) == ("", None, None, {})


def test_restart_keeps_items(database: Database) -> None:
    model_id = start(database)
    with database.session() as s:
        repo.add_item_results(s, "abc123", [make_item(i) for i in range(3)])
        repo.fail_run(s, "abc123", "killed")
    with database.session() as s:
        run = repo.start_run(s, "abc123", "ceval", model_id, {"shots": 5}, {"v": 2})
        assert (run.status, run.error, run.finished_at) == ("running", None, None)
    with database.session() as s:
        assert len(repo.done_item_ids(s, "abc123")) == 3


def test_metrics_replace(database: Database) -> None:
    start(database)
    with database.session() as s:
        repo.replace_metrics(s, "abc123", [("acc", "", 0.4), ("acc", "stem", 0.3)])
    with database.session() as s:
        repo.replace_metrics(s, "abc123", [("acc", "", 0.5), ("acc", "humanities", 0.6)])
    with database.session() as s:
        assert repo.run_metrics(s, "abc123") == {("acc", ""): 0.5, ("acc", "humanities"): 0.6}
        assert repo.run_metrics(s, "nope") == {}


def test_get_run_prefix(database: Database) -> None:
    start(database, "ab12cd")
    start(database, "ab34ef")
    start(database, "ff_%00")
    with database.session() as s:
        assert repo.get_run(s, "ab12").id == "ab12cd"  # type: ignore[union-attr]
        assert repo.get_run(s, "ab34ef").id == "ab34ef"  # type: ignore[union-attr]
        assert repo.get_run(s, "zz") is None
        assert repo.get_run(s, "") is None
        assert repo.get_run(s, "ff_%").id == "ff_%00"  # type: ignore[union-attr]
        assert repo.get_run(s, "f%") is None  # LIKE wildcards are literal
        with pytest.raises(ValueError, match="ambiguous.*ab12cd.*ab34ef"):
            repo.get_run(s, "ab")


def test_list_runs_filters_newest_first(database: Database) -> None:
    start(database, "r1", suite="ceval", model="m1")
    start(database, "r2", suite="cmmlu", model="m1")
    start(database, "r3", suite="ceval", model="m2")
    with database.session() as s:
        repo.finish_run(s, "r3", 1.0, 1)
    with database.session() as s:
        assert [r.id for r in repo.list_runs(s)] == ["r3", "r2", "r1"]
        assert [r.id for r in repo.list_runs(s, suite="ceval")] == ["r3", "r1"]
        assert [r.id for r in repo.list_runs(s, model="m1")] == ["r2", "r1"]
        assert [r.id for r in repo.list_runs(s, status="finished")] == ["r3"]
        assert repo.list_runs(s, suite="ceval", model="m1", status="running")[0].id == "r1"


def test_session_rolls_back_and_fks_enforced(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as s:
        repo.upsert_model(s, "gone", "/x")
        raise RuntimeError
    with database.session() as s:
        assert repo.get_model(s, "gone") is None
    with pytest.raises(IntegrityError), database.session() as s:
        repo.start_run(s, "orphan", "ceval", 999, {}, {})


def test_cascade_delete(database: Database) -> None:
    start(database)
    with database.session() as s:
        repo.add_item_results(s, "abc123", [make_item(0)])
        run = repo.get_run(s, "abc123")
        s.delete(run)
    with database.session() as s:
        assert repo.item_results(s, "abc123") == []
