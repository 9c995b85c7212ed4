"""`evals train ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, JsonOpt, path_value
from evals.cli.preflight import check_output_path

train_app = typer.Typer(
    help="Build candidate checkpoints: tiny, pretrain, sft, merge, tokenizer.", no_args_is_help=True
)
app.add_typer(train_app, name="train")


@train_app.command("tiny")
def tiny(
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", parser=path_value, help="Build into this directory (default: the cached default checkpoint)."
        ),
    ] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", min=1, help="Optimizer steps.")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed for init and batch order.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if a checkpoint is already there.")] = False,
) -> None:
    """Build (or report the cached) tiny Chinese Llama checkpoint and print its path."""
    from core.errors import UserError
    from training import tiny as T

    n_steps = T.DEFAULT_STEPS if steps is None else steps
    custom = steps is not None or seed != 0
    if out is None and custom:
        # The cache holds only the default build; a custom one must go somewhere explicit.
        raise UserError("--steps/--seed need --out (the cache holds the default build only)")
    target = out if out is not None else T.default_tiny_path()

    if T.is_tiny_checkpoint(target) and not force:
        status = "cached"
    else:
        try:
            if out is None:
                T.default_tiny_dir(rebuild=force)
            else:
                T.build_tiny(target, steps=n_steps, seed=seed)
        except FileExistsError as exc:
            raise UserError(str(exc)) from None
        status = "built"

    info = T.describe_tiny(target)
    meta = info.meta
    typer.echo(f"{status}: {info.path}")
    typer.echo(
        f"params {info.params:,}  size {info.size_bytes / 2**20:.1f} MiB  vocab {meta['vocab_size']}  "
        f"steps {meta['steps']}  seed {meta['seed']}  final loss {info.final_loss:.3f}  "
        f"(initial {meta['initial_loss']:.3f}, held-out {meta['heldout_loss']:.3f})"
    )


# ---------------------------------------------------------------------------------------------
# pretrain / sft / merge / tokenizer (training/). Hyper-parameters: defaults (PROTOCOLS.md §6)
# < --preset tiny < --config FILE < explicit flags.


OutOpt = Annotated[
    Optional[Path], typer.Option("--out", parser=path_value, help="Output dir (default: <cache>/trained/<name>).")
]
NameOpt = Annotated[
    Optional[str], typer.Option("--name", help="Register under this name (default: <base>-<method>-<hash>).")
]
ConfigOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--config", parser=path_value, help="Hyper-parameter file (JSON or TOML; keys as TrainParams, [lora] table)."
    ),
]
PresetOpt = Annotated[
    str, typer.Option("--preset", help="seeds (CLA2 defaults) | tiny (settings for the tiny model on CPU).")
]
DeepspeedOpt = Annotated[
    Optional[str],
    typer.Option("--deepspeed", help="zero2 | zero3: transformers.Trainer + DeepSpeed (needs CUDA and deepspeed)."),
]
StepsOpt = Annotated[Optional[int], typer.Option("--steps", min=1, help="Optimizer steps (overrides --epochs).")]
EpochsOpt = Annotated[Optional[float], typer.Option("--epochs", min=0.0, max=1e6, help="Epochs over the data.")]
LrOpt = Annotated[Optional[float], typer.Option("--lr", min=0.0, max=1.0, help="Peak learning rate.")]
BatchOpt = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Sequences per micro-batch.")]
AccumOpt = Annotated[Optional[int], typer.Option("--grad-accum", min=1, help="Micro-batches per optimizer step.")]
MaxLenOpt = Annotated[
    Optional[int],
    typer.Option(
        "--max-length", "--block-size", min=2, help="Tokens per sequence (longer ones are truncated and counted)."
    ),
]
WarmupOpt = Annotated[
    Optional[float], typer.Option("--warmup-ratio", min=0.0, max=1.0, help="Warm-up fraction of the steps.")
]
WdOpt = Annotated[Optional[float], typer.Option("--weight-decay", min=0.0, max=10.0, help="AdamW weight decay.")]
SeedOpt = Annotated[
    Optional[int], typer.Option("--seed", min=0, max=2**32 - 1, help="Seed for init, data order and dropout.")
]
LoraROpt = Annotated[Optional[int], typer.Option("--lora-r", min=1, help="LoRA rank (seeds: 64).")]
LoraAlphaOpt = Annotated[Optional[int], typer.Option("--lora-alpha", min=1, help="LoRA alpha (seeds: 128).")]
LoraDropOpt = Annotated[
    Optional[float], typer.Option("--lora-dropout", min=0.0, max=1.0, help="LoRA dropout (seeds: 0.05).")
]
MtsOpt = Annotated[
    Optional[str],
    typer.Option("--modules-to-save", help="auto (embed_tokens,lm_head when the vocab grew) | comma list | none."),
]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar with loss and tokens/s.")]


def _params(stage: str, preset: str, config: Optional[Path], flags: dict[str, Any]) -> Any:
    from core.errors import UserError
    from training import configs as C

    params = C.pretrain_defaults() if stage == "pretrain" else C.sft_defaults()
    if preset == "tiny":
        params = C.apply_overrides(
            params,
            {**(C.TINY_PRETRAIN if stage == "pretrain" else C.TINY_SFT), "lora": C.TINY_LORA},
            source="preset tiny",
        )
    elif preset != "seeds":
        raise UserError(f"unknown --preset {preset!r} (seeds | tiny)")
    if config is not None:
        params = C.apply_overrides(params, C.load_config_file(config), source=str(config))
    mts = flags.pop("lora_modules_to_save", None)
    if mts is not None:
        flags["lora_modules_to_save"] = (
            "auto" if mts == "auto" else tuple(m for m in mts.split(",") if m and m != "none")
        )
    if flags.get("epochs") is not None and flags.get("steps") is None:
        flags["steps"] = None
        params.steps = None  # an explicit --epochs wins over a preset's step count
    return C.apply_overrides(params, flags, source="command line")


def _report(name: str, out: Path, lineage: dict[str, Any], json_out: Optional[Path]) -> None:
    from evals.cli.options import write_json_atomic

    typer.echo(f"registered {name}  ->  {out}")
    if lineage.get("steps") and lineage.get("tokens"):
        typer.echo(f"steps {lineage['steps']}  final loss {lineage.get('final_loss')}  tokens {lineage.get('tokens', 0):,}  "
                   f"{lineage.get('tokens_per_s', 0):,.0f} tok/s  engine {lineage.get('engine', '-')}")  # fmt: skip
    if json_out:
        write_json_atomic(json_out, {"name": name, "path": str(out), "lineage": lineage})


# CLI flag -> hyper-parameter field; the shared flags of `pretrain` and `sft` (None = keep the preset's value).
_HPARAM_FLAGS = {
    "steps": "steps",
    "epochs": "epochs",
    "lr": "learning_rate",
    "batch_size": "batch_size",
    "grad_accum": "grad_accum",
    "max_length": "max_length",
    "warmup_ratio": "warmup_ratio",
    "weight_decay": "weight_decay",
    "seed": "seed",
    "lora_r": "lora_r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "modules_to_save": "lora_modules_to_save",
}


def _hparam_flags(values: dict[str, Any]) -> dict[str, Any]:
    return {field: values[flag] for flag, field in _HPARAM_FLAGS.items()}


@train_app.command("pretrain")
def pretrain_cmd(
    base: Annotated[str, typer.Option("--base", help="Base model dir (or registered name).")],
    corpus: Annotated[
        Path,
        typer.Option("--corpus", parser=path_value, help="Corpus: .txt (paragraphs) / .jsonl (`text`) file or dir."),
    ],
    method: Annotated[str, typer.Option("--method", help="full | lora.")] = "full",
    preset: PresetOpt = "seeds",
    config: ConfigOpt = None,
    deepspeed: DeepspeedOpt = None,
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    grad_accum: AccumOpt = None,
    max_length: MaxLenOpt = None,
    warmup_ratio: WarmupOpt = None,
    weight_decay: WdOpt = None,
    seed: SeedOpt = None,
    lora_r: LoraROpt = None,
    lora_alpha: LoraAlphaOpt = None,
    lora_dropout: LoraDropOpt = None,
    modules_to_save: MtsOpt = None,
    out: OutOpt = None,
    name: NameOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Continue pre-training a causal LM on a plain-text corpus; registers the result with its lineage."""
    from evals.cli.options import open_database
    from training.pretrain import pretrain

    check_output_path(json_out)  # before training and registering, not after

    params = _params("pretrain", preset, config, _hparam_flags(locals()))
    n, path, lin = pretrain(base, corpus, params=params, method=method, out=out, name=name, database=open_database(db),
                            deepspeed=deepspeed, progress=progress, log=typer.echo)  # fmt: skip
    _report(n, path, lin, json_out)


@train_app.command("sft")
def sft_cmd(
    base: Annotated[str, typer.Option("--base", help="Base model dir (or registered name).")],
    data: Annotated[
        Path,
        typer.Option(
            "--data", parser=path_value, help="Llama2-Chinese .csv (`text`) or Alpaca .json/.jsonl, or a dir."
        ),
    ],
    method: Annotated[str, typer.Option("--method", help="lora | full.")] = "lora",
    data_format: Annotated[
        Optional[str], typer.Option("--format", help="llama2-csv | alpaca (default: from the suffix).")
    ] = None,
    preset: PresetOpt = "seeds",
    config: ConfigOpt = None,
    deepspeed: DeepspeedOpt = None,
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    grad_accum: AccumOpt = None,
    max_length: MaxLenOpt = None,
    warmup_ratio: WarmupOpt = None,
    weight_decay: WdOpt = None,
    seed: SeedOpt = None,
    lora_r: LoraROpt = None,
    lora_alpha: LoraAlphaOpt = None,
    lora_dropout: LoraDropOpt = None,
    modules_to_save: MtsOpt = None,
    out: OutOpt = None,
    name: NameOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Supervised fine-tuning (loss on answers only); LoRA saves an adapter, full saves a model."""
    from evals.cli.options import open_database
    from training.sft import sft

    check_output_path(json_out)  # before training and registering, not after

    params = _params("sft", preset, config, _hparam_flags(locals()))
    n, path, lin = sft(base, data, method=method, params=params, data_format=data_format, out=out, name=name,
                       database=open_database(db), deepspeed=deepspeed, progress=progress, log=typer.echo)  # fmt: skip
    _report(n, path, lin, json_out)


@train_app.command("merge")
def merge_cmd(
    adapter: Annotated[str, typer.Option("--adapter", help="LoRA adapter dir or registered LoRA model name.")],
    base: Annotated[
        Optional[str], typer.Option("--base", help="Base model dir/name (default: the adapter's base).")
    ] = None,
    out: OutOpt = None,
    name: NameOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Merge a LoRA adapter into its base and register the full model."""
    from evals.cli.options import open_database
    from training.merge import merge

    check_output_path(json_out)  # before training and registering, not after

    n, path, lin = merge(adapter, base=base, out=out, name=name, database=open_database(db), log=typer.echo)
    _report(n, path, lin, json_out)


@train_app.command("tokenizer")
def tokenizer_cmd(
    base: Annotated[str, typer.Option("--base", help="Base model dir (or registered name).")],
    corpus: Annotated[
        Path, typer.Option("--corpus", parser=path_value, help="Chinese corpus (.txt / .jsonl file or dir).")
    ],
    add: Annotated[int, typer.Option("--add", min=1, help="Number of Chinese pieces to add.")],
    out: OutOpt = None,
    name: NameOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Extend the vocabulary with Chinese pieces, resize embeddings, report characters per token."""
    from evals.cli.options import open_database
    from training.tokenizer_ext import extend

    check_output_path(json_out)  # before training and registering, not after

    n, path, lin = extend(base, corpus, add, out=out, name=name, database=open_database(db), log=typer.echo)
    _report(n, path, lin, json_out)
