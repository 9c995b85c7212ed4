"""LongBench (v1 and LongBench-E): task table, official data/prediction layouts, metrics, scoring.

Front door for the lead and the CLI:

    from evals.longbench import score_predictions
    result = score_predictions("pred/my-model")      # LongBenchScore
    result.by_task, result.by_category, result.avg, result.to_json()

Importing this package is light (no jieba, numpy or torch until something is scored).
"""

from evals.longbench.data import (
    LongBenchItem,
    PredRecord,
    find_task_files,
    item_length,
    load_data_dir,
    load_data_file,
    load_pred_file,
)
from evals.longbench.metrics import METRICS
from evals.longbench.scoring import (
    CategoryTable,
    ItemScore,
    LongBenchScore,
    category_table,
    score_predictions,
    score_records,
    score_sample,
)
from evals.longbench.tasks import CATEGORIES, TASKS, ZH_TASKS, TaskSpec, build_prompt, get_task, length_bucket

__all__ = [
    "CATEGORIES",
    "METRICS",
    "TASKS",
    "ZH_TASKS",
    "CategoryTable",
    "ItemScore",
    "LongBenchItem",
    "LongBenchScore",
    "PredRecord",
    "TaskSpec",
    "build_prompt",
    "category_table",
    "find_task_files",
    "get_task",
    "item_length",
    "length_bucket",
    "load_data_dir",
    "load_data_file",
    "load_pred_file",
    "score_predictions",
    "score_records",
    "score_sample",
]
