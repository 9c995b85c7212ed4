"""`evals arena ...` commands (being built)."""

from __future__ import annotations

import typer

from evals.cli.app import app

arena_app = typer.Typer(help="arena commands", no_args_is_help=True)
app.add_typer(arena_app, name="arena")
