"""Default hyper-parameters (PROTOCOLS.md §6) as dataclasses, plus the DeepSpeed configs we ship.

Precedence everywhere: dataclass default < `--config FILE` (JSON or TOML) < explicit CLI flag.
The defaults are the seeds' published values; the tiny-model presets used by `make candidates`
and the tests override only what a 1.5M-parameter model on 50 KB of text needs (see `TINY_*`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent
DEEPSPEED_CONFIGS = {"zero2": CONFIG_DIR / "ds_zero2.json", "zero3": CONFIG_DIR / "ds_zero3.json"}

# All linear projections of a Llama block: CLA2 run_pt.sh/run_sft.sh `lora_trainable` and FA's
# finetune_lora.sh `target_modules` list exactly these seven.
LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class LoraParams:
    # CLA2 run_pt.sh / run_sft.sh: lora_rank=64, lora_alpha=128 (scale alpha/r = 2), dropout 0.05.
    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: tuple[str, ...] = LLAMA_LINEAR
    # CLA2 trains embed_tokens and lm_head fully because new Chinese pieces start untrained; we
    # switch this on automatically when the tokenizer is larger than the base vocabulary
    # ("auto"), or force it with an explicit list / an empty list.
    modules_to_save: tuple[str, ...] | str = "auto"


@dataclass
class TrainParams:
    """One training run. Defaults = CLA2 run_sft.sh unless a comment says otherwise."""

    learning_rate: float = 1e-4  # run_sft.sh lr=1e-4 (run_pt.sh uses 2e-4, see PRETRAIN_DEFAULTS)
    weight_decay: float = 0.0  # run_sft.sh 0 (run_pt.sh 0.01)
    warmup_ratio: float = 0.03  # run_sft.sh 0.03 (run_pt.sh 0.05); cosine decay after warm-up
    min_lr_ratio: float = 0.0  # cosine to zero, as transformers' cosine schedule does
    batch_size: int = 1  # per_device_train_batch_size 1 in both seeds
    grad_accum: int = 8  # gradient_accumulation_steps 8 in both seeds
    max_length: int = 512  # max_seq_length / block_size 512 (CLA2)
    epochs: float = 1.0  # CLA2: 1 epoch (FA's SFT script uses 10)
    steps: int | None = None  # optimizer steps; overrides epochs when set
    max_grad_norm: float = 1.0  # transformers' default, used by both seeds
    seed: int = 42  # FA finetune_lora.sh --seed 42
    adam_betas: tuple[float, float] = (0.9, 0.999)  # transformers' AdamW defaults
    # Attention dropout while training (None = the checkpoint's own). The tiny base was trained
    # with 0.1 and saved with 0.0; continuing without it over-fits the 50 KB corpus quickly.
    attention_dropout: float | None = None
    lora: LoraParams = field(default_factory=LoraParams)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain JSON (tuples become lists), as stored in the lineage's hparams."""
        as_json: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self)))
        return as_json


def pretrain_defaults() -> TrainParams:
    """CLA2 run_pt.sh: lr 2e-4, weight decay 0.01, warm-up 5 %, block 512."""
    return TrainParams(learning_rate=2e-4, weight_decay=0.01, warmup_ratio=0.05)


def sft_defaults() -> TrainParams:
    return TrainParams()


# Tiny presets (make candidates, tests). The tiny base was trained at lr 1e-3 with batches of
# 8 x 128 tokens; continued pre-training a little below that LR keeps improving held-out loss
# without re-memorising the corpus, and 128-token blocks match its training. LoRA r=8 because
# r=64 would exceed the 128-wide hidden size of every projection (r must stay well below it).
TINY_PRETRAIN: dict[str, Any] = {
    "learning_rate": 3e-4, "weight_decay": 0.1, "batch_size": 8, "grad_accum": 1, "max_length": 128,
    "steps": 60, "warmup_ratio": 0.1, "seed": 0, "attention_dropout": 0.1,
}  # fmt: skip
TINY_SFT: dict[str, Any] = {
    "learning_rate": 1e-3, "batch_size": 8, "grad_accum": 1, "max_length": 256, "steps": 40,
    "warmup_ratio": 0.1, "seed": 0,
}  # fmt: skip
TINY_LORA: dict[str, Any] = {"r": 8, "alpha": 16}


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a JSON or TOML hyper-parameter file: flat TrainParams keys plus an optional `lora` table."""
    from core.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (ValueError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot parse ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of hyper-parameters")
    return data


def apply_overrides(params: TrainParams, overrides: dict[str, Any], *, source: str) -> TrainParams:
    """Return `params` with `overrides` applied (None values skipped); unknown keys are errors."""
    from core.errors import UserError

    names = {f.name for f in dataclasses.fields(TrainParams)} - {"lora"}
    lora_names = {f.name for f in dataclasses.fields(LoraParams)}
    top: dict[str, Any] = {}
    lora: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "lora" and isinstance(value, dict):
            for k, v in value.items():
                if k not in lora_names:
                    raise UserError(f"{source}: unknown LoRA setting {k!r} (one of {', '.join(sorted(lora_names))})")
                if v is not None:
                    lora[k] = tuple(v) if isinstance(v, list) else v
        elif key.startswith("lora_") and key[5:] in lora_names:
            lora[key[5:]] = tuple(value) if isinstance(value, list) else value
        elif key in names:
            top[key] = tuple(value) if isinstance(value, list) else value
        else:
            raise UserError(f"{source}: unknown hyper-parameter {key!r} (one of {', '.join(sorted(names))}, lora.*)")
    new_lora = dataclasses.replace(params.lora, **lora)
    return dataclasses.replace(params, **top, lora=new_lora)
