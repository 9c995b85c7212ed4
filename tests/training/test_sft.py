"""SFT (LoRA and full) on the tiny model: outputs, registration, running by name, pad token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UserError
from training.configs import TINY_LORA, TINY_SFT, apply_overrides, sft_defaults

RES = Path(__file__).resolve().parents[2] / "training" / "resources"


def _params(**kw):
    return apply_overrides(sft_defaults(), {**TINY_SFT, "lora": TINY_LORA, "steps": 3, **kw}, source="test")


@pytest.fixture()
def database(tmp_path):
    from db import open_db

    return open_db(f"sqlite:///{tmp_path / 'sft.db'}")


def test_lora_sft_registers_adapter_and_runs_by_name(tiny_model_dir, database, tmp_path):
    from db import repo
    from evals.cli import main
    from training.sft import sft

    lines: list[str] = []
    name, out, lin = sft(tiny_model_dir, RES / "alpaca_sample.jsonl", method="lora", params=_params(), out=tmp_path / "lora",
                         database=database, progress=False, log=lines.append)  # fmt: skip
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    assert any("no pad token" in x for x in lines)  # the tiny tokenizer has none: handled, reported
    assert lin["modules_to_save"] == [] and lin["hparams"]["lora"]["r"] == 8 and lin["data"]["format"] == "alpaca"
    from training.common import resolve_base

    assert name.startswith(f"{resolve_base(tiny_model_dir).name}-lora-")
    with database.session() as s:
        row = repo.get_model(s, name)
        assert row.adapter_path == str(out) and row.path == str(tiny_model_dir.resolve())
    # runnable by name: base + adapter loaded through the runner hook
    main(["run", "--suite", "ceval", "--model", name, "--limit", "1", "--db", database.url, "--no-progress"])


def test_adapter_changes_runner_outputs(tiny_model_dir, database, tmp_path):
    import torch

    from runners.hf import HFRunner
    from training.sft import sft

    _, out, _ = sft(tiny_model_dir, RES / "alpaca_sample.jsonl", method="lora", params=_params(learning_rate=5e-3),
                    out=tmp_path / "l2", database=None, progress=False, log=lambda *a: None)  # fmt: skip
    base = HFRunner(str(tiny_model_dir), device="cpu")
    tuned = HFRunner(str(tiny_model_dir), device="cpu", adapter_path=str(out))
    ids = torch.tensor([[1, 300, 400, 500]])
    assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)


def test_full_sft_llama2_csv_multiturn(tiny_model_dir, database, tmp_path):
    from training.sft import sft

    name, out, lin = sft(tiny_model_dir, RES / "sft_sample.csv", method="full", params=_params(), out=tmp_path / "full",
                         database=database, progress=False, log=lambda *a: None)  # fmt: skip
    assert (out / "model.safetensors").is_file() and lin["method"] == "full" and lin["data"]["format"] == "llama2-csv"
    assert lin["data"]["n_label_tokens"] < lin["data"]["n_tokens"]  # prompts masked
    assert len(lin["loss_curve"]) == 3
    # saved in the layout transformers 4.x and 5.x both load (training/portable.py)
    tok_cfg = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert tok_cfg["tokenizer_class"] == "LlamaTokenizerFast" and tok_cfg["add_bos_token"] is True
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["rope_theta"] == 10000.0


def test_truncation_reported(tiny_model_dir, tmp_path):
    from training.sft import sft

    lines: list[str] = []
    _, _, lin = sft(tiny_model_dir, RES / "sft_sample.csv", method="full", params=_params(max_length=32, steps=1),
                    out=tmp_path / "t", progress=False, log=lines.append)  # fmt: skip
    assert lin["data"]["truncated"] > 0 and any("truncated" in x for x in lines)


def test_bad_inputs(tiny_model_dir, tmp_path):
    from training.sft import sft

    with pytest.raises(UserError, match="does not exist"):
        sft(tmp_path / "missing", RES / "alpaca_sample.jsonl", progress=False)
    with pytest.raises(UserError, match="unknown --method"):
        sft(tiny_model_dir, RES / "alpaca_sample.jsonl", method="qlora", progress=False)
    (tmp_path / "e.csv").write_text("text\n", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        sft(tiny_model_dir, tmp_path / "e.csv", progress=False)
    notdir = tmp_path / "x"
    notdir.mkdir()
    with pytest.raises(UserError, match="no config.json"):
        sft(notdir, RES / "alpaca_sample.jsonl", progress=False)


def test_oom_becomes_hint(tiny_model_dir, monkeypatch, tmp_path):
    import torch

    from training import loop

    def boom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(loop, "collate", boom)
    from training.sft import sft

    with pytest.raises(loop.TrainingError, match="smaller --batch-size"):
        sft(
            tiny_model_dir,
            RES / "alpaca_sample.jsonl",
            params=_params(steps=1),
            out=tmp_path / "o",
            progress=False,
            log=lambda *a: None,
        )
    assert not (tmp_path / "o").exists()  # nothing half-written
