"""`evals score --suite longbench` end to end through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO, SAMPLE_PRED, make_pred, run_cli, write_jsonl


def test_scores_the_sample_pred_dir(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "lb.json"
    code, out, err = run_cli(
        ["score", "--suite", "longbench", "--pred", str(SAMPLE_PRED), "--json", str(out_json), "--by-length"], capsys
    )
    assert code == 0, err
    for header in ("单文档QA", "多文档QA", "摘要", "Few-shot学习", "代码补全", "合成任务", "Avg", "0-4k", "8k+"):
        assert header in out
    doc = json.loads(out_json.read_text(encoding="utf-8"))
    assert doc["suite"] == "longbench"
    assert set(doc["metrics"]) >= {"by_task", "by_category", "avg", "by_length"}
    assert doc["n_items"] == len(doc["items"]) == 31
    assert set(doc["items"][0]) >= {"id", "task", "pred", "answers", "score"}
    m = doc["metrics"]
    # multifieldqa_zh: (1 + 2/3 + 2/3 + 1/3 + 0)/5 = 8/15 -> 53.33
    assert m["by_task"]["multifieldqa_zh"] == 53.33
    # lsht: right, right (after the leading newline), wrong, right, wrong -> 3/5
    assert m["by_task"]["lsht"] == 60.0
    # passage_retrieval_zh: 段落3 ✓, 段落2 ✗, "段落4，不是段落1" -> 1/2, 段落3 ✓ -> 2.5/4
    assert m["by_task"]["passage_retrieval_zh"] == 62.5
    # lcc: 1 + 1 (fence skipped) + 0.95 + 0.95 (comment skipped) + 0 (empty) -> 3.9/5
    assert m["by_task"]["lcc"] == 78.0
    # code = (78.0 + 90.25)/2 = 84.125 -> round half even -> 84.12
    assert m["by_category"]["code"] == 84.12
    assert m["categories_missing"] == []
    expected_avg = round(sum(m["by_category"].values()) / 6, 2)
    assert m["avg"] == expected_avg
    assert m["by_length"]["vcsum"] == {"0-4k": m["by_task"]["vcsum"], "4-8k": None, "8k+": None}


def test_length_buckets_only_with_by_length(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """As official eval.py: per-task scores by default, the LongBench-E buckets only with --e (--by-length)."""
    out_json = tmp_path / "plain.json"
    code, out, err = run_cli(
        ["score", "--suite", "longbench", "--pred", str(SAMPLE_PRED), "--json", str(out_json)], capsys
    )
    assert code == 0, err
    assert "0-4k" not in out and "4-8k" not in out and "8k+" not in out
    plain = json.loads(out_json.read_text(encoding="utf-8"))["metrics"]
    assert "by_length" not in plain
    code, _, err = run_cli(
        ["score", "--suite", "longbench", "--pred", str(SAMPLE_PRED), "--json", str(out_json), "--by-length"], capsys
    )
    assert code == 0, err
    bucketed = json.loads(out_json.read_text(encoding="utf-8"))["metrics"]
    assert {k: v for k, v in bucketed.items() if k != "by_length"} == plain  # the buckets add, never change


def test_tasks_option_and_partial_avg(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    out_json = tmp_path / "lb.json"
    code, out, _ = run_cli(
        ["score", "--suite", "longbench", "--pred", str(SAMPLE_PRED), "--tasks", "lcc,lsht", "--json", str(out_json)],
        capsys,
    )
    assert code == 0
    assert "Avg over 2/6 categories" in out
    m = json.loads(out_json.read_text(encoding="utf-8"))["metrics"]
    assert list(m["by_task"]) == ["lsht", "lcc"]
    assert m["avg"] == round((60.0 + 78.0) / 2, 2)


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ('{"pred": "x", "answers": ["x"]', "lcc.jsonl:2: invalid JSON: "),
        ({"answers": ["x"], "length": 3}, "lcc.jsonl:2: field 'pred' is missing"),
    ],
)
def test_bad_prediction_file_exits_2_with_one_line(
    tmp_path, capsys: pytest.CaptureFixture[str], row: object, needle: str
) -> None:
    write_jsonl(tmp_path / "lcc.jsonl", [make_pred("x", ["x"]), row])
    code, _, err = run_cli(["score", "--suite", "longbench", "--pred", str(tmp_path)], capsys)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [(["--suite", "ceval"], "cannot be scored"), (["--tasks", "nope"], "unknown LongBench task 'nope'")],
)
def test_user_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    base = {"--suite": "longbench", "--pred": str(SAMPLE_PRED)}
    base.update(dict(zip(argv[::2], argv[1::2])))
    code, _, err = run_cli(["score", *[x for kv in base.items() for x in kv]], capsys)
    assert code == 2 and needle in err


def test_module_entry_point_and_no_torch(tmp_path) -> None:
    # `python -m evals.cli` works, and scoring never imports torch or transformers.
    probe = (
        "import sys; from evals.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n"
    )
    args = ["score", "--suite", "longbench", "--pred", str(SAMPLE_PRED), "--tasks", "lcc"]
    done = subprocess.run([sys.executable, "-c", probe, *args], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "evals.cli", *args], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "代码补全" in done.stdout
