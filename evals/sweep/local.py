"""The local executor: jobs one after another in this process, each model loaded once for all its jobs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.model_spec import ModelSpec
from evals.sweep.plan import SweepJob, SweepSettings

if TYPE_CHECKING:
    from rich.console import Console

    from db import Database
    from evals.engine import RunOutcome
    from runners import Runner


@dataclass(frozen=True, slots=True)
class JobResult:
    """What the sweep reports of one finished job."""

    label: str
    run_id: str
    n_items: int
    computed: int  # items computed by this sweep (the rest were stored already)
    items_per_s: float
    headline: str  # e.g. "acc 40.0%" ("" when the suite declares no headline metric)


def job_result(job: SweepJob, outcome: RunOutcome) -> JobResult:
    from evals.registry import capabilities

    head = capabilities(job.suite).headline
    value = outcome.metrics.get(head.metric) if head else None
    text = head.format(float(value)) if head and isinstance(value, (int, float)) else ""
    return JobResult(job.label, outcome.run_id, outcome.n_items, outcome.computed, outcome.items_per_s, text)


class SharedRunner:
    """One model's runner, opened the first time a job has items to compute and kept for the next jobs."""

    def __init__(self, model: ModelSpec, settings: SweepSettings, runner_kwargs: dict[str, Any] | None = None):
        self.model, self.settings, self.kwargs = model, settings, dict(runner_kwargs or {})
        self._runner: Runner | None = None

    def get(self) -> Runner:
        if self._runner is None:
            from runners import open_runner

            spec = replace(self.model, backend=self.settings.backend)
            self._runner = open_runner(spec, dtype=self.settings.dtype, **self.kwargs)
        return self._runner

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None


def run_local(
    jobs: Sequence[SweepJob],
    *,
    database: Database,
    settings: SweepSettings,
    data_parallel: int = 1,
    progress: bool = True,
    console: Console | None = None,
    on_job: Callable[[int, SweepJob], None] | None = None,
) -> list[JobResult]:
    """Run `jobs` in order (model-major); a job whose run is finished costs a database read, no model load.

    With `data_parallel` > 1 each job shards its items over worker processes (evals.parallel) instead.
    """
    from evals.engine import execute
    from evals.parallel import execute_parallel

    results: list[JobResult] = []
    shared: SharedRunner | None = None
    try:
        for i, job in enumerate(jobs):
            if shared is None or shared.model != job.model:  # the next model: the last one is done with
                if shared is not None:
                    shared.close()
                shared = SharedRunner(job.model, settings)
            if on_job is not None:
                on_job(i, job)
            common: dict[str, Any] = dict(database=database, backend=settings.backend, dtype=settings.dtype,
                                          batch_size=settings.batch_size, progress=progress, console=console)  # fmt: skip
            if data_parallel > 1:
                outcome = execute_parallel(job.suite, job.opts, job.model, n=data_parallel, **common)
            else:
                outcome = execute(job.suite, job.opts, job.model, shared_runner=shared.get, **common)
            results.append(job_result(job, outcome))
    finally:
        if shared is not None:
            shared.close()
    return results
