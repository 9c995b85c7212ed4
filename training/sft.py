"""Supervised fine-tuning (`evals train sft`): Llama2-Chinese CSV or Alpaca JSON/JSONL, loss only on
answers (prompts labelled -100, every assistant turn of a multi-turn row trained), LoRA or full."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from training.common import Log, Trained, train_run
from training.configs import TrainParams, sft_defaults

if TYPE_CHECKING:
    from db import Database


def sft(
    base: str | Path,
    data: Path,
    *,
    method: str = "lora",
    params: TrainParams | None = None,
    data_format: str | None = None,
    out: Path | None = None,
    name: str | None = None,
    database: Database | None = None,
    deepspeed: str | None = None,
    progress: bool = True,
    log: Log = print,
) -> Trained:
    """Fine-tune `base` on instruction data; returns (registered name, output dir, lineage)."""
    return train_run(
        "sft", base, data, method=method, params=params or sft_defaults(), out=out, name=name, database=database,
        deepspeed=deepspeed, data_format=data_format, progress=progress, log=log,
    )  # fmt: skip
