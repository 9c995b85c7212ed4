"""`evals run --suite longbench` end to end on the real tiny model with the embedded sample set:
tables, `--json` shape, resume, `evals rescore`, truncation and chat through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.longbench.tasks import ZH_TASKS

from .conftest import run_cli

FAST = ["--limit", "2", "--max-new-tokens", "8", "--batch-size", "2", "--no-progress"]


def _run(model: Path, db: str, out: Path, capsys, *extra: str) -> tuple[dict, str]:
    code, stdout, err = run_cli(
        ["run", "--suite", "longbench", "--model", str(model), "--db", db, "--json", str(out), *FAST, *extra], capsys
    )
    assert code == 0, err
    return json.loads(out.read_text(encoding="utf-8")), stdout


def test_run_resume_rescore(tiny_model_dir, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'lb.db'}"
    doc, out = _run(tiny_model_dir, db, tmp_path / "a.json", capsys)

    # the seed-style table and the per-task table are printed
    for header in ("单文档QA", "多文档QA", "摘要", "Few-shot学习", "代码补全", "合成任务", "Avg"):
        assert header in out
    assert "0-4k" not in out  # LongBench-E buckets only with --by-length
    assert "longest input generated for" in out and doc["run_id"] in out

    # --json shape
    assert doc["suite"] == "longbench" and doc["split"] == "test"
    m = doc["metrics"]
    assert set(m) >= {
        "by_task",
        "by_category",
        "avg",
        "n_skipped",
        "skipped_by_reason",
        "longest_input_tokens",
        "max_length",
    }
    assert list(m["by_task"]) == list(ZH_TASKS)
    assert set(m["by_category"]) == {"single_doc_qa", "multi_doc_qa", "summarization", "few_shot", "code", "synthetic"}
    assert m["avg"] == round(sum(m["by_category"].values()) / 6, 2)
    assert m["n_skipped"] == 0 and m["skipped_by_reason"] == {}
    assert doc["n_items"] == len(doc["items"]) == 2 * len(ZH_TASKS)
    for it in doc["items"]:
        assert set(it) >= {"id", "task", "pred", "answers", "score", "length", "prompt_tokens"}
        assert isinstance(it["pred"], str) and 0.0 <= it["score"] <= 1.0
        assert it["prompt_tokens"] <= m["longest_input_tokens"]
    # task score = official round(100 * mean, 2) of the item scores
    for task in ZH_TASKS:
        scores = [it["score"] for it in doc["items"] if it["task"] == task]
        assert m["by_task"][task] == pytest.approx(round(100 * sum(scores) / len(scores), 2), abs=0.006)
    opts = doc["config"]["options"]
    assert opts["max_new_tokens"] == 8 and opts["sampling"] == "greedy" and opts["max_length"] == "model"

    # the same command again: nothing is computed, same numbers
    doc2, out2 = _run(tiny_model_dir, db, tmp_path / "b.json", capsys)
    assert doc2["run_id"] == doc["run_id"] and "0 computed" in out2
    assert doc2["metrics"] == doc["metrics"] and doc2["items"] == doc["items"]

    # rescore from the stored predictions (no model) gives the same metrics and items
    code, out3, err = run_cli(["rescore", doc["run_id"][:8], "--db", db, "--json", str(tmp_path / "c.json")], capsys)
    assert code == 0, err
    doc3 = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert doc3["metrics"] == doc["metrics"] and doc3["items"] == doc["items"]
    assert "metrics replaced" in out3
    assert "by_length" not in doc["metrics"]

    # --by-length is a view of the stored scores: same run, nothing computed, buckets added
    doc4, out4 = _run(tiny_model_dir, db, tmp_path / "d.json", capsys, "--by-length")
    assert doc4["run_id"] == doc["run_id"] and "0 computed" in out4 and "0-4k" in out4
    assert {k: v for k, v in doc4["metrics"].items() if k != "by_length"} == doc["metrics"]
    assert set(doc4["metrics"]["by_length"]) == set(ZH_TASKS)
    code, out5, err = run_cli(["rescore", doc["run_id"][:8], "--db", db, "--by-length"], capsys)
    assert code == 0 and "0-4k" in out5, err

    # a different max_new_tokens is a different run
    code, _, err = run_cli(
        [
            "run",
            "--suite",
            "longbench",
            "--model",
            str(tiny_model_dir),
            "--db",
            db,
            "--tasks",
            "lsht",
            "--limit",
            "1",
            "--max-new-tokens",
            "4",
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err


def test_truncation_and_chat(tiny_model_dir, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'lb.db'}"
    doc, out = _run(
        tiny_model_dir,
        db,
        tmp_path / "a.json",
        capsys,
        "--tasks",
        "multifieldqa_zh,lsht",
        "--max-length",
        "136",
        "--chat",
    )
    m = doc["metrics"]
    assert m["max_length"] == 136 and m["n_truncated"] == len(doc["items"]) == 4
    by_task: dict[str, list[dict]] = {}
    for it in doc["items"]:
        by_task.setdefault(it["task"], []).append(it)
        assert it["truncated"]
    # lsht is never chat-wrapped (protocol skip set): budget 136 - 8 = 128, give or take the seam
    assert all(not it["chat"] and abs(it["prompt_tokens"] - 128) <= 3 for it in by_task["lsht"])
    # multifieldqa_zh is wrapped in [INST]...[/INST] after truncation, so it is a little longer
    assert all(it["chat"] and it["prompt_tokens"] > 128 for it in by_task["multifieldqa_zh"])
    assert doc["config"]["template"] == "llama2"


def test_user_errors(tiny_model_dir, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'lb.db'}"
    code, _, err = run_cli(
        [
            "run",
            "--suite",
            "longbench",
            "--model",
            str(tiny_model_dir),
            "--db",
            db,
            "--tasks",
            "hotpotqa",
            "--no-progress",
        ],
        capsys,
    )
    assert code == 2 and "no pinned prompt" in err
    code, _, err = run_cli(["rescore", "deadbeef", "--db", db], capsys)
    assert code == 2 and "no run" in err
