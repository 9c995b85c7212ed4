"""The Ray executor: jobs as calls on Ray actors, one actor per (model, shard), placed by `num_gpus`.

    driver:  plan (validates every job) -> one actor per model (per shard with --data-parallel N) ->
             each actor's jobs queued on it in order -> as a job's calls return, report it (and, with
             shards, finish it here: every item is stored, so the engine only aggregates)
    actor:   opens the shared database by URL, loads its model the first time a job has items to
             compute and keeps it for the model's next jobs; every chunk of items is committed as computed

An actor that dies (node lost, process killed) loses at most the chunk it was computing: with
`retries` Ray restarts it and repeats its calls, which resume from the stored items; without, its jobs
are reported unfinished and the same command resumes them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from core.model_spec import ModelSpec
from evals.sweep.local import JobResult, SharedRunner, job_result
from evals.sweep.plan import SweepJob, SweepSettings

if TYPE_CHECKING:
    from rich.console import Console

    from db import Database

RAY_MISSING = "--executor ray needs the ray package: pip install 'leitai[ray]'"


def require_ray() -> Any:
    """The ray module, or a one-line user error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


@dataclass(frozen=True, slots=True)
class Placement:
    """Where each actor runs and what it may use."""

    address: str | None = None  # None: start a local Ray instance for this sweep
    gpus_per_job: float = 0.0
    cpus_per_job: float = 1.0
    data_parallel: int = 1
    retries: int = 0  # times a dead actor is restarted (its calls repeated; they resume from stored items)


@dataclass(slots=True)
class SweepReport:
    results: list[JobResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # one line per job that did not finish


class SweepWorker:
    """A Ray actor: one model, one database connection, jobs (or their shards) one after another."""

    def __init__(self, model: ModelSpec, db_url: str, settings: SweepSettings, threads: int, on_gpu: bool):
        os.environ["OMP_NUM_THREADS"] = str(threads)
        from db import open_db

        if not on_gpu:
            import torch

            torch.set_num_threads(threads)
        self.database = open_db(db_url)
        self.settings = settings
        self.shared = SharedRunner(model, settings, {"device": "cuda:0" if on_gpu else "cpu"})

    def pid(self) -> int:
        return os.getpid()

    def run(self, job: SweepJob, shard: tuple[int, int] | None) -> tuple[JobResult | None, int, float]:
        """(result when unsharded, items computed, compute seconds)."""
        from evals.engine import execute

        outcome = execute(
            job.suite, job.opts, job.model, database=self.database, backend=self.settings.backend,
            dtype=self.settings.dtype, batch_size=self.settings.batch_size, progress=False,
            shared_runner=self.shared.get, shard=shard,
        )  # fmt: skip
        return (job_result(job, outcome) if shard is None else None), outcome.computed, outcome.compute_s


def _failure_line(exc: BaseException) -> str:
    from core.scrub import scrub

    cause = getattr(exc, "cause", None) or exc
    text = (str(cause).strip().splitlines() or [""])[0][:200]
    return scrub(f"{type(cause).__name__}: {text}" if text else type(cause).__name__)


def check_address(address: str | None) -> None:
    """A one-line error for a `HOST:PORT` nobody listens on (Ray itself retries for minutes before failing)."""
    import socket

    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray-address takes HOST:PORT (e.g. 10.0.0.5:6379), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise UserError(f"no Ray cluster at {address} ({exc.strerror or exc})") from None


def run_ray(
    jobs: Sequence[SweepJob],
    *,
    database: Database,
    settings: SweepSettings,
    placement: Placement,
    progress: bool = True,
    console: Console | None = None,
) -> SweepReport:
    """Run `jobs` on a Ray cluster; every actor writes to `database` (reached by URL from every node)."""
    import logging

    from core.progress import item_progress
    from core.scrub import remember_url_secrets
    from evals.engine import execute

    ray = require_ray()
    n = placement.data_parallel
    if n > 1:
        from evals.registry import capabilities

        for job in jobs:
            if not capabilities(job.suite).shardable:
                raise UserError(f"suite {job.suite} runs as one job and cannot be split with --data-parallel")
    db_url = database.engine.url.render_as_string(hide_password=False)  # actors connect with the password
    remember_url_secrets(db_url)  # ... and no message of theirs may show it
    init: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if placement.address is None:
        init["include_dashboard"] = False
    check_address(placement.address)
    try:
        ray.init(address=placement.address, **init)
    except (ConnectionError, RuntimeError, ValueError) as exc:  # no cluster there, or a version mismatch
        where = f"at {placement.address}" if placement.address else "here"
        raise UserError(f"cannot start or reach a Ray cluster {where}: {_failure_line(exc)}") from None
    report = SweepReport()
    try:
        worker = ray.remote(SweepWorker)
        threads = max(1, int(placement.cpus_per_job))
        actors: dict[tuple[str, int], Any] = {}
        for job in jobs:
            for i in range(n):
                if (job.model.name, i) not in actors:
                    actors[(job.model.name, i)] = worker.options(
                        num_cpus=placement.cpus_per_job, num_gpus=placement.gpus_per_job,
                        max_restarts=placement.retries, max_task_retries=placement.retries,
                    ).remote(job.model, db_url, settings, threads, placement.gpus_per_job > 0)  # fmt: skip
        pending: dict[Any, tuple[int, int]] = {}
        for idx, job in enumerate(jobs):  # an actor runs its calls in order: its model loads once
            for i in range(n):
                ref = actors[(job.model.name, i)].run.remote(job, (i, n) if n > 1 else None)
                pending[ref] = (idx, i)
        left = {idx: n for idx in range(len(jobs))}
        computed = {idx: (0, 0.0) for idx in range(len(jobs))}
        failed: dict[int, str] = {}
        results: dict[int, JobResult] = {}
        say = console.print if console is not None else (lambda *_, **__: None)
        with item_progress(len(jobs), "sweep on ray", enabled=progress, console=console, unit="jobs") as advance:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                idx, _shard = pending.pop(ready[0])
                try:
                    result, count, secs = ray.get(ready[0])
                except ray.exceptions.RayError as exc:
                    failed.setdefault(idx, _failure_line(exc))
                else:
                    c, s = computed[idx]
                    computed[idx] = (c + count, max(s, secs))
                    if result is not None:
                        results[idx] = result
                left[idx] -= 1
                if left[idx]:
                    continue
                job = jobs[idx]
                if idx in failed:
                    say(f"not finished: {job.label}: {failed[idx]}", markup=False, highlight=False)
                else:
                    if idx not in results:  # sharded: every item is stored; the engine aggregates and finishes
                        outcome = execute(job.suite, job.opts, job.model, database=database, backend=settings.backend,
                                          dtype=settings.dtype, batch_size=settings.batch_size, progress=False)  # fmt: skip
                        count, secs = computed[idx]
                        outcome.computed, outcome.compute_s = count, secs
                        results[idx] = job_result(job, outcome)
                    r = results[idx]
                    say(
                        f"done: {r.label}: {r.computed}/{r.n_items} items computed ({r.items_per_s:.1f} items/s)",
                        markup=False,
                        highlight=False,
                    )
                advance(1)
        report.results = [results[i] for i in sorted(results)]
        report.failures = [f"{jobs[i].label}: {failed[i]}" for i in sorted(failed)]
    finally:
        ray.shutdown()  # a driver's actors end with it; what they stored stays
    return report
