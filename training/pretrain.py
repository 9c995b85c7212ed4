"""Continued pre-training (`evals train pretrain`): packed `<s> text </s>` blocks, causal-LM loss on
every token (CLA2 run_clm_pt_with_peft.py style), full fine-tuning by default or LoRA."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from training.common import Log, Trained, train_run
from training.configs import TrainParams, pretrain_defaults

if TYPE_CHECKING:
    from db import Database


def pretrain(
    base: str | Path,
    corpus: Path,
    *,
    params: TrainParams | None = None,
    method: str = "full",
    out: Path | None = None,
    name: str | None = None,
    database: Database | None = None,
    deepspeed: str | None = None,
    progress: bool = True,
    log: Log = print,
) -> Trained:
    """Continue pre-training `base` on `corpus` (.txt/.jsonl file or directory).

    Returns:
        (registered name, output dir, lineage dict).
    """
    return train_run(
        "pretrain", base, corpus, method=method, params=params or pretrain_defaults(), out=out, name=name,
        database=database, deepspeed=deepspeed, progress=progress, log=log,
    )  # fmt: skip
