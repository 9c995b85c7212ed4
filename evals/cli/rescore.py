"""`evals rescore RUN`: recompute a run's metrics from its stored predictions (no model is loaded)."""

from __future__ import annotations

from typing import Annotated

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, JsonOpt, find_run, open_database, write_json_atomic


@app.command()
def rescore(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix), as `evals results` shows it.")],
    db: DbOpt = None,
    json_out: JsonOpt = None,
    by_length: Annotated[
        bool, typer.Option("--by-length", help="LongBench: add the LongBench-E length buckets (0-4k/4-8k/8k+).")
    ] = False,
) -> None:
    """Re-score stored predictions with the current metrics and replace the run's metrics (LongBench)."""
    import time

    from rich.console import Console

    from core.errors import UserError
    from db import repo
    from evals.cli.preflight import check_output_path
    from evals.engine import RunOutcome, flatten_metrics
    from evals.registry import all_capabilities, get_suite
    from evals.report import render_outcome
    from evals.suite_api import stored_row

    check_output_path(json_out)  # before the run's metrics are replaced, not after
    t0 = time.perf_counter()
    database = open_database(db)
    with database.session() as s:
        run = find_run(s, run_id)
        suite = get_suite(run.suite)
        if not suite.capabilities.rescorable:
            able = ", ".join(name for name, caps in all_capabilities().items() if caps.rescorable)
            raise UserError(
                f"run {run.id[:10]} is a {run.suite} run; rescoring from stored predictions is available for: {able}"
            )
        stored = repo.item_results(s, run.id)
        rows = [stored_row(r) for r in stored]
        if not rows:
            raise UserError(f"run {run.id[:10]} has no stored items to rescore")
        rows = suite.rescore_rows(rows)
        metrics = suite.rescored_metrics(rows, by_length=by_length)
        old = repo.run_metrics(s, run.id)
        # Item scores follow the metrics, so the explorer shows what the numbers are made of.
        new_scores = {row["item_id"]: row["score"] for row in rows}
        for obj in stored:
            obj.score = new_scores[obj.item_id]
        repo.replace_metrics(s, run.id, flatten_metrics(metrics))
        cfg = dict(run.config or {})
        status, full_id, model_name = run.status, run.id, run.model.name

    outcome = RunOutcome(
        run_id=full_id,
        suite=run.suite,
        model=model_name,
        backend=str(cfg.get("backend", "")),
        split=str(cfg.get("split", "")),
        shots=int(cfg.get("shots", 0) or 0),
        metrics=metrics,
        items=[suite.item_json(r) for r in rows],
        n_items=len(rows),
        computed=0,
        elapsed_s=time.perf_counter() - t0,
        compute_s=0.0,
        db_url=database.url,
        config=cfg,
    )
    console = Console()
    render_outcome(outcome, console)
    before = old.get(("avg", ""))
    after = metrics.get("avg")

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.2f}"

    note = "" if status == "finished" else f" (run status: {status}; metrics cover the stored items only)"
    console.print(f"rescored {len(rows)} stored items: avg {fmt(before)} -> {fmt(after)}; metrics replaced{note}")
    if json_out is not None:
        try:
            write_json_atomic(json_out, outcome.document())
        except OSError as exc:
            raise UserError(f"{json_out}: cannot write: {exc}") from None
