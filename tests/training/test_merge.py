"""Merging a LoRA adapter gives the same logits as base + adapter, and is registered under it."""

from __future__ import annotations

from pathlib import Path

RES = Path(__file__).resolve().parents[2] / "training" / "resources"


def test_merge_equals_adapter(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from db import open_db, repo
    from training.configs import TINY_LORA, TINY_SFT, apply_overrides, sft_defaults
    from training.merge import load_with_adapter, merge
    from training.sft import sft

    database = open_db(f"sqlite:///{tmp_path / 'm.db'}")
    params = apply_overrides(
        sft_defaults(), {**TINY_SFT, "lora": TINY_LORA, "steps": 2, "learning_rate": 5e-3}, source="t"
    )
    lname, adir, _ = sft(tiny_model_dir, RES / "alpaca_sample.jsonl", params=params, out=tmp_path / "a", database=database,
                         progress=False, log=lambda *a: None)  # fmt: skip
    mname, mdir, lin = merge(lname, out=tmp_path / "merged", database=database, log=lambda *a: None)
    ids = torch.tensor([[1, 320, 330, 340, 350]])
    peft_model, _ = load_with_adapter(tiny_model_dir, adir, merge=False)
    merged = AutoModelForCausalLM.from_pretrained(mdir)
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, peft_model(ids).logits, atol=1e-4, rtol=1e-4)
    with database.session() as s:
        row = repo.get_model(s, mname)
        assert row.base_model == lname and row.adapter_path is None and row.lineage["stage"] == "merge"
        assert row.lineage["loss_curve"]  # inherited from the adapter for the dashboard
    from training.register import lineage_chain

    chain = [c["name"] for c in lineage_chain(database, mname)]
    from training.common import resolve_base

    assert chain == [mname, lname, resolve_base(tiny_model_dir).name]
