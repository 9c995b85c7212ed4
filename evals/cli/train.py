"""`evals train ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from evals.cli.app import app

train_app = typer.Typer(help="Build candidate checkpoints: tiny, pretrain, sft, merge, tokenizer.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("tiny")
def tiny(
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="Build into this directory (default: the cached default checkpoint)."),
    ] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", min=1, help="Optimizer steps.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for init and batch order.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if a checkpoint is already there.")] = False,
) -> None:
    """Build (or report the cached) tiny Chinese Llama checkpoint and print its path."""
    from evals.errors import UserError
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
