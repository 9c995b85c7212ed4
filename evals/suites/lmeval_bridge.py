"""`evals run --suite lmeval:<task>`: any lm-evaluation-harness task, run by lm-eval's own harness.

lm-eval builds its prompts, loads its model and scores; we only translate our model spec into its
`model`/`model_args`, run `lm_eval.simple_evaluate` once, and store what it returns as an ordinary
run: one item per logged sample (key "<task>/<doc_id>") plus one "_metrics" item carrying the task's
numeric metrics, so the leaderboard shows lm-eval tasks next to ours. Custom task YAMLs are found
through `--lmeval-include DIR` (opts.extra["lmeval_include"]).

The run identity holds the lm-eval version, a hash of every loaded task's config and a hash of the
evaluated documents, so a changed task or a new lm-eval version makes a new run. The whole task runs
in one call (lm-eval metrics are corpus-level), so there is no partial resume and no data parallel.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from evals.config import canonical_json
from evals.registry import suite_family
from evals.suite_api import ItemRow, Plan, Suite, SuiteCapabilities, SuiteOptions, item_row
from runners import ModelInfo

if TYPE_CHECKING:
    from core.model_spec import ModelSpec

PREFIX = "lmeval:"
METRICS_KEY = "_metrics"
MAX_STORED_CHARS = 2000  # per stored prompt / response text: enough to read, small enough for the DB


@dataclass(frozen=True, slots=True)
class LMEvalItem:
    key: str
    subject: str  # the lm-eval (leaf) task
    doc_id: int | None


@dataclass(slots=True)
class LMEvalModel:
    """What `simple_evaluate` loads: the engine's stand-in for a runner (lm-eval loads the weights)."""

    info: ModelInfo
    lm: str  # lm-eval model type: "hf" | "vllm"
    model_args: str
    device: str | None

    def close(self) -> None:
        """Nothing to release: lm-eval loads and frees the model inside `simple_evaluate`."""


@dataclass(frozen=True, slots=True)
class LMEvalContext:
    manager: Any  # lm_eval.tasks.TaskManager
    opts: SuiteOptions
    leaves: list[str]


@suite_family("lmeval", usage="lmeval:<task>")
class LMEvalSuite(Suite[LMEvalItem, LMEvalContext, LMEvalModel]):
    """Any lm-evaluation-harness task or group, run by lm-eval's own harness (`--suite lmeval:<task>`)."""

    capabilities = SuiteCapabilities(
        title="lm-eval",
        options=frozenset({"lmeval_include"}),
        quantizable=False,  # --quant is not passed to lm-eval
        shardable=False,  # lm-eval metrics are corpus-level: the task runs as one job
        loads_model=True,
    )

    def __init__(self, task: str) -> None:
        if not task:
            raise UserError("give the task after the prefix: --suite lmeval:<task> (e.g. lmeval:arc_easy)")
        self.task = task
        self.name = PREFIX + task

    # ------------------------------------------------------------------ plan

    def plan(self, opts: SuiteOptions) -> Plan[LMEvalItem, LMEvalContext]:
        import lm_eval
        from lm_eval.tasks import TaskManager

        include = opts.extra.get("lmeval_include")
        if include is not None and not include.is_dir():
            raise UserError(f"--lmeval-include {include} is not a directory")
        if opts.shots < 0:
            raise UserError("--shots must be >= 0")
        manager = TaskManager(include_path=str(include) if include else None, verbosity="ERROR")
        if self.task not in manager.all_tasks:
            close = difflib.get_close_matches(self.task, manager.all_tasks, n=5, cutoff=0.6)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise UserError(f"lm-eval has no task or group {self.task!r}{hint} (custom YAMLs: --lmeval-include DIR)")
        try:
            loaded = manager.load([self.task])
        except Exception as exc:  # dataset or config problems surface here, with many types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"lm-eval cannot load task {self.task!r}: {first}") from exc
        leaves = loaded["tasks"]
        items: list[LMEvalItem] = []
        configs: dict[str, Any] = {}
        docs_hash = hashlib.sha256()
        for name, task in sorted(leaves.items()):
            docs = list(task.eval_docs)
            n = len(docs) if opts.limit is None else min(opts.limit, len(docs))
            items += [LMEvalItem(f"{name}/{i}", name, i) for i in range(n)]
            configs[name] = task.dump_config()
            docs_hash.update(canonical_json([name, docs[:n]]).encode())
        items.append(LMEvalItem(METRICS_KEY, self.task, None))
        version = lm_eval.__version__ if hasattr(lm_eval, "__version__") else _pkg_version("lm_eval")
        config_hash = hashlib.sha256(canonical_json(configs).encode()).hexdigest()[:16]
        return Plan(
            items=items,
            split=",".join(
                sorted({str(c.get("test_split") or c.get("validation_split") or "") for c in configs.values()})
            ),
            prompt_version=f"lm-eval {version}",
            data_fingerprint=docs_hash.hexdigest()[:16],
            identity={"lm_eval": version, "task": self.task, "task_config_hash": config_hash, "scoring": "lm-eval"},
            context=LMEvalContext(manager, opts, sorted(leaves)),
        )

    def external_runner(
        self, model: ModelSpec, *, backend: str, dtype: str, quant: str, runner_kwargs: Mapping[str, Any] | None
    ) -> LMEvalModel:
        """Describe the model for lm-eval instead of loading a runner (lm-eval loads it itself)."""
        import torch

        if quant != "none":
            raise UserError("--quant is not passed to lm-eval; run lmeval: suites unquantized")
        cuda = torch.cuda.is_available()
        if dtype == "auto":  # as our hf backend: fp32 on CPU, bf16/fp16 on CUDA
            dtype = ("bfloat16" if torch.cuda.is_bf16_supported() else "float16") if cuda else "float32"
        kwargs = dict(runner_kwargs or {})
        if backend == "hf":
            gguf = Path(model.path)  # a GGUF file: lm-eval's HFLM takes its dir and gguf_file=
            source = f"{gguf.parent},gguf_file={gguf.name}" if model.params.get("format") == "gguf" else model.path
            lm, args, device = (
                "hf",
                f"pretrained={source},dtype={dtype}",
                kwargs.get("device") or ("cuda" if cuda else "cpu"),
            )
        elif backend == "vllm":
            tp = int(kwargs.get("tensor_parallel_size", 1))
            lm, args, device = "vllm", f"pretrained={model.path},dtype={dtype},tensor_parallel_size={tp}", None
        else:
            raise UserError(f"lmeval: suites run on --backend hf or vllm (lm-eval loads the model), not {backend}")
        info = ModelInfo(name=model.name, path=model.path, backend=backend, dtype=dtype, device=device or "cuda",
                         extra={"lm_eval_model": lm, "model_args": args})  # fmt: skip
        return LMEvalModel(info=info, lm=lm, model_args=args, device=device)

    # ------------------------------------------------------------------ predict

    def predict(
        self,
        runner: LMEvalModel,
        plan: Plan[LMEvalItem, LMEvalContext],
        items: Sequence[LMEvalItem],
        *,
        batch_size: int,
    ) -> Iterator[list[ItemRow]]:
        """Run the whole task once and yield every row in one chunk (all or nothing in the store)."""
        import lm_eval

        if not isinstance(runner, LMEvalModel):
            raise UserError("lmeval: suites need the engine to describe the model (got a loaded runner)")
        opts = plan.context.opts
        result = lm_eval.simple_evaluate(
            model=runner.lm, model_args=runner.model_args, tasks=[self.task], num_fewshot=opts.shots,
            limit=opts.limit, batch_size=batch_size, device=runner.device, log_samples=True,
            apply_chat_template=opts.chat, task_manager=plan.context.manager, verbosity="ERROR",
        )  # fmt: skip
        if result is None:
            raise RuntimeError("lm-eval returned no results")
        rows: list[ItemRow] = []
        for leaf, samples in (result.get("samples") or {}).items():
            rows += _sample_rows(leaf, samples)
        metrics = {name: _numeric(values) for name, values in (result.get("results") or {}).items()}
        n_samples = dict(result.get("n-samples") or {})
        rows.append(item_row(METRICS_KEY, subject=self.task, score=_headline(metrics.get(self.task, {})),
                             extra={"metrics": metrics, "n_samples": n_samples}))  # fmt: skip
        yield rows

    # ------------------------------------------------------------------ results

    def aggregate(self, plan: Plan[LMEvalItem, LMEvalContext] | None, rows: Sequence[ItemRow]) -> dict[str, Any]:
        """lm-eval's own numbers: "acc,none" -> acc, "exact_match,strict-match" -> exact_match[strict-match];
        the requested task's at the top, every task's and group's under by_task."""
        stored = next((r for r in rows if r["item_id"] == METRICS_KEY), None)
        results = stored["extra"].get("metrics", {}) if stored else {}
        metrics: dict[str, Any] = {"n_items": sum(1 for r in rows if r["item_id"] != METRICS_KEY)}
        metrics.update(_renamed(results.get(self.task, {})))
        if len(results) > 1:
            metrics["by_task"] = {name: _renamed(values) for name, values in sorted(results.items())}
        return metrics

    def item_json(self, row: ItemRow) -> dict[str, Any]:
        extra = row["extra"]
        if row["item_id"] == METRICS_KEY:
            return {"id": METRICS_KEY, "task": row["subject"], "metrics": extra.get("metrics", {})}
        return {"id": row["item_id"], "task": row["subject"], "pred": row["pred"], "gold": row["gold"],
                "correct": row["correct"], "score": row["score"], "metrics": extra.get("metrics", {})}  # fmt: skip


def _sample_rows(leaf: str, samples: Sequence[dict[str, Any]]) -> list[ItemRow]:
    """One row per document; with several filters the first is the row's, all are in extra."""
    by_doc: dict[int, list[dict[str, Any]]] = {}
    for s in samples:
        by_doc.setdefault(int(s["doc_id"]), []).append(s)
    rows = []
    for doc_id, group in sorted(by_doc.items()):
        first = group[0]
        per_filter = {s.get("filter", "none"): {m: _num(s.get(m)) for m in s.get("metrics", [])} for s in group}
        values = per_filter[first.get("filter", "none")]
        main = next(iter(values.values()), None)
        correct = next((bool(values[m]) for m in ("acc", "exact_match") if values.get(m) is not None), None)
        rows.append(item_row(
            f"{leaf}/{doc_id}", subject=leaf, pred=_pred(first), gold=_clip(first.get("target")),
            correct=correct, score=main,
            extra={"doc_id": doc_id, "metrics": values, "by_filter": per_filter,
                   "prompt": _clip(_first_argument(first)), "resps": _clip(first.get("filtered_resps"))},
        ))  # fmt: skip
    return rows


def _pred(sample: dict[str, Any]) -> str | None:
    """Loglikelihood choices -> index of the best; generations -> the filtered text."""
    resps = sample.get("filtered_resps")
    if isinstance(resps, list) and resps and all(isinstance(r, (list, tuple)) and r for r in resps):
        lls = [float(r[0]) for r in resps]
        return str(max(range(len(lls)), key=lls.__getitem__))
    if isinstance(resps, list) and len(resps) == 1:
        return _clip(resps[0])
    return _clip(resps)


def _first_argument(sample: dict[str, Any]) -> Any:
    args = sample.get("arguments")
    if isinstance(args, (list, tuple)) and args:
        first = args[0]
        return first[0] if isinstance(first, (list, tuple)) and first else first
    return None


def _clip(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:MAX_STORED_CHARS]


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


def _numeric(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if _num(v) is not None and k != "alias"}


def _renamed(values: dict[str, float]) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        metric, _, filt = key.partition(",")
        out[metric if filt in ("", "none") else f"{metric}[{filt}]"] = value
    return out


def _headline(values: dict[str, float]) -> float | None:
    return next((v for k, v in values.items() if "stderr" not in k), None)


def _pkg_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)
