"""Every suite's predictions and metrics on the embedded data equal the values recorded before the
package layering move (tests/golden/record.py wrote them; re-record only for an intended change)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.golden.record import CASES, GOLDEN, run_case


def _close(got: Any, want: Any, path: str = "") -> list[str]:
    if isinstance(want, float) and isinstance(got, (int, float)):
        return [] if math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-4) else [f"{path}: {got} != {want}"]
    if isinstance(want, dict) and isinstance(got, dict):
        if set(got) != set(want):
            return [f"{path}: keys {sorted(set(got) ^ set(want))} differ"]
        return [d for k in want for d in _close(got[k], want[k], f"{path}.{k}")]
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{path}: {len(got)} entries != {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in _close(g, w, f"{path}[{i}]")]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_suite_unchanged(name: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    got = json.loads(json.dumps(run_case(CASES[name], tmp_path)))
    diffs = _close(got, want)
    assert not diffs, f"{name}: {len(diffs)} differences, first: {diffs[:5]}"
