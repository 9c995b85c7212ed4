"""`evals run --suite lmeval:<task>`: a local lm-eval task YAML run by lm-eval's own harness on the tiny model."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.evals.cli_helpers import load_json, run_cli

pytest.importorskip("lm_eval", reason="lm-eval not installed (pip install 'leitai[lmeval]')")

OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
DOCS = [
    {"question": "中国的首都是哪里？", "A": "北京", "B": "上海", "C": "广州", "D": "深圳", "label": 0},
    {"question": "一加一等于几？", "A": "三", "B": "二", "C": "四", "D": "五", "label": 1},
    {"question": "水的化学式是什么？", "A": "CO2", "B": "O2", "C": "H2O", "D": "NaCl", "label": 2},
    {"question": "一年有几个季节？", "A": "两个", "B": "三个", "C": "五个", "D": "四个", "label": 3},
]
TEXT = "{{question}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案："


def prompt(doc: dict) -> str:
    return f"{doc['question']}\nA. {doc['A']}\nB. {doc['B']}\nC. {doc['C']}\nD. {doc['D']}\n答案："


@pytest.fixture()
def task_dir(tmp_path: Path) -> Path:
    """A custom multiple-choice task over a local JSONL file (lm-eval's `json` dataset builder)."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    data = folder / "docs.jsonl"
    data.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS), encoding="utf-8")
    config = {
        "task": "leitai_tiny_mc", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test", "output_type": "multiple_choice", "doc_to_text": TEXT,
        "doc_to_choice": ["A", "B", "C", "D"], "doc_to_target": "label",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }  # fmt: skip
    (folder / "tiny_mc.yaml").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")  # JSON is YAML
    return folder


def test_local_task_is_stored_as_a_run(tiny_model_dir, task_dir, tmp_path):
    from runners.hf import HFRunner

    out, db = tmp_path / "out.json", tmp_path / "r.db"
    res = run_cli("run", "--suite", "lmeval:leitai_tiny_mc", "--lmeval-include", str(task_dir),
                  "--model", str(tiny_model_dir), "--limit", "3", "--db", f"sqlite:///{db}", "--json", str(out),
                  "--no-progress", env=OFFLINE, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert doc["suite"] == "lmeval:leitai_tiny_mc" and doc["config"]["options"]["lm_eval"]
    samples = [it for it in doc["items"] if it["id"] != "_metrics"]
    assert [it["id"] for it in samples] == ["leitai_tiny_mc/0", "leitai_tiny_mc/1", "leitai_tiny_mc/2"]
    assert doc["metrics"]["acc"] == pytest.approx(sum(it["correct"] for it in samples) / 3)
    assert "acc_stderr" in doc["metrics"]

    # lm-eval's answers equal our hf backend's argmax of log p(" X" | prompt) on the same model.
    runner = HFRunner(str(tiny_model_dir), device="cpu")
    for it, d in zip(samples, DOCS):
        lls = [ll for ll, _ in runner.loglikelihood([(prompt(d), " " + c) for c in "ABCD"])]
        assert it["pred"] == str(max(range(4), key=lls.__getitem__))
        assert it["gold"] == str(d["label"])

    with sqlite3.connect(db) as con:
        runs = con.execute("SELECT id, status FROM runs").fetchall()
        metrics = dict(con.execute("SELECT name, value FROM metrics WHERE subset = ''").fetchall())
    assert runs == [(doc["run_id"], "finished")] and metrics["acc"] == pytest.approx(doc["metrics"]["acc"])

    again = run_cli("run", "--suite", "lmeval:leitai_tiny_mc", "--lmeval-include", str(task_dir),
                    "--model", str(tiny_model_dir), "--limit", "3", "--db", f"sqlite:///{db}", "--json", str(out),
                    "--no-progress", env=OFFLINE, timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert load_json(out)["run_id"] == doc["run_id"]  # same task config + lm-eval version -> resumed, same run


def test_unknown_task_lists_close_matches(tiny_model_dir, task_dir, tmp_path):
    res = run_cli("run", "--suite", "lmeval:leitai_tiny_m", "--lmeval-include", str(task_dir),
                  "--model", str(tiny_model_dir), "--db", f"sqlite:///{tmp_path / 'r.db'}", "--no-progress",
                  env=OFFLINE, timeout=600)  # fmt: skip
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert "leitai_tiny_m" in line and "close matches: leitai_tiny_mc" in line
