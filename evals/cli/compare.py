"""`evals compare RUN_A RUN_B`: paired significance of two stored runs (no torch)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, JsonOpt, open_database, write_json_atomic


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Run id (or unique prefix) of the baseline A.")],
    run_b: Annotated[str, typer.Argument(help="Run id (or unique prefix) of the challenger B.")],
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=1, help="Paired-bootstrap resamples for the CI.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Bootstrap seed (same seed, same interval).")] = 0,
    db: DbOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Is B better than A? Accuracy difference with a 95% paired-bootstrap CI and McNemar's test."""
    from rich.console import Console
    from rich.table import Table

    from core.errors import UserError
    from evals.significance import compare_paired, verdict

    database = open_database(db, write=False)
    with database.session(write=False) as s:
        a, b = _load(s, run_a), _load(s, run_b)
    if a["id"] == b["id"]:
        raise UserError(f"RUN_A and RUN_B are the same run ({a['id'][:10]}); give two different runs")
    if a["suite"] != b["suite"]:
        raise UserError(f"runs are from different suites ({a['suite']} vs {b['suite']}); compare runs of one suite")
    if a["split"] != b["split"]:
        # Item ids are only unique within a split (CMMLU dev and test both count from 0).
        raise UserError(f"runs are on different splits ({a['split']} vs {b['split']}); their items do not pair up")
    try:
        cmp = compare_paired(a["correct"], b["correct"], resamples=bootstrap, seed=seed)
    except ValueError as exc:
        raise UserError(f"cannot compare {a['id'][:10]} and {b['id'][:10]}: {exc}") from None

    err = Console(stderr=True)
    for r in (a, b):
        if r["status"] != "finished":
            err.print(f"[yellow]warning[/]: run {r['id'][:10]} is {r['status']}; comparing the items it has")
    if cmp.only_a or cmp.only_b:
        err.print(
            f"[yellow]warning[/]: the runs scored different item sets; comparing the {cmp.n} items in common "
            f"({cmp.only_a} only in A, {cmp.only_b} only in B)",
            soft_wrap=True,
        )
    table = Table(title=f"{a['suite']} · {a['split']} · paired over {cmp.n} items")
    for col, justify in (
        ("", "left"),
        ("run", "left"),
        ("model", "left"),
        ("shots", "right"),
        ("accuracy %", "right"),
        ("n", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    table.add_row("A", a["id"][:10], a["model"], str(a["shots"]), f"{100 * cmp.accuracy_a:.1f}", str(cmp.n))
    table.add_row("B", b["id"][:10], b["model"], str(b["shots"]), f"{100 * cmp.accuracy_b:.1f}", str(cmp.n))
    out = Console()
    out.print(table)
    # soft_wrap: the verdict is one line that scripts may grep, whatever the terminal width.
    out.print(verdict(cmp), soft_wrap=True)
    out.print(
        f"discordant pairs: A right/B wrong = {cmp.mcnemar.b}, A wrong/B right = {cmp.mcnemar.c} "
        f"(McNemar {cmp.mcnemar.method})",
        soft_wrap=True,
    )
    if json_out:
        write_json_atomic(json_out, _document(a, b, cmp))
        err.print(f"wrote {json_out}")


def _load(s: Any, run_ref: str) -> dict[str, Any]:
    """A run's identity and its scored items (id -> correct), read while the session is open."""
    from db import repo
    from evals.cli.options import find_run

    run = find_run(s, run_ref)
    cfg = run.config or {}
    # Unscored items (no gold label, e.g. C-Eval test) cannot be paired on correctness.
    correct = {r.item_id: bool(r.correct) for r in repo.item_results(s, run.id) if r.correct is not None}
    return {
        "id": run.id,
        "suite": run.suite,
        "model": run.model.name,
        "status": run.status,
        "split": cfg.get("split"),
        "shots": cfg.get("shots", ""),
        "correct": correct,
    }


def _document(a: dict[str, Any], b: dict[str, Any], cmp: Any) -> dict[str, Any]:
    def side(r: dict[str, Any], acc: float) -> dict[str, Any]:
        return {
            "run_id": r["id"],
            "model": r["model"],
            "shots": r["shots"],
            "n_scored": len(r["correct"]),
            "accuracy": acc,
        }

    return {
        "suite": a["suite"],
        "split": a["split"],
        "n": cmp.n,
        "only_a": cmp.only_a,
        "only_b": cmp.only_b,
        "a": side(a, cmp.accuracy_a),
        "b": side(b, cmp.accuracy_b),
        "diff": cmp.diff,
        "ci": {
            "low": cmp.ci_low,
            "high": cmp.ci_high,
            "confidence": cmp.confidence,
            "resamples": cmp.resamples,
            "seed": cmp.seed,
        },
        "mcnemar": {
            "b": cmp.mcnemar.b,
            "c": cmp.mcnemar.c,
            "p_value": cmp.mcnemar.p_value,
            "method": cmp.mcnemar.method,
            "statistic": cmp.mcnemar.statistic,
        },
        "significant": cmp.significant(),
        "alpha": 0.05,
    }
