"""Data parallel evaluation: `evals run --data-parallel N` shards one run's items over N workers.

    parent:  plan (validates the data) -> spawn N workers -> wait -> execute() again, which finds
             every item stored, aggregates and finishes the run as usual
    worker i: execute(shard=(i, N)): its own runner (GPU i, or CPU with cores/N threads), its shard
             of the items, every chunk committed as computed into the same run

Items are dealt round-robin in chunks of consecutive same-subject items, so each worker still sees
runs of prompts sharing a few-shot prefix. The assignment depends only on the plan, never on what
is already stored, so resumed and concurrent workers agree on it. A failing worker marks the run
failed with its error; items the workers finished stay stored and a re-run computes only the rest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from core.model_spec import ModelSpec
from evals.mc.scoring import CHUNK_BATCHES  # deal whole suite chunks, so a shared prefix stays in one worker
from evals.suite_api import PlanItem, SuiteOptions

if TYPE_CHECKING:
    from rich.console import Console

    from db import Database
    from evals.engine import RunOutcome


def shard_keys(items: Sequence[PlanItem], index: int, n: int, *, batch_size: int = 8) -> set[str]:
    """Keys of the items shard `index` of `n` owns.

    Items are grouped by subject (first-seen order), each group cut into chunks of
    `batch_size * CHUNK_BATCHES`, and chunk j of the whole sequence goes to shard j % n.
    """
    if not 0 <= index < n:
        raise ValueError(f"shard {index} of {n} does not exist")
    groups: dict[str, list[PlanItem]] = {}
    for it in items:  # items with a subject (MC questions) are grouped by it; others form one group
        groups.setdefault(str(getattr(it, "subject", "")), []).append(it)
    size = max(1, batch_size * CHUNK_BATCHES)
    chunks = [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]
    return {it.key for j, chunk in enumerate(chunks) if j % n == index for it in chunk}


@dataclass(frozen=True, slots=True)
class WorkerJob:
    """Everything a spawned worker needs (picklable: no open DB, no runner)."""

    suite: str
    opts: SuiteOptions
    model: ModelSpec
    db_url: str
    backend: str
    dtype: str
    quant: str
    batch_size: int
    runner_kwargs: dict[str, Any]
    shard: tuple[int, int]
    gpus: tuple[int, ...]  # () = CPU
    threads: int
    log_exchanges: bool = False  # openai: each worker stores its own request/response log


def plan_devices(n: int, backend: str, runner_kwargs: dict[str, Any]) -> list[tuple[tuple[int, ...], int]]:
    """(GPU ids, CPU threads) per worker: GPUs i*k .. i*k+k-1 when CUDA has >= n*k of them (k = the
    vLLM tensor x pipeline size, else 1), otherwise CPU with cores // n threads each."""
    per = int(runner_kwargs.get("tensor_parallel_size", 1)) * int(runner_kwargs.get("pipeline_parallel_size", 1))
    n_gpus = 0
    if backend != "openai":
        import torch

        n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    threads = max(1, (os.cpu_count() or 1) // n)
    if n_gpus >= n * per:
        return [(tuple(range(i * per, (i + 1) * per)), threads) for i in range(n)]
    if backend == "vllm" and n_gpus:  # with no GPU at all, vLLM's CPU build runs the workers on cores
        raise UserError(f"--data-parallel {n} with vllm needs {n * per} GPUs; {n_gpus} visible")
    cores = os.cpu_count() or 1
    if n > cores:  # one process per core at most: more only multiplies memory (each loads the model)
        raise UserError(
            f"--data-parallel {n} needs {n} GPUs or CPU cores; this machine has {n_gpus} GPUs and {cores} cores"
        )
    return [((), threads) for _ in range(n)]


def _work(job: WorkerJob) -> tuple[int, float]:
    """Worker entry point (a fresh spawned process): pin devices, then execute one shard."""
    if job.gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, job.gpus))
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["OMP_NUM_THREADS"] = str(job.threads)
    if job.backend == "vllm" and not job.gpus:  # vLLM's CPU build pins its threads: give each worker its own cores
        first = job.shard[0] * job.threads
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"{first}-{first + job.threads - 1}"
    from db import open_db
    from evals.engine import execute

    database = open_db(job.db_url)
    kwargs = dict(job.runner_kwargs)
    if job.log_exchanges:  # a hook cannot be pickled into the worker, so each worker makes its own
        from db.exchange_log import exchange_logger

        kwargs["on_exchange"] = exchange_logger(database, job.model.name)
    if job.backend == "hf":
        import torch

        torch.set_num_threads(job.threads)
        kwargs.setdefault("device", "cuda:0" if job.gpus else "cpu")
    outcome = execute(
        job.suite, job.opts, job.model, database=database, backend=job.backend, dtype=job.dtype,
        quant=job.quant, batch_size=job.batch_size, progress=False, runner_kwargs=kwargs, shard=job.shard,
    )  # fmt: skip
    return outcome.computed, outcome.compute_s


def execute_parallel(
    suite_name: str,
    opts: SuiteOptions,
    model: ModelSpec,
    *,
    n: int,
    database: Database,
    backend: str = "hf",
    dtype: str = "auto",
    quant: str = "none",
    batch_size: int = 8,
    runner_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    console: Console | None = None,
    log_exchanges: bool = False,
) -> RunOutcome:
    """Run one suite with `n` worker processes; returns the engine's `RunOutcome` of the merged run.

    Raises:
        UserError: bad `n`, a suite that cannot be sharded, or too few GPUs for vllm.
        Exception: the first failing worker's exception (the run is marked failed with every worker's error).
    """
    import multiprocessing

    from core.interrupt import is_interrupt
    from db import repo
    from evals.engine import execute, run_config
    from evals.registry import get_suite

    if n < 1:
        raise UserError("--data-parallel must be >= 1")
    runner_kwargs = dict(runner_kwargs or {})
    if n == 1:
        return execute(suite_name, opts, model, database=database, backend=backend, dtype=dtype, quant=quant,
                       batch_size=batch_size, progress=progress, console=console, runner_kwargs=runner_kwargs)  # fmt: skip
    suite = get_suite(suite_name)
    if not suite.capabilities.shardable:
        raise UserError(f"suite {suite_name} runs as one job and cannot be split with --data-parallel")
    # Plan in the parent: a bad option fails once, before any spawn; workers re-plan (cheap, deterministic).
    run_id = run_config(suite_name, suite.plan(opts), opts, model, backend=backend, dtype=dtype, quant=quant).run_hash()
    t0 = time.perf_counter()
    devices = plan_devices(n, backend, runner_kwargs)
    # database.url is masked for printing; workers need the real one (password included) to connect.
    db_url = database.engine.url.render_as_string(hide_password=False)
    jobs = [
        WorkerJob(suite_name, opts, model, db_url, backend, dtype, quant, batch_size, runner_kwargs,
                  (i, n), gpus, threads, log_exchanges=log_exchanges and backend == "openai")
        for i, (gpus, threads) in enumerate(devices)
    ]  # fmt: skip
    if console is not None:
        where = ", ".join(f"cuda{list(g)}" if g else f"cpu x{t}" for g, t in devices)
        console.print(f"data parallel: {n} workers ({where})")
    errors: list[str] = []
    first_exc: BaseException | None = None
    stopped: BaseException | None = None
    done: list[tuple[int, float]] = []
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_work, job) for job in jobs]
        for i, f in enumerate(futures):
            try:
                done.append(f.result())
            except BaseException as exc:
                if is_interrupt(exc):  # SIGINT/SIGTERM in the parent: no new shards; running ones store what they did
                    stopped = exc
                    pool.shutdown(wait=False, cancel_futures=True)
                    break
                errors.append(f"worker {i}/{n}: {type(exc).__name__}: {exc}")
                first_exc = first_exc or exc
    if stopped is not None:
        with database.session() as s:
            if repo.get_run(s, run_id) is not None:
                repo.fail_run(s, run_id, "interrupted", interrupted=True)
        raise stopped
    if errors:
        with database.session() as s:
            if repo.get_run(s, run_id) is not None:  # else the workers failed before starting it
                repo.fail_run(s, run_id, "; ".join(errors))
        assert first_exc is not None
        raise first_exc  # the worker's own exception: a user error stays a one-line exit 2
    outcome = execute(suite_name, opts, model, database=database, backend=backend, dtype=dtype, quant=quant,
                      batch_size=batch_size, progress=False, console=console, runner_kwargs=runner_kwargs)  # fmt: skip
    outcome.computed += sum(c for c, _ in done)
    outcome.compute_s = max((s for _, s in done), default=0.0)
    outcome.elapsed_s = time.perf_counter() - t0
    return outcome
