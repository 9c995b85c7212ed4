"""`evals train ...` commands (being built)."""

from __future__ import annotations

import typer

from evals.cli.app import app

train_app = typer.Typer(help="train commands", no_args_is_help=True)
app.add_typer(train_app, name="train")
