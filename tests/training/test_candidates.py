"""The candidates loop (quick mode): four registered models with a lineage chain, each runnable."""

from __future__ import annotations


def test_candidates_quick(tmp_path):
    from db import open_db, repo
    from training.candidates import build, heldout_nll
    from training.register import lineage_chain

    database = open_db(f"sqlite:///{tmp_path / 'c.db'}")
    cands = build(database, quick=True, root=tmp_path / "cands", log=lambda *a: None)
    names = [c["name"] for c in cands]
    assert [c["stage"] for c in cands] == ["base", "pretrain", "sft-lora", "sft-full"]
    with database.session() as s:
        for n in names:
            row = repo.get_model(s, n)
            assert row is not None and row.lineage.get("loss_curve"), n
    assert [c["name"] for c in lineage_chain(database, names[2])] == [names[2], names[1], names[0]]
    lora = cands[2]
    nll, n = heldout_nll(lora["path"], "今天天气很好。\n\n我们去公园散步。", adapter_path=lora["adapter_path"])
    assert n > 0 and nll > 0


def test_candidates_measured_through_the_libraries(tmp_path):
    """The application loop evaluates candidates by calling the evals and arena libraries (no CLI subprocess)."""
    from db import arena_repo, open_db, repo
    from evals.cli.candidates import answer, evaluate
    from training.candidates import build

    database = open_db(f"sqlite:///{tmp_path / 'c.db'}")
    cands = build(database, quick=True, root=tmp_path / "cands", log=lambda *a: None)[:3]  # base, pt, LoRA
    table = evaluate(cands, database, quick=True, log=lambda *a: None)
    assert set(table) == {c["name"] for c in cands}
    assert all(0 <= row["ceval"] <= 1 and row["ppl"] > 1 for row in table.values())
    assert table[cands[2]["name"]]["ppl"] != table[cands[1]["name"]]["ppl"]  # the LoRA adapter is applied
    answer([c["name"] for c in cands], database, limit=1, quick=True)
    with database.session() as s:
        runs = repo.list_runs(s, status="finished")
        assert sorted(r.suite for r in runs) == ["ceval"] * 3 + ["ppl"] * 3
        assert len({model_id for _, model_id, _ in arena_repo.newest_answer_ids(s)}) == 3  # every candidate answered
