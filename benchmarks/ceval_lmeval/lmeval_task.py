"""lm-evaluation-harness task files for the same C-Eval questions, with the CLA2 prompt.

One task per subject (`leitai_ceval_{subject}`), read by lm-eval's `csv` dataset builder from the
explanation-less copies. The few-shot text is made identical to ours:

    description        = HDR(s)                       (only when shots > 0; CLA2 zero-shot has no header)
    exemplar i         = Q(dev_i) + "\\n答案：" + target_delimiter("") + letter + fewshot_delimiter("\\n\\n")
    test               = Q(test) + "\\n答案："
    continuations      = target_delimiter + "A" | "B" | "C" | "D"

lm-eval then scores each continuation by its log-probability (not the CLA2 two-logit rule).
"""

from __future__ import annotations

import json
from pathlib import Path

UTILS = r'''"""Written by benchmarks/ceval_lmeval/lmeval_task.py."""


def doc_to_text(doc):
    """Q(row) + "\n答案：" (PROTOCOLS.md §1.3)."""
    return doc["question"] + "".join(f"\n{x}. {doc[x]}" for x in "ABCD") + "\n答案："


def doc_to_target(doc):
    return "ABCD".index(str(doc["answer"]).strip())
'''


def header(subject: str) -> str:
    return "以下是中国关于" + subject + "考试的单项选择题，请选出其中的正确答案。\n\n"


def write_tasks(task_dir: Path, files: dict[str, dict[str, Path]], *, shots: int) -> list[str]:
    """Write one YAML per subject plus utils.py into `task_dir`; return the task names."""
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "utils.py").write_text(UTILS, encoding="utf-8")
    names = []
    for subject, paths in files.items():
        name = f"leitai_ceval_{subject}"
        # JSON is valid YAML: exact strings, no escaping surprises; `!function` needs a YAML tag, so it
        # is appended as plain YAML lines.
        body = {
            "task": name,
            "dataset_path": "csv",
            "dataset_kwargs": {"data_files": {"validation": str(paths["val"]), "dev": str(paths["dev"])}},
            "test_split": "validation",
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "output_type": "multiple_choice",
            "doc_to_choice": ["A", "B", "C", "D"],
            "target_delimiter": "",
            "fewshot_delimiter": "\n\n",
            "description": header(subject) if shots else "",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        }
        lines = [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in body.items()]
        lines += ["doc_to_text: !function utils.doc_to_text", "doc_to_target: !function utils.doc_to_target"]
        (task_dir / f"{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        names.append(name)
    return names
