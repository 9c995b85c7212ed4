"""`make candidates`: one loop from our shipped data to a leaderboard with real, differing entries.

    tiny base (60 steps) -> continued pre-training on corpus_zh -> LoRA SFT (Alpaca sample)
                                                                 -> full SFT (Llama2-Chinese CSV)
then held-out PPL, C-Eval and arena answer generation for all four.

Why a 60-step base and not the default tiny checkpoint: the default is trained to its held-out
optimum on corpus_zh (more epochs only memorise it; measured: 60 more steps raise held-out NLL
6.398 -> 6.41-6.43), so continued pre-training on the same corpus can only show an improvement
on a base that has not converged on it yet — which is also the situation of a real Llama-2 base
meeting a Chinese corpus. Run: `python -m training.candidates [--db URL] [--quick]`.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from training.configs import TINY_LORA, TINY_PRETRAIN, TINY_SFT, apply_overrides, pretrain_defaults, sft_defaults

RES = Path(__file__).resolve().parent / "resources"
BASE_STEPS = 60
PREFIX = "tiny-s60"


def heldout_nll(model_path: str | Path, text: str, *, adapter_path: str | None = None, context: int = 128) -> tuple[float, int]:
    """Mean next-token NLL (nats) of `text` paragraphs with rolling windows of `context` tokens."""
    from runners.hf import HFRunner

    runner = HFRunner(str(model_path), device="cpu", adapter_path=adapter_path)
    paras = [p for p in text.split("\n\n") if p.strip()]
    res = runner.rolling_loglikelihood(paras, max_length=context)
    n = sum(c for _, c in res)
    return -sum(s for s, _ in res) / n, n


def build(database: Any, *, quick: bool = False, root: Path | None = None, log: Any = print) -> list[dict[str, Any]]:
    """Train and register the four candidates; returns [{name, path, adapter_path, stage}, ...]."""
    from training.pretrain import pretrain
    from training.register import register
    from training.sft import sft
    from training.tiny import build_tiny, cache_dir, describe_tiny, is_tiny_checkpoint

    root = root or cache_dir() / "candidates"
    base_steps = 20 if quick else BASE_STEPS
    base_dir = root / f"tiny-base-s{base_steps}"
    if not is_tiny_checkpoint(base_dir):
        log(f"building the tiny base ({base_steps} steps) ...")
        build_tiny(base_dir, steps=base_steps, progress=not quick)
    meta = describe_tiny(base_dir).meta
    base_name = PREFIX if not quick else "tiny-s20"
    register(database, name=base_name, path=base_dir.resolve(), base_model=None, lineage={
        "name": base_name, "stage": "tiny", "method": "from-scratch", "steps": meta["steps"], "final_loss": meta["final_loss"],
        "loss_curve": [[i + 1, x] for i, x in enumerate(meta.get("loss_curve", []))], "seed": meta["seed"],
        "data": {"path": str(RES / "corpus_zh.txt"), "format": "text", "sha256": meta.get("corpus_sha256")},
        "hparams": {k: meta.get(k) for k in ("batch_size", "block_size", "learning_rate", "weight_decay", "attention_dropout")},
    }, params={"n_params": meta["params"]})  # fmt: skip
    steps = {"pt": 4, "sft": 3} if quick else {}
    out: list[dict[str, Any]] = [{"name": base_name, "path": str(base_dir.resolve()), "adapter_path": None, "stage": "base"}]

    pt_params = apply_overrides(pretrain_defaults(), {**TINY_PRETRAIN, "steps": steps.get("pt", TINY_PRETRAIN["steps"])}, source="candidates")
    pt_name, pt_dir, _ = pretrain(base_dir, RES / "corpus_zh.txt", params=pt_params, name=f"{base_name}-pt",
                                  out=root / f"{base_name}-pt", database=database, progress=not quick, log=log)  # fmt: skip
    out.append({"name": pt_name, "path": str(pt_dir), "adapter_path": None, "stage": "pretrain"})

    sft_over = {**TINY_SFT, "lora": TINY_LORA, "steps": steps.get("sft", TINY_SFT["steps"])}
    lora_name, lora_dir, _ = sft(pt_dir, RES / "alpaca_sample.jsonl", method="lora", params=apply_overrides(sft_defaults(), sft_over, source="candidates"),
                                 name=f"{base_name}-pt-sft-lora", out=root / f"{base_name}-pt-sft-lora", database=database,
                                 progress=not quick, log=log)  # fmt: skip
    out.append({"name": lora_name, "path": str(pt_dir), "adapter_path": str(lora_dir), "stage": "sft-lora"})
    full_over = {**TINY_SFT, "learning_rate": 3e-4, "steps": steps.get("sft", TINY_SFT["steps"])}
    full_name, full_dir, _ = sft(pt_dir, RES / "sft_sample.csv", method="full", params=apply_overrides(sft_defaults(), full_over, source="candidates"),
                                 name=f"{base_name}-pt-sft-full", out=root / f"{base_name}-pt-sft-full", database=database,
                                 progress=not quick, log=log)  # fmt: skip
    out.append({"name": full_name, "path": str(full_dir), "adapter_path": None, "stage": "sft-full"})
    return out


def _cli(args: list[str], db: str | None) -> int:
    cmd = [sys.executable, "-m", "evals.cli", *args, *(["--db", db] if db else [])]
    print("$ evals " + " ".join(args), flush=True)
    return subprocess.call(cmd)


def _has_command(*path: str) -> bool:
    r = subprocess.run([sys.executable, "-m", "evals.cli", *path, "--help"], capture_output=True, text=True)
    return r.returncode == 0


def evaluate(cands: list[dict[str, Any]], db: str | None, *, quick: bool = False, log: Any = print) -> dict[str, dict[str, float]]:
    """Held-out PPL (direct, always), C-Eval and the ppl suite (through the CLI) for every candidate."""
    from evals.registry import get_suite

    from training.tiny import heldout_text

    table: dict[str, dict[str, float]] = {}
    text = heldout_text()
    for c in cands:
        nll, n = heldout_nll(c["path"], text, adapter_path=c["adapter_path"])
        table[c["name"]] = {"heldout_nll": nll, "heldout_ppl": math.exp(nll), "tokens": n}
    try:
        get_suite("ppl")
        has_ppl = True
    except Exception:  # noqa: BLE001 - the ppl suite is optional (another engineer's)
        has_ppl = False
    for c in cands:
        limit = ["--limit", "1"] if quick else []
        _cli(["run", "--suite", "ceval", "--model", c["name"], "--no-progress", *limit], db)
        if has_ppl:  # --context 128: the tiny models are trained on 128-token blocks only
            _cli(["run", "--suite", "ppl", "--data", str(RES / "heldout_zh.txt"), "--context", "128", "--model", c["name"],
                  "--no-progress"], db)  # fmt: skip
    log("\nheld-out PPL (training/resources/heldout_zh.txt, 128-token rolling windows):")
    for name, row in table.items():
        log(f"  {name:32s} NLL {row['heldout_nll']:.4f}  PPL {row['heldout_ppl']:8.1f}  ({row['tokens']} tokens)")
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: EVALS_DB_URL or the user SQLite file)")
    ap.add_argument("--quick", action="store_true", help="a few steps each (smoke test)")
    ap.add_argument("--no-arena", action="store_true", help="skip arena answer generation")
    ap.add_argument("--arena-prompts", type=int, default=16, help="answer the first N bank prompts (0 = all; default 16 keeps the loop to minutes on CPU)")
    a = ap.parse_args(argv)
    from evals.cli.options import open_database

    t0 = time.perf_counter()
    database = open_database(a.db)
    cands = build(database, quick=a.quick)
    evaluate(cands, a.db, quick=a.quick)
    names = ",".join(c["name"] for c in cands)
    if not a.no_arena:
        if _has_command("arena", "generate"):
            _cli(["arena", "bank", "import", "--default"], a.db)  # idempotent; generation needs prompts
            limit = ["--limit", "4"] if a.quick else ["--limit", str(a.arena_prompts)] if a.arena_prompts else []
            _cli(["arena", "generate", "--models", names, "--max-new-tokens", "64", "--no-progress", *limit], a.db)
        else:
            print("arena generate is not available yet; skipped")
    print(f"candidates: {names}  ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
