"""`evals sweep`: run a (model × suite × setting) matrix as jobs, locally or on Ray, into one database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, open_database, split_csv

if TYPE_CHECKING:
    from rich.console import Console

    from core.model_spec import ModelSpec
    from db import Database
    from evals.sweep import JobResult, JobState, SweepJob

EXECUTORS = ("local", "ray")
TOKENS_COL = "prompt tokens to compute (est.)"


@app.command()
def sweep(
    models: Annotated[
        str,
        typer.Option(
            "--models",
            help="Comma-separated models: dirs, registered names or hub ids; NAME=PATH registers PATH under NAME.",
        ),
    ],
    suites: Annotated[str, typer.Option("--suites", help="Comma-separated suites, e.g. ceval,cmmlu,ppl.")],
    shots: Annotated[
        str, typer.Option("--shots", help="Few-shot settings of the multiple-choice suites, e.g. 0,5.")
    ] = "0",
    executor: Annotated[
        str, typer.Option("--executor", help="local (one job after another, each model loaded once) | ray.")
    ] = "local",
    ray_address: Annotated[
        Optional[str],
        typer.Option("--ray-address", envvar="RAY_ADDRESS", help="Ray cluster to join (default: start one here)."),
    ] = None,
    gpus_per_job: Annotated[
        float, typer.Option("--gpus-per-job", min=0, max=64, help="ray: GPUs per actor (num_gpus; 0 on CPU nodes).")
    ] = 0.0,
    cpus_per_job: Annotated[
        float,
        typer.Option("--cpus-per-job", min=0.01, max=1024, help="ray: CPUs per actor (num_cpus; its torch threads)."),
    ] = 1.0,
    retries: Annotated[
        int,
        typer.Option(
            "--retries", min=0, help="ray: restarts of an actor that dies; repeated jobs resume from stored items."
        ),
    ] = 1,
    data_parallel: Annotated[
        int,
        typer.Option(
            "--data-parallel", min=1, help="Shard each job's items over N workers (ray: N actors per model, any node)."
        ),
    ] = 1,
    data: Annotated[
        Optional[list[str]],
        typer.Option("--data", help="SUITE=PATH: a suite's data in its official layout (default: embedded sample)."),
    ] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="At most N items per subject.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Prompts per forward pass.")] = 8,
    dtype: Annotated[str, typer.Option(help="auto | float32 | bfloat16 | float16.")] = "auto",
    plan_only: Annotated[
        bool, typer.Option("--plan", help="Print the jobs (items, estimated prompt tokens, status) and run nothing.")
    ] = False,
    db: DbOpt = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Run every (model, suite, setting) job; re-running the same command skips finished runs and resumes the rest."""
    from rich.console import Console

    from core.errors import UserError
    from evals.cli.preflight import check_dtype
    from evals.sweep import SweepSettings, expand_jobs, inspect_jobs, parse_shots

    if executor not in EXECUTORS:
        raise UserError(f"unknown --executor {executor!r} (local | ray)")
    if executor == "ray":
        from evals.sweep.ray_exec import check_address, require_ray

        require_ray()  # said before any model or data is read
        check_address(ray_address)
    check_dtype(dtype)  # every job would fail at its model load otherwise, after the plan is printed
    shot_list = parse_shots(shots)
    data_paths = _data_paths(data or [])
    database = open_database(db, write=not plan_only)
    specs = _resolve_models(split_csv(models), database)
    jobs = expand_jobs(specs, split_csv(suites), shot_list, data=data_paths, limit=limit)
    settings = SweepSettings(dtype=dtype, batch_size=batch_size)
    err = Console(stderr=True, soft_wrap=True)  # log lines whole, however narrow the terminal
    states = inspect_jobs(jobs, database, settings)
    if plan_only:
        _print_plan(states, _wide_console())
        return
    todo = sum(st.status != "done" for st in states)
    err.print(f"sweep: {len(jobs)} jobs ({len(jobs) - todo} done already) on {executor}")
    if executor == "ray":
        from evals.sweep.ray_exec import Placement, run_ray

        placement = Placement(address=ray_address, gpus_per_job=gpus_per_job, cpus_per_job=cpus_per_job,
                              data_parallel=data_parallel, retries=retries)  # fmt: skip
        report = run_ray(jobs, database=database, settings=settings, placement=placement, progress=progress,
                         console=err)  # fmt: skip
        _print_results(report.results, _wide_console())
        if report.failures:  # each was named as it failed
            err.print(f"{len(report.failures)} of {len(jobs)} jobs did not finish; their finished items are stored: "
                      "run the same command again to resume", markup=False, highlight=False)  # fmt: skip
            raise typer.Exit(1)
        return
    from evals.sweep import run_local

    def announce(i: int, job: SweepJob) -> None:  # which job runs now, and what the database had of it
        err.print(f"[{i + 1}/{len(jobs)}] {job.label} ({states[i].status})", markup=False, highlight=False)

    results = run_local(jobs, database=database, settings=settings, data_parallel=data_parallel,
                        progress=progress, console=err, on_job=announce)  # fmt: skip
    _print_results(results, _wide_console())


def _wide_console() -> Console:
    """stdout; piped or captured, wide enough that no model name or run id is cut."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def _data_paths(values: list[str]) -> dict[str, Path]:
    from core.errors import UserError

    out: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UserError(f"--data takes SUITE=PATH (e.g. ceval=/data/ceval), got {value!r}")
        out[name.strip()] = Path(path.strip()).expanduser()
    return out


def _resolve_models(values: tuple[str, ...], database: Database) -> list[ModelSpec]:
    """Each `--models` entry as a ModelSpec; `NAME=PATH` names it. Duplicate names are a user error."""
    from core.errors import UserError
    from db.model_lookup import resolve_model

    specs: list[ModelSpec] = []
    for value in values:
        name, sep, spec = value.partition("=")
        if sep and name and "/" not in name:
            specs.append(resolve_model(spec, name=name, database=database))
        else:
            specs.append(resolve_model(value, database=database))
    other = next((s for s in specs if s.backend != "hf"), None)
    if other is not None:  # a sweep loads checkpoints itself; servers and vLLM engines go through `evals run`
        raise UserError(f"evals sweep runs local checkpoints (hf backend); {other.name} is a {other.backend} model: "
                        "use evals run --backend for it")  # fmt: skip
    names = [s.name for s in specs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise UserError(f"--models names {dup!r} twice; give one of them another name with NAME=PATH")
    return specs


def _print_plan(states: list[JobState], console: Console) -> None:
    from rich.table import Table

    table = Table(title="sweep plan")
    for col in ("model", "suite", "setting", "items", "stored", TOKENS_COL, "status", "run"):
        table.add_column(col, justify="right" if col in ("items", "stored", TOKENS_COL) else "left")
    for st in states:
        tokens = f"{st.est_tokens:,}" if st.tokens_exact else f"~{st.est_tokens:,}"
        table.add_row(st.job.model.name, st.job.suite, st.job.setting, str(st.n_items), str(st.stored), tokens,
                      st.status, st.run_id)  # fmt: skip
    console.print(table)
    total = sum(st.est_tokens for st in states)
    new = sum(st.status != "done" for st in states)
    console.print(f"{len(states)} jobs, {new} to run, about {total:,} prompt tokens to compute")


def _print_results(results: list[JobResult], console: Console) -> None:
    from rich.table import Table

    table = Table(title="sweep results")
    for col in ("job", "run", "items", "computed", "items/s", "result"):
        table.add_column(col)
    for r in results:
        table.add_row(r.label, r.run_id, str(r.n_items), str(r.computed), f"{r.items_per_s:.1f}", r.headline)
    console.print(table)
