"""Helpers for the LongBench tests: prediction folders on disk and CLI runs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATA = REPO / "evals" / "resources" / "longbench_sample"
SAMPLE_PRED = REPO / "evals" / "resources" / "longbench_sample_pred"


def make_pred(pred: str, answers: Iterable[str], length: int = 100, all_classes: list[str] | None = None) -> dict:
    """One line of an official `pred/{dataset}.jsonl`."""
    return {"pred": pred, "answers": list(answers), "all_classes": all_classes, "length": length}


def write_jsonl(path: Path, rows: Iterable[dict | str]) -> Path:
    """Write rows (dicts as JSON, strings verbatim) one per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `evals ARGV` in-process through the real entry point; returns (exit code, out, err)."""
    from evals.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
