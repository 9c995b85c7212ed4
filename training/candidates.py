"""`make candidates`: one loop from our shipped data to a leaderboard with real, differing entries.

    tiny base (60 steps) -> continued pre-training on corpus_zh -> LoRA SFT (Alpaca sample)
                                                                 -> full SFT (Llama2-Chinese CSV)
then held-out PPL, C-Eval and arena answer generation for all four.

Why a 60-step base and not the default tiny checkpoint: the default is trained to its held-out
optimum on corpus_zh (more epochs only memorise it; measured: 60 more steps raise held-out NLL
6.398 -> 6.41-6.43), so continued pre-training on the same corpus can only show an improvement
on a base that has not converged on it yet — which is also the situation of a real Llama-2 base
meeting a Chinese corpus. Run it with `make candidates` (`python -m evals.cli.candidates`): the
application layer trains them here, then evaluates them through the evals and arena libraries.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from training.configs import TINY_LORA, TINY_PRETRAIN, TINY_SFT, apply_overrides, pretrain_defaults, sft_defaults

if TYPE_CHECKING:
    from db import Database
    from training.common import Log

RES = Path(__file__).resolve().parent / "resources"
BASE_STEPS = 60
PREFIX = "tiny-s60"


class Candidate(TypedDict):
    """One trained candidate, as `build` returns it (the application measures these)."""

    name: str  # registered model name
    path: str  # checkpoint dir (for a LoRA candidate: its base)
    adapter_path: str | None  # LoRA adapter dir, or None for a full checkpoint
    stage: str  # "base" | "pretrain" | "sft-lora" | "sft-full"


def candidate(name: str, path: Path, stage: str, adapter_path: Path | None = None) -> Candidate:
    return Candidate(
        name=name, path=str(path), adapter_path=str(adapter_path) if adapter_path is not None else None, stage=stage
    )


def heldout_nll(
    model_path: str | Path, text: str, *, adapter_path: str | None = None, context: int = 128
) -> tuple[float, int]:
    """Mean next-token NLL (nats) of `text` paragraphs with rolling windows of `context` tokens."""
    from core.model_spec import ModelSpec
    from runners import open_runner

    spec = ModelSpec(name=Path(model_path).name, path=str(model_path), adapter_path=adapter_path)
    runner = open_runner(spec, device="cpu")
    paras = [p for p in text.split("\n\n") if p.strip()]
    res = runner.rolling_loglikelihood(paras, max_length=context)
    n = sum(c for _, c in res)
    return -sum(s for s, _ in res) / n, n


def build(database: Database, *, quick: bool = False, root: Path | None = None, log: Log = print) -> list[Candidate]:
    """Train and register the four candidates (base, continued pre-training, LoRA SFT, full SFT)."""
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
    out = [candidate(base_name, base_dir.resolve(), "base")]

    pt_params = apply_overrides(
        pretrain_defaults(), {**TINY_PRETRAIN, "steps": steps.get("pt", TINY_PRETRAIN["steps"])}, source="candidates"
    )
    pt_name, pt_dir, _ = pretrain(base_dir, RES / "corpus_zh.txt", params=pt_params, name=f"{base_name}-pt",
                                  out=root / f"{base_name}-pt", database=database, progress=not quick, log=log)  # fmt: skip
    out.append(candidate(pt_name, pt_dir, "pretrain"))

    sft_over = {**TINY_SFT, "lora": TINY_LORA, "steps": steps.get("sft", TINY_SFT["steps"])}
    lora_name, lora_dir, _ = sft(pt_dir, RES / "alpaca_sample.jsonl", method="lora", params=apply_overrides(sft_defaults(), sft_over, source="candidates"),
                                 name=f"{base_name}-pt-sft-lora", out=root / f"{base_name}-pt-sft-lora", database=database,
                                 progress=not quick, log=log)  # fmt: skip
    out.append(candidate(lora_name, pt_dir, "sft-lora", adapter_path=lora_dir))
    full_over = {**TINY_SFT, "learning_rate": 3e-4, "steps": steps.get("sft", TINY_SFT["steps"])}
    full_name, full_dir, _ = sft(pt_dir, RES / "sft_sample.csv", method="full", params=apply_overrides(sft_defaults(), full_over, source="candidates"),
                                 name=f"{base_name}-pt-sft-full", out=root / f"{base_name}-pt-sft-full", database=database,
                                 progress=not quick, log=log)  # fmt: skip
    out.append(candidate(full_name, full_dir, "sft-full"))
    return out
