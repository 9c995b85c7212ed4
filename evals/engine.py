"""The run engine: plan -> resume from stored items -> predict the rest chunk by chunk -> aggregate.

Every chunk of item results is committed as soon as it is computed, keyed by (run hash, item key),
so an interrupted run loses at most one chunk and the same command finishes only what is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from core.model_spec import ModelSpec
from evals.config import RunConfig
from evals.registry import get_suite
from evals.suite_api import ItemRow, Plan, PlanItem, Suite, SuiteOptions, stored_row

if TYPE_CHECKING:
    from rich.console import Console

    from db import Database
    from runners import Runner


@dataclass(slots=True)
class RunOutcome:
    run_id: str
    suite: str
    model: str
    backend: str
    split: str
    shots: int
    metrics: dict[str, Any]
    items: list[dict[str, Any]]
    n_items: int
    computed: int  # items computed in this invocation (the rest came from the store)
    elapsed_s: float  # wall time of this invocation
    compute_s: float  # time spent computing items in this invocation
    db_url: str
    config: dict[str, Any]
    model_info: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        return self.computed / self.compute_s if self.compute_s > 0 else 0.0

    def document(self) -> dict[str, Any]:
        """The stable `--json` document of DESIGN.md."""
        return {
            "run_id": self.run_id,
            "suite": self.suite,
            "model": self.model,
            "backend": self.backend,
            "split": self.split,
            "shots": self.shots,
            "metrics": self.metrics,
            "n_items": self.n_items,
            "elapsed_s": round(self.elapsed_s, 3),
            "items_per_s": round(self.items_per_s, 3),
            "config": self.config,
            "items": self.items,
        }


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, str, float]]:
    """{"accuracy": .4, "by_category": {"STEM": .3}} -> [("accuracy","",.4), ("by_category","STEM",.3)]."""
    rows: list[tuple[str, str, float]] = []
    for key, value in metrics.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            rows.append((key, prefix, float(value)) if prefix else (key, "", float(value)))
        elif isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    rows.append((key, f"{prefix}{sub}", float(v)))
                elif isinstance(v, dict):
                    rows += [(key, f"{prefix}{sub}/{s}", float(x)) for s, x in v.items() if isinstance(x, (int, float))]
    return rows


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for pkg in ("leitai", "torch", "transformers", "vllm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def run_config(
    suite_name: str, plan: Plan[Any, Any], opts: SuiteOptions, model: ModelSpec, *, backend: str, dtype: str, quant: str
) -> RunConfig:
    """The identity of a run of `plan` (its `run_hash()` is the run id)."""
    return RunConfig(
        suite=suite_name, model=model.name, model_path=model.path, backend=backend, dtype=dtype, quant=quant,
        split=plan.split, shots=opts.shots, subjects=tuple(opts.subjects), limit=opts.limit, chat=opts.chat,
        template=opts.template if opts.chat else "none", scoring=plan.identity.get("scoring", opts.scoring),
        prompt_version=plan.prompt_version, data_fingerprint=plan.data_fingerprint,
        options={**plan.identity, "model_fingerprint": model.fingerprint, "adapter": model.adapter_path},
    )  # fmt: skip


def execute(
    suite_name: str,
    opts: SuiteOptions,
    model: ModelSpec,
    *,
    database: Database,
    backend: str = "hf",
    dtype: str = "auto",
    quant: str = "none",
    batch_size: int = 8,
    progress: bool = True,
    runner: Runner | None = None,
    console: Console | None = None,
    runner_kwargs: Mapping[str, Any] | None = None,
    shard: tuple[int, int] | None = None,
    shared_runner: Callable[[], Runner] | None = None,
) -> RunOutcome:
    """Run (or resume) one suite on one model and store everything through `db/`.

    Args:
        runner: an already loaded runner to reuse (tests, the quantization suite); loaded lazily otherwise,
            and not at all when every item is already stored.
        runner_kwargs: extra keyword arguments for `runners.open_runner` (device, base_url, ...).
        shared_runner: gives a runner the caller owns and keeps open across runs (`evals sweep` loads each
            model once this way); called only when items are missing, never closed here. Ignored by a suite
            that loads the model itself.
        shard: (i, n): a data-parallel worker (evals.parallel) computes only shard i of n and leaves
            aggregating and finishing the run to its parent; the returned outcome has no metrics.
    """
    from db import repo

    t0 = time.perf_counter()
    suite = get_suite(suite_name)
    caps = suite.capabilities
    if caps.composite:
        raise ValueError(f"suite {suite_name} runs other suites: call its orchestrate(), not execute()")
    plan = suite.plan(opts)  # validates the data before anything is written
    if not plan.items:  # a header-only file or a filter matching nothing: never a "finished" empty run
        from core.errors import UserError

        raise UserError(f"{suite_name}: no items to evaluate in the data (check --data, --subjects and --split)")
    cfg = run_config(suite_name, plan, opts, model, backend=backend, dtype=dtype, quant=quant)
    run_id = cfg.run_hash()
    done = database.retry_once(lambda s: repo.done_item_ids(s, run_id), write=False)
    todo = [it for it in plan.items if it.key not in done]
    if shard is not None:
        from evals.parallel import shard_keys

        mine = shard_keys(plan.items, *shard, batch_size=batch_size)
        todo = [it for it in todo if it.key in mine]

    model_info: dict[str, Any] = {}
    # The model handle predict() gets: a loaded runner, or the stand-in of a suite that loads the model itself.
    handle: Any = runner
    if todo and handle is None and shared_runner is not None and not caps.loads_model:
        handle = shared_runner()
    owned = bool(todo) and handle is None  # a runner loaded here is closed here (vLLM engines are processes)
    if owned and caps.loads_model:
        handle = suite.external_runner(model, backend=backend, dtype=dtype, quant=quant, runner_kwargs=runner_kwargs)
    elif owned:
        from runners import open_runner

        handle = open_runner(replace(model, backend=backend), dtype=dtype, quant=quant, **(runner_kwargs or {}))
    if handle is not None:
        info = handle.info
        model_info = {k: getattr(info, k) for k in info.__dataclass_fields__ if k != "extra"}
        for k in ("gguf", "hub"):  # what the weights file / cache snapshot was (quant type, size, revision)
            if model.params.get(k):
                model_info[k] = model.params[k]

    with database.session() as s:
        # The model row describes the checkpoint: a quantized run's precision and size live in the run's
        # config/versions, and fields we do not know (lineage from training) are never overwritten.
        known: dict[str, Any] = {"base_model": model.base_model, "adapter_path": model.adapter_path}
        if model_info and quant == "none":
            known["params"] = model_info
        stored_path = (model.params.get("hub") or {}).get("spec") or model.path  # a hub id stays one
        m = repo.upsert_model(s, model.name, stored_path, backend=backend, **{k: v for k, v in known.items() if v})
        repo.start_run(s, run_id, suite_name, m.id, cfg.to_dict(), {**_versions(), "model": model_info})

    compute_s = 0.0
    computed = 0
    try:
        if todo:
            computed, compute_s = _predict_and_store(
                suite, handle, plan, todo, database, run_id, batch_size=batch_size, progress=progress, console=console
            )
    except BaseException as exc:
        from core.interrupt import is_interrupt
        from core.scrub import scrub

        stopped = is_interrupt(exc)
        msg = f"interrupted ({exc})" if stopped else scrub(f"{type(exc).__name__}: {exc}")
        try:
            with database.session() as s:
                repo.fail_run(s, run_id, msg, elapsed_s=compute_s, interrupted=stopped)
        except Exception:  # the database itself is gone: the original error is the one to report
            pass
        raise
    finally:
        if owned:
            handle.close()
    if shard is not None:
        return RunOutcome(
            run_id=run_id,
            suite=suite_name,
            model=model.name,
            backend=backend,
            split=plan.split,
            shots=opts.shots,
            metrics={},
            items=[],
            n_items=computed,
            computed=computed,
            elapsed_s=time.perf_counter() - t0,
            compute_s=compute_s,
            db_url=database.url,
            config=cfg.to_dict(),
            model_info=model_info,
        )

    keys = {it.key for it in plan.items}
    with database.session() as s:
        rows = [stored_row(r) for r in repo.item_results(s, run_id) if r.item_id in keys]
    order = {it.key: i for i, it in enumerate(plan.items)}
    rows.sort(key=lambda r: order[r["item_id"]])
    metrics = suite.aggregate(plan, rows)
    with database.session() as s:
        repo.replace_metrics(s, run_id, flatten_metrics(metrics))
        repo.finish_run(s, run_id, elapsed_s=compute_s, n_items=len(rows))
    return RunOutcome(
        run_id=run_id,
        suite=suite_name,
        model=model.name,
        backend=backend,
        split=plan.split,
        shots=opts.shots,
        metrics=metrics,
        items=[suite.item_json(r) for r in rows],
        n_items=len(rows),
        computed=computed,
        elapsed_s=time.perf_counter() - t0,
        compute_s=compute_s,
        db_url=database.url,
        config=cfg.to_dict(),
        model_info=model_info,
    )


def _predict_and_store(
    suite: Suite[Any, Any, Any],
    handle: Any,
    plan: Plan[Any, Any],
    todo: Sequence[PlanItem],
    database: Database,
    run_id: str,
    *,
    batch_size: int,
    progress: bool,
    console: Console | None,
) -> tuple[int, float]:
    from core.progress import item_progress
    from db import repo

    computed = 0
    start = time.perf_counter()
    with item_progress(len(todo), f"{suite.name}", enabled=progress, console=console) as advance:
        rows: list[ItemRow]
        for rows in suite.predict(handle, plan, todo, batch_size=batch_size):
            # idempotent (keyed by run and item), so a dropped connection is retried once
            stored = [dict(r) for r in rows]
            database.retry_once(partial(repo.add_item_results, run_id=run_id, rows=stored))
            computed += len(rows)
            advance(len(rows))
    return computed, time.perf_counter() - start
