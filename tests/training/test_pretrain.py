"""Continued pre-training: a measured held-out improvement, registration with lineage, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import UserError
from training.configs import TINY_PRETRAIN, apply_overrides, pretrain_defaults

RES = Path(__file__).resolve().parents[2] / "training" / "resources"


@pytest.fixture(scope="module")
def young_base(tmp_path_factory):
    """A tiny base trained 40 steps: not yet converged on corpus_zh (the default tiny is, so more
    training on the same corpus cannot improve its held-out loss; see training/candidates.py)."""
    from training.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("young") / "tiny40", steps=40, progress=False)


@pytest.fixture()
def database(tmp_path):
    from db import open_db

    return open_db(f"sqlite:///{tmp_path / 'train.db'}")


def test_continued_pretraining_lowers_heldout_nll(young_base, database, tmp_path):
    from training.candidates import heldout_nll
    from training.pretrain import pretrain
    from training.tiny import heldout_text

    params = apply_overrides(pretrain_defaults(), {**TINY_PRETRAIN, "steps": 30, "learning_rate": 1e-3}, source="test")
    name, out, lineage = pretrain(young_base, RES / "corpus_zh.txt", params=params, out=tmp_path / "pt",
                                  database=database, progress=False, log=lambda *a: None)  # fmt: skip
    before, n = heldout_nll(young_base, heldout_text())
    after, _ = heldout_nll(out, heldout_text())
    assert n > 1000
    assert after < before - 0.03, (before, after)
    # registration + lineage
    from db import repo

    with database.session() as s:
        row = repo.get_model(s, name)
        assert row is not None and row.base_model == young_base.name and row.adapter_path is None
        lin = row.lineage
        assert lin["stage"] == "pretrain" and lin["method"] == "full" and lin["steps"] == 30
        assert len(lin["loss_curve"]) == 30 and lin["loss_curve"][0][0] == 1
        assert (
            lin["data"]["sha256"]
            and lin["hparams"]["learning_rate"] == 1e-3
            and lin["final_loss"] < lin["loss_curve"][0][1]
        )
        assert repo.get_model(s, young_base.name) is not None  # the base became the lineage root
    assert (out / "leitai_train.json").is_file() and (out / "model.safetensors").is_file()


def test_pretrain_cli_and_bad_input(tiny_model_dir, tmp_path, capsys):
    from evals.cli import main

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "今天天气很好，我们去公园散步。"}\n' * 30, encoding="utf-8")
    main(["train", "pretrain", "--base", str(tiny_model_dir), "--corpus", str(corpus), "--preset", "tiny",
          "--steps", "2", "--block-size", "16", "--name", "pt-cli", "--out", str(tmp_path / "o"), "--db", db, "--no-progress"])  # fmt: skip
    assert (tmp_path / "o" / "config.json").is_file()
    for args, msg in (
        (["--base", str(tmp_path / "nope"), "--corpus", str(corpus)], "does not exist"),
        (["--base", str(tiny_model_dir), "--corpus", str(tmp_path / "none.txt")], "does not exist"),
    ):
        with pytest.raises(SystemExit) as e:
            main(["train", "pretrain", *args, "--db", db, "--no-progress"])
        assert e.value.code == 2
        assert msg in capsys.readouterr().err
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    from training.pretrain import pretrain

    with pytest.raises(UserError, match="empty"):
        pretrain(tiny_model_dir, tmp_path / "empty.txt", progress=False)


def test_deepspeed_without_cuda_is_one_clear_error(tiny_model_dir, tmp_path):
    import torch

    from training.pretrain import pretrain

    if torch.cuda.is_available():
        pytest.skip("CUDA present: the DeepSpeed path is exercised on GPU hosts")
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        pretrain(tiny_model_dir, RES / "heldout_zh.txt", deepspeed="zero2", progress=False)
    with pytest.raises(UserError, match="zero2 | zero3"):
        pretrain(tiny_model_dir, RES / "heldout_zh.txt", deepspeed="zero9", progress=False)


def test_trainer_path_runs_on_cpu(tiny_model_dir, tmp_path):
    """The transformers.Trainer wiring used with --deepspeed, run here without DeepSpeed."""
    from transformers import AutoModelForCausalLM

    from training.configs import TrainParams
    from training.loop import train_trainer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = [[1, 300, 301, 302, 303, 2]] * 4
    params = TrainParams(steps=2, batch_size=2, grad_accum=1, learning_rate=1e-3)
    res = train_trainer(
        model, ids, ids, params, pad_id=2, output_dir=tmp_path / "t", deepspeed_config=None, progress=False
    )
    assert res.steps == 2 and res.engine == "trainer" and len(res.loss_curve) == 2


def test_deepspeed_configs_are_valid():
    import json

    from training.configs import DEEPSPEED_CONFIGS

    stages = {k: json.loads(p.read_text())["zero_optimization"]["stage"] for k, p in DEEPSPEED_CONFIGS.items()}
    assert stages == {"zero2": 2, "zero3": 3}


def test_config_file_and_unknown_keys(tmp_path):
    from training.configs import load_config_file, sft_defaults

    f = tmp_path / "h.toml"
    f.write_text("learning_rate = 5e-4\nsteps = 7\n[lora]\nr = 4\n", encoding="utf-8")
    p = apply_overrides(sft_defaults(), load_config_file(f), source=str(f))
    assert (p.learning_rate, p.steps, p.lora.r, p.lora.alpha) == (5e-4, 7, 4, 128)
    with pytest.raises(UserError, match="unknown hyper-parameter 'lr_max'"):
        apply_overrides(sft_defaults(), {"lr_max": 1}, source="x")
