"""Serving performance (`evals run --suite perf`): latency and throughput of a model being served.

Against an OpenAI-compatible server (`--backend openai --base-url ...`), a local checkpoint behind vLLM's
own server started for the run (`--backend vllm`: runners.vllm_server) or streamed in-process by
transformers (`--backend hf`), it sends timed streaming chat requests and reports, per load level, time
to first token, time per output token, inter-token latency, end-to-end latency and throughput:

- a closed-loop concurrency sweep: `--concurrency 1,4,16` (N requests always in flight);
- open-loop Poisson arrivals: `--rate 2,8` requests/s (`inf` = all at once; `--concurrency` caps in flight);
- an SLA search: `--sla "p99_ttft<1s"` finds the highest concurrency meeting it (doubling, then bisection).

Prompts are fixed-length synthetic text (`--input-len`, `--output-len`, `--ignore-eos` for servers that
honour it) or a dataset (`--prompts ceval|longbench|bank`). `--warmup N` requests go first and are not
counted; `--duration S` stops sending new requests of a level after S seconds. Every request is a row
of `perf_requests`; the per-level summary is the run's metrics. Each invocation is a new run: a
measurement is never resumed.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from evals.config import RunConfig
from evals.perf.load import Level, StreamerFactory, run_level, timed_request
from evals.perf.metrics import RequestTiming, summarize
from evals.perf.outcome import LevelResult, PerfOutcome
from evals.perf.settings import PerfSettings
from evals.registry import suite
from evals.suite_api import Headline, Suite, SuiteCapabilities, SuiteOptions

if TYPE_CHECKING:
    from rich.console import Console

    from core.model_spec import ModelSpec
    from db import Database
    from evals.perf.prompts import Tokenizer

PERF_OPTIONS = frozenset({
    "concurrency", "rate", "sla", "num_prompts", "input_len", "output_len", "prompts", "duration", "warmup",
    "tokenizer", "ignore_eos",
})  # fmt: skip
BACKENDS = ("openai", "hf", "vllm")
VLLM_SERVER_OPTIONS = ("tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization")


@suite("perf")
class Perf(Suite[Any, Any]):
    """Serving performance: TTFT, TPOT, ITL and throughput over concurrency levels, Poisson arrivals or an SLA search."""

    # No items: `evals run` calls orchestrate(), which drives the load and stores one row per request.
    capabilities = SuiteCapabilities(
        title="Serving performance",
        report="perf",
        headline=Headline("peak_output_throughput", "tok/s", digits=1),
        options=PERF_OPTIONS,
        quantizable=False,
        shardable=False,
        composite=True,
    )

    def orchestrate(
        self,
        opts: SuiteOptions,
        model: ModelSpec | None,
        *,
        database: Database,
        backend: str = "openai",
        dtype: str = "auto",
        batch_size: int = 8,
        progress: bool = True,
        console: Console | None = None,
        runner_kwargs: Mapping[str, Any] | None = None,
    ) -> PerfOutcome:
        """Warm up, run every level (a sweep, or the SLA search's choice), store rows and the summary."""
        if model is None:
            raise UserError("--suite perf needs --model")
        if backend not in BACKENDS:
            raise UserError(f"--suite perf times --backend {' | '.join(BACKENDS)}, not {backend}")
        settings = PerfSettings.from_extra(opts.extra)
        if settings.ignore_eos and backend == "hf":
            raise UserError("--ignore-eos asks a server (vLLM) to skip EOS; the hf backend stops at EOS")
        kwargs = dict(runner_kwargs or {})
        with ExitStack() as stack:
            if backend == "vllm":  # the checkpoint behind vLLM's own OpenAI server, timed like any endpoint
                from runners.vllm_server import vllm_server

                if console is not None:
                    console.print(f"starting vllm serve {model.path} ...")
                options = {k: kwargs[k] for k in VLLM_SERVER_OPTIONS if kwargs.get(k) is not None}
                url = stack.enter_context(vllm_server(model.path, served_name="perf", dtype=dtype, **options))
                served = replace(model, params={**model.params, "base_url": url})
                kwargs = {"base_url": url, "served_name": "perf"}
                settings = dataclasses.replace(settings, tokenizer=settings.tokenizer or model.path)
            else:
                served = model
            factory, tokenizer, close = _streamers(served, backend, dtype, settings, kwargs)
            stack.callback(close)
            prompts = _prompts(settings, opts, tokenizer, database)
            return _measure(self.name, model, backend, dtype, settings, prompts, factory,
                            database=database, progress=progress, console=console)  # fmt: skip


def _streamers(
    model: ModelSpec, backend: str, dtype: str, settings: PerfSettings, kwargs: dict[str, Any]
) -> tuple[StreamerFactory, Tokenizer | None, Callable[[], None]]:
    """(a streamer per worker thread, the tokenizer for fixed-length prompts, what to close at the end)."""
    from evals.perf.prompts import load_tokenizer

    tokenizer = load_tokenizer(settings.tokenizer) if settings.tokenizer else None
    if backend in ("openai", "vllm"):
        from runners.chat_stream import OpenAIChatStreamer
        from runners.openai_backend import API_KEY_ENVS

        base_url = kwargs.get("base_url") or model.params.get("base_url")
        key_env = kwargs.get("api_key_env") or next((e for e in API_KEY_ENVS if os.environ.get(e)), None)
        extra = {"ignore_eos": True} if settings.ignore_eos else None

        def make() -> OpenAIChatStreamer:
            served = kwargs.get("served_name") or model.path
            return OpenAIChatStreamer(str(base_url), served, api_key_env=key_env, extra_body=extra, timeout_s=600)

        probe = make()
        try:
            down = probe.ping()
        finally:
            probe.close()
        if down:
            raise UserError(f"the server does not answer: {down}")
        return make, tokenizer, lambda: None
    from runners import open_runner
    from runners.chat_stream import HFChatStreamer

    runner = open_runner(replace(model, backend="hf"), dtype=dtype)
    streamer = HFChatStreamer(runner, timeout_s=600)
    return (lambda: streamer), tokenizer or getattr(runner, "tokenizer", None), runner.close


def _prompts(settings: PerfSettings, opts: SuiteOptions, tokenizer: Tokenizer | None, database: Database) -> list[str]:
    from evals.perf.prompts import dataset_prompts, fixed_prompts

    levels = settings.sweep() if not settings.sla else [Level(concurrency=settings.search_range()[1])]
    most = max(settings.n_requests(lv) for lv in levels)
    if settings.prompts == "fixed":
        return fixed_prompts(most + settings.warmup, settings.input_len, tokenizer=tokenizer, seed=settings.seed)
    return dataset_prompts(settings.prompts, data=opts.data, database=database, limit=opts.limit)


def _measure(
    suite_name: str,
    model: ModelSpec,
    backend: str,
    dtype: str,
    settings: PerfSettings,
    prompts: list[str],
    factory: StreamerFactory,
    *,
    database: Database,
    progress: bool,
    console: Console | None,
) -> PerfOutcome:
    from core.progress import item_progress
    from db import perf_repo, repo
    from evals.engine import flatten_metrics
    from evals.perf import sla as sla_search
    from runners.base import GenParams

    t0 = time.perf_counter()
    started = datetime.now(UTC).isoformat()
    cfg = RunConfig(
        suite=suite_name, model=model.name, model_path=model.path, backend=backend, dtype=dtype, split="",
        scoring="", prompt_version="perf-1",
        options={**settings.identity(), "model_fingerprint": model.fingerprint, "started": started},
    )  # fmt: skip
    run_id = cfg.run_hash()  # "started" makes every invocation its own run
    with database.session() as s:
        m = repo.upsert_model(s, model.name, model.path, backend=backend)
        repo.start_run(s, run_id, suite_name, m.id, cfg.to_dict(), {"perf": {"prompts": len(prompts)}})
    outcome = PerfOutcome(suite_name, model.name, backend, run_id, settings.identity(), sla=settings.sla,
                          db_url=database.url)  # fmt: skip
    params = GenParams(max_new_tokens=settings.output_len, temperature=0.0)
    objectives = settings.objectives
    errors: list[str] = []

    def run_one(level: Level) -> LevelResult:
        n = settings.n_requests(level)
        # warm-up prompts come first in the list; each level reuses the same prompts after them
        own = [prompts[(settings.warmup + i) % len(prompts)] for i in range(n)]
        with item_progress(n, f"perf {level.label}", enabled=progress, console=console, unit="req") as advance:
            rows, wall, cpu = run_level(factory, own, params, level, duration_s=settings.duration_s,
                                        seed=settings.seed, on_done=lambda _r: advance(1))  # fmt: skip
        summary = {**summarize(rows, wall), "client_cpu_s": cpu}
        errors.extend(r.error for r in rows if r.error)
        stored = [_row_dict(r) for r in rows]
        database.retry_once(lambda s: perf_repo.add_requests(
            s, run_id, level.label, stored, concurrency=level.concurrency, rate=level.rate))  # fmt: skip
        result = LevelResult(level, summary, sla_search.meets(objectives, summary) if objectives else None)
        outcome.levels.append(result)
        return result

    try:
        if settings.warmup:
            warm = factory()
            try:
                for i in range(settings.warmup):
                    timed_request(warm, prompts[i % len(prompts)], params, i, time.perf_counter())
            finally:
                close = getattr(warm, "close", None)  # an OpenAI streamer's connections (hf has none)
                if callable(close):
                    close()
        if objectives:
            start, ceiling = settings.search_range()
            outcome.sla_concurrency = sla_search.search(
                lambda c: bool(run_one(Level(concurrency=c)).met), start=start, ceiling=ceiling
            )
        else:
            for level in settings.sweep():
                run_one(level)
    except BaseException as exc:
        from core.interrupt import is_interrupt

        stopped = is_interrupt(exc)
        with database.session() as s:
            repo.fail_run(s, run_id, f"interrupted ({exc})" if stopped else f"{type(exc).__name__}: {exc}",
                          elapsed_s=time.perf_counter() - t0, interrupted=stopped)  # fmt: skip
        raise
    if not any(r.summary["completed"] for r in outcome.levels):
        first = errors[0] if errors else "no request was sent"
        with database.session() as s:
            repo.fail_run(s, run_id, f"no request succeeded: {first}", elapsed_s=time.perf_counter() - t0)
        raise UserError(f"perf: no request succeeded ({first})")
    outcome.elapsed_s = time.perf_counter() - t0
    with database.session() as s:
        repo.replace_metrics(s, run_id, flatten_metrics(outcome.metrics()))
        n = sum(r.summary["requests"] for r in outcome.levels)
        repo.finish_run(s, run_id, elapsed_s=outcome.elapsed_s, n_items=n)
    return outcome


def _row_dict(r: RequestTiming) -> dict[str, Any]:
    return {
        "seq": r.seq, "start_s": r.start_s, "ok": r.ok, "ttft_s": r.ttft_s, "latency_s": r.latency_s,
        "tpot_s": r.tpot_s, "itl_s": list(r.itl_s), "prompt_tokens": r.prompt_tokens,
        "output_tokens": r.output_tokens, "error": r.error,
    }  # fmt: skip
