"""`evals score --suite longbench --pred DIR`: score existing prediction files without a model."""

from __future__ import annotations

from pathlib import Path

import typer

from evals.cli.app import app
from evals.cli.options import JsonOpt, path_value, split_csv, write_json_atomic
from evals.registry import all_capabilities

# Suites whose prediction files (in the benchmark's own layout) can be scored offline.
SCORABLE = [name for name, caps in all_capabilities().items() if caps.scores_files]


@app.command("score")
def score(
    suite: str = typer.Option(..., "--suite", help=f"Suite whose prediction files to score ({' | '.join(SCORABLE)})."),
    pred: Path = typer.Option(
        ..., "--pred", parser=path_value, help="Folder of official-layout prediction files, e.g. pred/MODEL."
    ),
    json_out: JsonOpt = None,
    tasks: str | None = typer.Option(None, "--tasks", help="Comma-separated datasets (default: every known file)."),
    by_length: bool = typer.Option(
        False, "--by-length", help="Also score the LongBench-E length buckets 0-4k/4-8k/8k+ (official eval.py --e)."
    ),
) -> None:
    """Score existing prediction files (no model is loaded)."""
    from rich.console import Console

    from core.errors import UserError
    from evals.registry import get_suite

    if suite not in SCORABLE:
        raise UserError(f"suite {suite!r} cannot be scored from prediction files; available: {', '.join(SCORABLE)}")
    doc = get_suite(suite).score_files(pred, split_csv(tasks), Console(), by_length=by_length)
    if json_out is not None:
        try:
            write_json_atomic(json_out, doc)
        except OSError as exc:
            raise UserError(f"{json_out}: cannot write: {exc}") from None
