"""LongBench (PROTOCOLS.md §3): official JSONL data, official prompts, middle truncation, generation, 0–100 scores.

`evals run --suite longbench [--data DIR] [--tasks a,b] [--limit N] [--chat [--template llama2|auto]]
[--sampling greedy|cla2] [--max-length N] [--max-new-tokens N] [--by-length]`

* Items are keyed `{task}/{_id}` and stored one chunk (`--batch-size` items of one task) at a time,
  so a re-run resumes. Each stored row keeps the raw prediction plus `answers`, `all_classes`,
  `length` and the file position, so `evals rescore RUN` recomputes every number without a model.
* Within a task, items are generated longest prompt first: padding stays small and a device that
  cannot hold the longest input says so at once.
* An item that does not fit the device (out-of-memory in its batch, and again alone) is stored as
  skipped with its reason; skipped items are left out of the task means and counted in the metrics
  (`n_skipped`, `skipped_by_reason`, `skipped_by_task`). `longest_input_tokens` is the longest
  prompt (in tokens, as sent) that was generated for, `shortest_skipped_tokens` the shortest that
  did not fit.
* `--by-length` adds the LongBench-E length buckets (0-4k, 4-8k, 8k+) per task to the metrics, as the
  official `eval.py --e` does; they are a view of the stored scores, so not part of the run identity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from evals.longbench import generation as gen
from evals.longbench.data import LongBenchItem, PredRecord, find_task_files, load_data_file
from evals.longbench.scoring import LongBenchScore, score_records, score_sample
from evals.longbench.tasks import TASKS, ZH_TASKS, get_task
from evals.registry import suite
from evals.resources import resource
from evals.suite_api import Headline, ItemRow, Plan, Suite, SuiteCapabilities, SuiteOptions, item_row
from runners import GenParams, Runner

if TYPE_CHECKING:
    from rich.console import Console

_TASK_ORDER = {name: i for i, name in enumerate(TASKS)}
OOM_REASON = "out_of_memory"


@dataclass(frozen=True, slots=True)
class LBItem:
    """One data line with its resume key and its position in the file."""

    key: str  # "{task}/{_id}"
    index: int  # 0-based position among the file's lines
    item: LongBenchItem


@dataclass(frozen=True, slots=True)
class LBSettings:
    """The LongBench-specific `evals run` options (from `SuiteOptions.extra`)."""

    tasks: tuple[str, ...]
    sampling: str = "greedy"
    max_length: int | None = None  # None = the runner's info.max_length
    max_new_tokens: int | None = None  # debugging override of every task's max_gen
    by_length: bool = False  # report LongBench-E length buckets (scoring view only)

    @classmethod
    def from_options(cls, opts: SuiteOptions) -> LBSettings:
        extra = opts.extra or {}
        tasks = tuple(extra.get("tasks") or ()) or tuple(opts.subjects) or ZH_TASKS
        for t in tasks:
            spec = get_task(t)
            if spec.prompt is None or spec.max_gen is None:
                raise UserError(
                    f"LongBench task {t!r} has no pinned prompt/generation length yet "
                    f"(PROTOCOLS.md §3.2); runnable: {', '.join(ZH_TASKS)}"
                )
        sampling = extra.get("sampling") or "greedy"
        if sampling not in gen.SAMPLINGS:
            raise UserError(f"unknown --sampling {sampling!r} ({' | '.join(gen.SAMPLINGS)})")
        max_length = extra.get("max_length")
        if max_length is not None and int(max_length) < 3:
            raise UserError(f"--max-length must be >= 3, got {max_length}")
        max_new = extra.get("max_new_tokens")
        if max_new is not None and int(max_new) < 1:
            raise UserError(f"--max-new-tokens must be >= 1, got {max_new}")
        if opts.chat and opts.template not in gen.TEMPLATES:
            raise UserError(f"unknown --template {opts.template!r} ({' | '.join(gen.TEMPLATES)})")
        # Table order whatever order --tasks used: same tasks -> same run identity.
        ordered = tuple(sorted(dict.fromkeys(tasks), key=_TASK_ORDER.__getitem__))
        return cls(
            tasks=ordered,
            sampling=sampling,
            max_length=None if max_length is None else int(max_length),
            max_new_tokens=None if max_new is None else int(max_new),
            by_length=bool(extra.get("by_length")),
        )


def is_oom(exc: BaseException) -> bool:
    """CUDA/MPS/CPU out-of-memory as torch raises it (torch.OutOfMemoryError is a RuntimeError)."""
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    msg = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in msg or "can't allocate memory" in msg or isinstance(exc, MemoryError)
    )


def _free_device_memory() -> None:
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def generate_or_skip(runner: Runner, texts: Sequence[str], params: GenParams) -> list[tuple[str | None, str | None]]:
    """Generate for a chunk in one batch; on OOM retry one by one; skip what still does not fit.

    Returns:
        Per text (prediction, None) or (None, skip reason).
    """
    try:
        return [(p, None) for p in runner.generate(list(texts), params, batch_size=len(texts))]
    except Exception as exc:
        if not is_oom(exc):
            raise
    _free_device_memory()
    out: list[tuple[str | None, str | None]] = []
    for text in texts:
        if len(texts) == 1:
            out.append((None, OOM_REASON))
            break
        try:
            out.append((runner.generate([text], params, batch_size=1)[0], None))
        except Exception as exc:
            if not is_oom(exc):
                raise
            _free_device_memory()
            out.append((None, OOM_REASON))
    return out


@dataclass(frozen=True, slots=True)
class LBContext:
    opts: SuiteOptions
    settings: LBSettings


@suite("longbench")
class LongBench(Suite[LBItem, LBContext]):
    """`evals run --suite longbench`: generation on the Chinese + code tasks, official LB scoring."""

    capabilities = SuiteCapabilities(
        title="LongBench",
        report="longbench",
        headline=Headline("avg", "avg", digits=2, column="LongBench"),
        options=frozenset({"tasks", "sampling", "max_length", "max_new_tokens", "by_length"}),
        rescorable=True,  # `evals rescore` recomputes metrics from stored rows
        scores_files=True,  # `evals score --suite longbench --pred DIR`: official pred/<model>/<task>.jsonl files
    )

    def plan(self, opts: SuiteOptions) -> Plan[LBItem, LBContext]:
        data = opts.data or resource("longbench_sample")
        if not Path(data).is_dir():
            raise UserError(f"LongBench data dir {data} does not exist")
        if opts.limit is not None and opts.limit < 1:
            raise UserError("--limit must be >= 1")
        settings = LBSettings.from_options(opts)
        files = find_task_files(data, settings.tasks)
        items: list[LBItem] = []
        for task, path in files.items():
            rows = load_data_file(path, task)
            seen: set[str] = set()
            for i, it in enumerate(rows[: opts.limit] if opts.limit else rows):
                if it.id in seen:
                    raise UserError(f"{path}: duplicate _id {it.id!r} (items are stored by task/_id)")
                seen.add(it.id)
                items.append(LBItem(key=f"{task}/{it.id}", index=i, item=it))
        from evals.mc.data import fingerprint

        return Plan(
            items=items,
            split="test",
            prompt_version=gen.PROMPT_VERSION,
            data_fingerprint=fingerprint(files.values()),
            identity={
                "scoring": "official",
                "tasks": list(settings.tasks),
                "sampling": settings.sampling,
                "max_length": settings.max_length or "model",
                "max_new_tokens": settings.max_new_tokens,
                "template": opts.template if opts.chat else "none",
            },
            context=LBContext(opts, settings),
        )

    def predict(
        self, runner: Runner, plan: Plan[LBItem, LBContext], items: Sequence[LBItem], *, batch_size: int
    ) -> Iterator[list[ItemRow]]:
        opts, settings = plan.context.opts, plan.context.settings
        max_length = settings.max_length or int(runner.info.max_length)
        by_task: dict[str, list[LBItem]] = {}
        for it in items:
            by_task.setdefault(it.item.task, []).append(it)
        for task, group in by_task.items():
            spec = get_task(task)
            max_gen = gen.task_max_gen(spec, settings.max_new_tokens)
            budget = gen.prompt_budget(max_length, max_gen)
            params = gen.gen_params(max_gen, settings.sampling)
            chat = gen.uses_chat(task, opts.chat)
            prepared = []
            for it in group:
                cut = gen.middle_truncate(
                    runner, gen.request_text({"context": it.item.context, "input": it.item.input}, task), budget
                )
                text = gen.wrap_chat(runner, task, cut.text, chat=opts.chat, template=opts.template)
                prepared.append((it, cut, text, runner.count_tokens(text)))
            prepared.sort(key=lambda p: -p[3])  # longest first: an OOM shows at once, little padding
            for start in range(0, len(prepared), batch_size):
                chunk = prepared[start : start + batch_size]
                results = generate_or_skip(runner, [p[2] for p in chunk], params)
                rows = []
                for (it, cut, _text, n_prompt), (raw, reason) in zip(chunk, results, strict=True):
                    rows.append(_row(it, cut, n_prompt, raw, reason, chat=chat, max_length=max_length, max_gen=max_gen))
                yield rows

    def aggregate(
        self, plan: Plan[LBItem, LBContext] | None, rows: Sequence[ItemRow], *, by_length: bool | None = None
    ) -> dict[str, Any]:
        """Metrics of the stored rows; `by_length` (default: the plan's `--by-length`, off without a plan)
        adds the LongBench-E length buckets."""
        if by_length is None:
            by_length = plan is not None and plan.context.settings.by_length
        result, scored = _score_rows(rows, by_length=by_length)
        if result is not None:
            metrics = result.metrics()
        else:
            metrics = {"by_task": {}, "by_category": {}, "avg": None, "categories_missing": []}
            if by_length:
                metrics["by_length"] = {}
        skipped = [r for r in rows if r["extra"].get("skipped")]
        tokens: list[int] = [n for r in scored if (n := r["extra"].get("prompt_tokens")) is not None]
        skip_tokens: list[int] = [n for r in skipped if (n := r["extra"].get("prompt_tokens")) is not None]
        metrics.update(
            {
                "n_items": len(rows),
                "n_scored": len(scored),
                "n_skipped": len(skipped),
                "skipped_by_reason": dict(Counter(r["extra"]["skipped"] for r in skipped)),
                "skipped_by_task": dict(Counter(r["extra"]["task"] for r in skipped)),
                "n_truncated": sum(1 for r in rows if r["extra"].get("truncated")),
                "longest_input_tokens": max(tokens) if tokens else None,
            }
        )
        if skip_tokens:
            metrics["shortest_skipped_tokens"] = min(skip_tokens)
        lengths = [r["extra"]["max_length"] for r in rows if r["extra"].get("max_length")]
        if lengths:
            metrics["max_length"] = max(lengths)
        return metrics

    def rescore_rows(self, rows: Sequence[ItemRow]) -> list[ItemRow]:
        """Rows with `score` recomputed from the stored prediction (official all_classes rule), in
        task-table then file order (the order `evals run` reports them in)."""
        result, scored = _score_rows(rows)
        new = {r["item_id"]: s.score for r, s in zip(scored, result.items if result else [], strict=True)}
        out: list[ItemRow] = [{**r, "score": new.get(r["item_id"], r["score"])} for r in rows]
        return sorted(out, key=_row_order)

    def rescored_metrics(self, rows: Sequence[ItemRow], *, by_length: bool = False) -> dict[str, Any]:
        return self.aggregate(None, rows, by_length=by_length)

    def score_files(
        self, pred: Path, tasks: tuple[str, ...], console: Console, *, by_length: bool = False
    ) -> dict[str, Any]:
        from evals.longbench import score_predictions
        from evals.longbench.report import category_row, task_table

        result = score_predictions(pred, tasks or None, by_length=by_length)
        console.print(category_row(result.zh, "LongBench 中文 (+代码)"))
        if result.en is not None:
            console.print(category_row(result.en, "LongBench English (+code)"))
        console.print(task_table(result))
        avg = "—" if result.avg is None else f"{result.avg:.2f}"
        console.print(
            f"longbench  avg {avg}  tasks={len(result.by_task)}  n={len(result.items)}  {result.elapsed_s:.1f} s"
        )
        return result.to_json(pred)

    def item_json(self, row: ItemRow) -> dict[str, Any]:
        extra = row["extra"]
        return {
            "id": str(extra.get("id", row["item_id"])),
            "task": extra.get("task", row["subject"]),
            "pred": row["pred"],
            "answers": list(extra.get("answers", [])),
            "length": extra.get("length"),
            "score": row["score"],
            "prompt_tokens": extra.get("prompt_tokens"),
            "truncated": bool(extra.get("truncated")),
            "chat": bool(extra.get("chat")),
            "skipped": extra.get("skipped"),
        }


def _row(
    it: LBItem,
    cut: gen.Truncated,
    n_prompt: int,
    raw: str | None,
    reason: str | None,
    *,
    chat: bool,
    max_length: int,
    max_gen: int,
) -> ItemRow:
    item = it.item
    extra: dict[str, Any] = {
        "id": item.id,
        "task": item.task,
        "index": it.index,
        "answers": list(item.answers),
        "all_classes": None if item.all_classes is None else list(item.all_classes),
        "length": item.length,
        "input_tokens": cut.n_tokens,
        "prompt_tokens": n_prompt,
        "truncated": cut.truncated,
        "chat": chat,
        "max_length": max_length,
        "max_new_tokens": max_gen,
    }
    score = None
    pred = None
    if reason is not None:
        extra["skipped"] = reason
    else:
        pred = gen.postprocess(item.task, raw or "")
        try:
            score = score_sample(item.task, pred, item.answers, item.all_classes)
        except ValueError as exc:  # e.g. a retrieval answer without "段落N": aggregate reports it
            extra["score_error"] = str(exc)
    return item_row(
        it.key, subject=item.task, pred=pred, gold=item.answers[0] if item.answers else "", score=score, extra=extra
    )


def _row_order(row: ItemRow) -> tuple[int, int]:
    extra = row["extra"]
    return _TASK_ORDER.get(extra.get("task", ""), len(_TASK_ORDER)), int(extra.get("index", 0))


def _score_rows(rows: Sequence[ItemRow], *, by_length: bool = False) -> tuple[LongBenchScore | None, list[ItemRow]]:
    """Official scoring of the non-skipped rows, in task-table then file order (as eval.py sums)."""
    scored = [r for r in rows if not r["extra"].get("skipped")]
    for r in scored:
        if "task" not in r["extra"]:
            raise UserError(f"stored row {r['item_id']!r} lacks LongBench fields (not a longbench run?)")
    scored.sort(key=_row_order)
    records: dict[str, list[PredRecord]] = {}
    for r in scored:
        e = r["extra"]
        records.setdefault(e["task"], []).append(
            PredRecord(
                id=str(e["id"]),
                task=e["task"],
                pred=r["pred"] or "",
                answers=tuple(e["answers"]),
                length=int(e["length"]),
                all_classes=None if e.get("all_classes") is None else tuple(e["all_classes"]),
                where=f"item {r['item_id']}",
            )
        )
    return (score_records(records, by_length=by_length) if records else None), scored
