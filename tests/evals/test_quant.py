"""Quantization suite on the real tiny model and real SQLite (optimum-quanto on CPU)."""

from __future__ import annotations

import math
import sqlite3

import pytest
import torch

from core.errors import UserError
from runners.errors import ModelLoadError
from tests.evals.cli_helpers import ROOT, load_json, run_cli

TEXT = (ROOT / "training" / "resources" / "heldout_zh.txt").read_text(encoding="utf-8")[:400]


def test_quant_table_end_to_end(tiny_model_dir, tmp_path):
    """fp32 / int8 / int4 rows, each an ordinary stored run, with deltas against fp32."""
    corpus = tmp_path / "zh.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    db_file = tmp_path / "q.db"
    out = tmp_path / "quant.json"
    args = (
        "run",
        "--suite",
        "quant",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(corpus),
        "--context",
        "64",
        "--subjects",
        "computer_network",
        "--limit",
        "2",
        "--db",
        f"sqlite:///{db_file}",
        "--no-progress",
    )
    res = run_cli(*args, "--json", str(out))
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert doc["suite"] == "quant" and doc["device"] == "cpu" and doc["reference"] == "fp32"
    assert doc["columns"] == ["ppl", "ceval_0shot", "ceval_5shot"]
    rows = {r["precision"]: r for r in doc["rows"]}
    assert list(rows) == ["fp32", "int8", "int4"]
    fp32, int8, int4 = rows["fp32"], rows["int8"], rows["int4"]
    assert math.isfinite(int8["ppl"]) and math.isfinite(int4["ppl"])
    assert int8["weight_gib"] < fp32["weight_gib"] and int4["weight_gib"] < int8["weight_gib"]
    assert int8["delta"]["ppl"] == pytest.approx(int8["ppl"] / fp32["ppl"] - 1)
    assert int8["delta"]["weight_gib"] == pytest.approx(int8["weight_gib"] / fp32["weight_gib"] - 1)
    assert int4["delta"]["ceval_5shot"] == pytest.approx(int4["ceval_5shot"] - fp32["ceval_5shot"])
    assert fp32["delta"] == {}
    for r in doc["rows"]:
        assert 0 <= r["ceval_0shot"] <= 1 and set(r["run_ids"]) == {"ppl", "ceval_0shot", "ceval_5shot"}
    assert "quantization" in res.stdout and "GiB" in res.stdout
    for r in doc["rows"]:  # the speed column: measured per precision in this run
        assert r["prompt_ms_per_token"] > 0 and r["gen_ms_per_token"] > 0 and r["speed"]["prompt_tokens"] > 1
    assert "ms/token" in res.stdout

    # Every cell is an ordinary finished run whose identity carries the precision (and shows in the DB).
    with sqlite3.connect(db_file) as con:
        runs = dict(con.execute("SELECT id, json_extract(config, '$.quant') FROM runs WHERE status = 'finished'"))
        ppl_metric = con.execute(
            "SELECT value FROM metrics WHERE run_id = ? AND name = 'ppl' AND subset = ''", (int8["run_ids"]["ppl"],)
        ).fetchone()[0]
    for r in doc["rows"]:
        for run_id in r["run_ids"].values():
            assert runs[run_id] == r["quant"]
    assert len({rid for r in doc["rows"] for rid in r["run_ids"].values()}) == 9
    assert ppl_metric == pytest.approx(int8["ppl"])

    # The same command again resumes: same runs, same numbers.
    again = run_cli(*args, "--json", str(tmp_path / "again.json"))
    assert again.returncode == 0, again.stderr
    assert [r["run_ids"] for r in load_json(tmp_path / "again.json")["rows"]] == [r["run_ids"] for r in doc["rows"]]


def test_unsupported_precision_names_what_is_supported(tiny_model_dir, tmp_path):
    from evals.suites.quant import check_precisions

    cpu = torch.device("cpu")
    with pytest.raises(UserError, match=r"^precision fp16 not supported on cpu; supported: fp32, int8, int4$"):
        check_precisions(("fp32", "fp16"), cpu)
    with pytest.raises(UserError, match=r"precision int3 not supported on cpu \(unknown precision\)"):
        check_precisions(("int3",), cpu)
    res = run_cli(
        "run",
        "--suite",
        "quant",
        "--model",
        str(tiny_model_dir),
        "--precisions",
        "fp32,fp16",
        "--db",
        f"sqlite:///{tmp_path / 'x.db'}",
        "--no-progress",
    )
    assert res.returncode == 2
    assert res.stderr.strip() == "error: precision fp16 not supported on cpu; supported: fp32, int8, int4"


def test_runner_quant_errors_and_cuda_without_bitsandbytes(tiny_model_dir, monkeypatch):
    from runners import _quant
    from runners.hf import HFRunner

    with pytest.raises(ModelLoadError, match=r"quantization int3 not supported on cpu; supported: none, int8, int4"):
        HFRunner(str(tiny_model_dir), device="cpu", quant="int3")
    monkeypatch.setattr(_quant, "bnb_available", lambda: False)
    with pytest.raises(
        ModelLoadError,
        match=r"quantization int4 not supported on cuda \(bitsandbytes is not installed\); supported: none",
    ):
        _quant.check_quant("int4", torch.device("cuda"))


@pytest.mark.parametrize("quant", ["int8", "int4"])
def test_quantized_runner_scores_and_measures_real_storage(tiny_model_dir, quant):
    from runners._quant import tensor_bytes
    from runners.hf import HFRunner

    full = HFRunner(str(tiny_model_dir), device="cpu")
    q = HFRunner(str(tiny_model_dir), device="cpu", quant=quant)
    assert q.info.quantization == quant and "quanto" in q.info.extra["quant_method"]
    assert q.info.n_params == full.info.n_params
    # Sizes are the real storage: int8 data + one fp32 scale per output row; int4 = two nibbles per
    # byte + fp32 scale and shift per group.
    proj = q.model.model.layers[0].mlp.down_proj.weight
    n = proj.numel()
    if quant == "int8":
        expected = n + proj.shape[0] * 4
    else:
        group = int(proj.__tensor_flatten__()[1]["group_size"])
        expected = n // 2 + 2 * (n // group) * 4
    assert tensor_bytes(proj) == expected < n * 4
    assert q.info.weight_bytes < full.info.weight_bytes
    ids = [q.bos_token_id, *q.tokenizer(TEXT[:60], add_special_tokens=False)["input_ids"]]
    (lq,), (lf,) = q.token_logprobs([(ids, 1)]), full.token_logprobs([(ids, 1)])  # runs in inference mode
    assert torch.isfinite(lq).all()
    assert abs(float(lq.mean()) - float(lf.mean())) < 0.5  # close to full precision, not equal


def test_lora_model_is_measured_with_its_adapter_and_stored_as_itself(tiny_model_dir, tmp_path):
    """A registered LoRA model goes through `open_runner` in the quant suite: base weights + adapter.

    Its PPL differs from the base model's (the adapter is applied), and its runs carry the adapter's
    identity: the model row is the adapter's, the run config names the adapter and its fingerprint.
    """
    from db import open_db, repo
    from evals.cli import main
    from training.configs import TINY_LORA, TINY_SFT, apply_overrides, sft_defaults
    from training.sft import sft

    database = open_db(f"sqlite:///{tmp_path / 'lora.db'}")
    params = apply_overrides(
        sft_defaults(), {**TINY_SFT, "lora": TINY_LORA, "steps": 3, "learning_rate": 5e-3}, source="test"
    )
    name, adapter, _ = sft(tiny_model_dir, ROOT / "training" / "resources" / "alpaca_sample.jsonl", method="lora",
                           params=params, out=tmp_path / "lora", database=database, progress=False,
                           log=lambda *a: None)  # fmt: skip
    corpus = tmp_path / "zh.txt"
    corpus.write_text(TEXT, encoding="utf-8")

    def quant_ppl(model: str, out: str) -> dict:
        main(["run", "--suite", "quant", "--model", model, "--precisions", "fp32", "--suites", "ppl",
              "--context", "128", "--data", str(corpus), "--db", database.url, "--no-progress",
              "--json", str(tmp_path / out)])  # fmt: skip
        [row] = load_json(tmp_path / out)["rows"]
        return row

    base, tuned = quant_ppl(str(tiny_model_dir), "base.json"), quant_ppl(name, "lora.json")
    assert math.isfinite(base["ppl"]) and math.isfinite(tuned["ppl"])
    assert tuned["ppl"] != pytest.approx(base["ppl"], rel=1e-6)  # the adapter was applied
    assert tuned["run_ids"]["ppl"] != base["run_ids"]["ppl"]

    with database.session() as s:
        run = repo.get_run(s, tuned["run_ids"]["ppl"])
        row = repo.get_model(s, name)
        assert run.model_id == row.id and row.adapter_path == str(adapter)
        assert run.config["model"] == name and run.config["options"]["adapter"] == str(adapter)
        base_run = repo.get_run(s, base["run_ids"]["ppl"])
        assert base_run.config["options"]["adapter"] is None
        assert base_run.config["options"]["model_fingerprint"] != run.config["options"]["model_fingerprint"]
