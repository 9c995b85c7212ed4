"""LongBench scoring: per sample, per task, per length bucket, per category, Avg.

Float operations follow the official `eval.py` order so task numbers equal the official ones
to the last digit: a task is `round(100 * total / n, 2)` with `total` summed in file order; a
length bucket is `round(100 * np.mean(scores), 2)` (numpy's pairwise sum and numpy's rounding).

Aggregation (PROTOCOLS.md §3.1): a category is the mean of its present task scores, Avg the
unweighted mean of the categories. Leitai rule for partial task sets: Avg is taken over the
categories that have at least one scored task, and the missing ones are listed next to it
(`categories_missing`), so a partial Avg is never mistaken for the seed table's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError
from evals.longbench.data import PredRecord, find_task_files, load_pred_file
from evals.longbench.metrics import METRICS
from evals.longbench.tasks import CATEGORIES, LENGTH_BUCKETS, TASKS, length_bucket


@dataclass(frozen=True, slots=True)
class ItemScore:
    """One scored prediction; `score` is the sample score in [0, 1] (max over answers)."""

    id: str
    task: str
    pred: str
    answers: tuple[str, ...]
    length: int
    score: float


@dataclass(frozen=True, slots=True)
class CategoryTable:
    """One seed-style table row: category scores and Avg on the 0–100 scale."""

    by_category: dict[str, float]
    avg: float | None  # None when no category has a task
    categories_missing: tuple[str, ...]


@dataclass(frozen=True)
class LongBenchScore:
    """Everything `evals score --suite longbench` reports.

    Attributes:
        by_task: Dataset -> score (0–100, two decimals).
        by_length: Dataset -> bucket label -> score, None for a bucket without items; the whole field is
            None unless the LongBench-E buckets were asked for (`--by-length`, official `eval.py --e`).
        zh: The Chinese seed table (zh tasks + the two code tasks).
        en: The English table, only when English tasks were scored.
        items: Every scored prediction, in task-table then file order.
        elapsed_s: Wall time of the scoring.
    """

    by_task: dict[str, float]
    by_length: dict[str, dict[str, float | None]] | None
    zh: CategoryTable
    en: CategoryTable | None
    items: list[ItemScore] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def by_category(self) -> dict[str, float]:
        return self.zh.by_category

    @property
    def avg(self) -> float | None:
        return self.zh.avg

    def metrics(self) -> dict[str, Any]:
        """The `metrics` object of the `--json` document (0–100 scale)."""
        out: dict[str, Any] = {
            "by_task": self.by_task,
            "by_category": self.zh.by_category,
            "avg": self.zh.avg,
            "categories_missing": list(self.zh.categories_missing),
        }
        if self.by_length is not None:
            out["by_length"] = self.by_length
        if self.en is not None:
            out["en"] = {
                "by_category": self.en.by_category,
                "avg": self.en.avg,
                "categories_missing": list(self.en.categories_missing),
            }
        return out

    def to_json(self, pred_dir: str | Path | None = None) -> dict[str, Any]:
        """The DESIGN.md `--json` envelope; item scores stay on the 0–1 sample scale."""
        doc: dict[str, Any] = {"suite": "longbench"}
        if pred_dir is not None:
            doc["pred_dir"] = str(pred_dir)
        doc.update(
            {
                "metrics": self.metrics(),
                "n_items": len(self.items),
                "elapsed_s": round(self.elapsed_s, 3),
                "items": [
                    {
                        "id": it.id,
                        "task": it.task,
                        "pred": it.pred,
                        "answers": list(it.answers),
                        "length": it.length,
                        "score": it.score,
                    }
                    for it in self.items
                ],
            }
        )
        return doc


def score_sample(task: str, pred: str, answers: Sequence[str], all_classes: Sequence[str] | None = None) -> float:
    """Official per-sample score: optional first-line cut, then max of the metric over answers.

    Args:
        task: Dataset name (decides metric and first-line rule).
        pred: Model output.
        answers: Gold answers; an empty list scores 0.
        all_classes: Class list for classification tasks.

    Returns:
        The sample score in [0, 1].
    """
    spec = TASKS[task]
    metric = METRICS[spec.metric]
    if spec.first_line_only:
        pred = pred.lstrip("\n").split("\n")[0]
    score = 0.0
    for gold in answers:
        score = max(score, metric(pred, gold, all_classes=all_classes))
    return score


def task_score(scores: Sequence[float]) -> float:
    """`round(100 * total / n, 2)` with `total` accumulated left to right, as official `scorer`."""
    if not scores:
        raise ValueError("no scores")
    total = 0.0
    for s in scores:
        total += s
    return round(100 * total / len(scores), 2)


def bucket_scores(scores: Sequence[float], lengths: Sequence[int]) -> dict[str, float | None]:
    """LongBench-E buckets by `length` (<4000, <8000, rest); None for an empty bucket.

    The official `scorer_e` uses `round(100 * np.mean(x), 2)`: numpy's pairwise summation and
    numpy's own rounding, both of which can differ from plain Python in the last digit.
    (An empty bucket is NaN there; JSON has no NaN, so we report null.)
    """
    import numpy as np

    groups: dict[str, list[float]] = {label: [] for label, _ in LENGTH_BUCKETS}
    for s, n in zip(scores, lengths, strict=True):
        groups[length_bucket(n)].append(s)
    return {label: float(round(100 * np.mean(vals), 2)) if vals else None for label, vals in groups.items()}


def category_table(by_task: dict[str, float], languages: Sequence[str]) -> CategoryTable:
    """Category means and Avg over the tasks of the given languages (§3.1, partial-set rule above).

    Args:
        by_task: Dataset -> task score (0–100).
        languages: Task languages of the table, e.g. ("zh", "code") for the seed table.

    Returns:
        Category scores (rounded to two decimals) in the seed's column order, their mean as
        Avg (two decimals), and the categories without any task.
    """
    per_cat: dict[str, list[float]] = {c: [] for c in CATEGORIES}
    for task, value in by_task.items():
        spec = TASKS[task]
        if spec.language in languages:
            per_cat[spec.category].append(value)
    by_category = {c: round(sum(v) / len(v), 2) for c, v in per_cat.items() if v}
    missing = tuple(c for c, v in per_cat.items() if not v)
    # Avg over the rounded category values: the numbers a reader sees add up (as §3.1 checks).
    avg = round(sum(by_category.values()) / len(by_category), 2) if by_category else None
    return CategoryTable(by_category=by_category, avg=avg, categories_missing=missing)


def _score_record(rec: PredRecord, all_classes: tuple[str, ...] | None) -> float:
    try:
        return score_sample(rec.task, rec.pred, rec.answers, all_classes)
    except ValueError as exc:  # e.g. a retrieval answer without a "段落N" id
        raise UserError(f"{rec.where}: cannot score: {exc}") from None


def score_records(records: dict[str, list[PredRecord]], *, by_length: bool = False) -> LongBenchScore:
    """Score already-loaded prediction records (dataset -> records in file order); `by_length` adds the
    LongBench-E length buckets (official `eval.py --e`).

    Raises:
        UserError: A task without records, or a record the metric cannot score.
    """
    start = time.perf_counter()
    by_task: dict[str, float] = {}
    buckets: dict[str, dict[str, float | None]] = {}
    items: list[ItemScore] = []
    for task, recs in records.items():
        if not recs:
            raise UserError(f"LongBench task {task!r}: prediction file has no records")
        # The official eval.py keeps overwriting `all_classes` while reading the file and then
        # scores every line with the *last* line's list; identical lists in practice, but copy it.
        file_classes = recs[-1].all_classes
        scores = [_score_record(r, file_classes) for r in recs]
        by_task[task] = task_score(scores)
        if by_length:
            buckets[task] = bucket_scores(scores, [r.length for r in recs])
        items += [ItemScore(r.id, task, r.pred, r.answers, r.length, s) for r, s in zip(recs, scores)]
    has_en = any(TASKS[t].language == "en" for t in by_task)
    return LongBenchScore(
        by_task=by_task,
        by_length=buckets if by_length else None,
        zh=category_table(by_task, ("zh", "code")),
        en=category_table(by_task, ("en", "code")) if has_en else None,
        items=items,
        elapsed_s=time.perf_counter() - start,
    )


def score_predictions(
    pred_dir: str | Path, tasks: Sequence[str] | None = None, *, by_length: bool = False
) -> LongBenchScore:
    """Score an official prediction folder (`pred/{dataset}.jsonl` files) without a model.

    Args:
        pred_dir: Folder with one `{dataset}.jsonl` (or `{dataset}_e.jsonl`) per task; files
            with unknown names are ignored.
        tasks: Only these datasets (each must have a file); None = every known file present.
        by_length: Also score the LongBench-E length buckets (0-4k, 4-8k, 8k+) per task.

    Returns:
        Task, bucket, category and Avg scores plus every item's score.

    Raises:
        UserError: Missing folder or file, malformed JSONL, missing field, unscorable record.
    """
    files = find_task_files(pred_dir, tasks)
    return score_records({task: load_pred_file(path, task) for task, path in files.items()}, by_length=by_length)
