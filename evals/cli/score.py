"""`evals score --suite longbench --pred DIR`: score existing prediction files without a model."""

from __future__ import annotations

from pathlib import Path

import typer

from evals.cli.app import app
from evals.cli.options import JsonOpt, split_csv, write_json_atomic

# Suites whose predictions can be scored offline.
_SCORABLE = ("longbench",)


@app.command("score")
def score(
    suite: str = typer.Option(..., "--suite", help="Suite whose prediction files to score (longbench)."),
    pred: Path = typer.Option(..., "--pred", help="Folder of official-layout prediction files, e.g. pred/MODEL."),
    json_out: JsonOpt = None,
    tasks: str | None = typer.Option(None, "--tasks", help="Comma-separated datasets (default: every known file)."),
    by_length: bool = typer.Option(
        False, "--by-length", help="Also score the LongBench-E length buckets 0-4k/4-8k/8k+ (official eval.py --e)."
    ),
) -> None:
    """Score existing prediction files (no model is loaded)."""
    from core.errors import UserError

    if suite not in _SCORABLE:
        raise UserError(f"suite {suite!r} cannot be scored from prediction files; available: {', '.join(_SCORABLE)}")
    from rich.console import Console

    from evals.longbench import score_predictions
    from evals.longbench.report import category_row, task_table

    result = score_predictions(pred, split_csv(tasks) or None, by_length=by_length)
    console = Console()
    console.print(category_row(result.zh, "LongBench 中文 (+代码)"))
    if result.en is not None:
        console.print(category_row(result.en, "LongBench English (+code)"))
    console.print(task_table(result))
    avg = "—" if result.avg is None else f"{result.avg:.2f}"
    console.print(f"longbench  avg {avg}  tasks={len(result.by_task)}  n={len(result.items)}  {result.elapsed_s:.1f} s")
    if json_out is not None:
        try:
            write_json_atomic(json_out, result.to_json(pred))
        except OSError as exc:
            raise UserError(f"{json_out}: cannot write: {exc}") from None
