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
