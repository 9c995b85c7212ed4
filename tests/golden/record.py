"""Record every suite's predictions and metrics on the embedded data (the refactor-safety golden file).

    python -m tests.golden.record              # rewrites tests/golden/embedded_suites.json
    python -m tests.golden.record longbench    # re-records one case, keeps the others

The cases run the real CLI on the embedded tiny model and sample data; `test_golden.py` runs the same
cases and compares. Re-record only when a change is *meant* to change results, and say so in the commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("embedded_suites.json")
LB = ROOT / "evals" / "resources" / "longbench_sample"

# name -> CLI arguments (the embedded model and data unless stated)
CASES: dict[str, list[str]] = {
    "ceval_0shot": ["--suite", "ceval", "--limit", "4"],
    "ceval_5shot_logprob": ["--suite", "ceval", "--shots", "5", "--limit", "3", "--scoring", "logprob"],
    "ceval_5shot_chat": ["--suite", "ceval", "--shots", "5", "--limit", "2", "--chat"],
    "cmmlu_5shot": ["--suite", "cmmlu", "--shots", "5", "--limit", "3"],
    "cmmlu_official": ["--suite", "cmmlu", "--protocol", "official", "--limit", "3"],
    "ppl_chunks": ["--suite", "ppl", "--context", "128"],
    "ppl_sliding": ["--suite", "ppl", "--context", "128", "--mode", "sliding", "--stride", "64"],
    "longbench": ["--suite", "longbench", "--max-new-tokens", "8", "--max-length", "256"],
    "quant": [
        "--suite",
        "quant",
        "--precisions",
        "fp32,int8",
        "--suites",
        "ppl,ceval",
        "--context",
        "128",
        "--limit",
        "2",
    ],
}


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 5)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items() if k not in {"elapsed_s", "items_per_s", "tokens_per_s"}}
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


def run_case(args: list[str], workdir: Path) -> dict[str, Any]:
    out = workdir / "out.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "evals.cli",
        "run",
        *args,
        "--no-progress",
        "--json",
        str(out),
        "--db",
        f"sqlite:///{workdir / 'golden.db'}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    doc = json.loads(out.read_text(encoding="utf-8"))
    items = [{k: v for k, v in it.items() if k not in {"elapsed_s"}} for it in doc.get("items", [])]
    # the quant table; its speed columns are wall-clock measurements, different on every run
    timing = {"run_ids", "speed", "prompt_ms_per_token", "gen_ms_per_token"}
    rows = [{k: v for k, v in r.items() if k not in timing} for r in doc.get("rows", [])]
    return {
        "metrics": _round(doc.get("metrics", {})),
        "items": _round(items),
        "n_items": doc.get("n_items"),
        "rows": _round(rows),
    }


def record(names: list[str] | None = None) -> dict[str, Any]:
    result = {}
    for name, args in CASES.items():
        if names and name not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            result[name] = run_case(args, Path(tmp))
        print(f"recorded {name}", file=sys.stderr)
    return result


if __name__ == "__main__":
    # named cases are re-recorded into the existing file; the other cases keep their recorded values
    names = sys.argv[1:]
    golden = json.loads(GOLDEN.read_text(encoding="utf-8")) if names and GOLDEN.exists() else {}
    golden.update(record(names or None))
    GOLDEN.write_text(json.dumps(golden, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
