"""Rich tables for a `LongBenchScore`: the seed's category row and a per-task table (with the
LongBench-E length buckets only when they were scored, i.e. `--by-length`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evals.longbench.tasks import CATEGORIES, LENGTH_BUCKETS, TASKS

if TYPE_CHECKING:
    from rich.table import Table

    from evals.longbench.scoring import CategoryTable, LongBenchScore


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def category_row(table: CategoryTable, title: str) -> Table:
    """One-row table laid out like the seed: 单文档QA | 多文档QA | 摘要 | Few-shot学习 | 代码补全 | 合成任务 | Avg."""
    from rich.table import Table

    missing = [CATEGORIES[c] for c in table.categories_missing]
    caption = None
    if missing and table.avg is not None:
        caption = f"Avg over {len(table.by_category)}/{len(CATEGORIES)} categories; missing: {', '.join(missing)}"
    out = Table(title=title, caption=caption)
    for label in CATEGORIES.values():
        out.add_column(label, justify="right")
    out.add_column("Avg", justify="right", style="bold")
    out.add_row(*(_fmt(table.by_category.get(c)) for c in CATEGORIES), _fmt(table.avg))
    return out


def task_table(result: LongBenchScore) -> Table:
    """Per-task scores with item counts, plus LongBench-E length buckets when `result.by_length` is set."""
    from collections import Counter

    from rich.table import Table

    counts = Counter(it.task for it in result.items)
    out = Table(title="LongBench per task (0–100)")
    out.add_column("task")
    out.add_column("category")
    out.add_column("n", justify="right")
    out.add_column("score", justify="right", style="bold")
    by_length = result.by_length
    if by_length is not None:
        for label, _ in LENGTH_BUCKETS:
            out.add_column(label, justify="right")
    for task, value in result.by_task.items():
        buckets = [] if by_length is None else [_fmt(by_length[task][label]) for label, _ in LENGTH_BUCKETS]
        out.add_row(task, CATEGORIES[TASKS[task].category], str(counts[task]), _fmt(value), *buckets)
    return out
