"""Frames as people read them (presentation only): a dash for a missing value, counts and times that read.

st.dataframe prints a missing cell as the word "None"; the pages turn such columns into text first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

DASH = "—"


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def dashed(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """`columns` as text, a missing value as "—" (an int stays an int: 0 not 0.0)."""
    out = frame.copy()
    for col in columns:
        out[col] = [DASH if _missing(v) else str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
                    for v in out[col]]  # fmt: skip
    return out


def count(n: Any) -> str:
    """A parameter count as people say it: 500000000 -> "500M", 6.7e9 -> "6.7B"; missing -> "—"."""
    if _missing(n):
        return DASH
    n = float(n)
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


def when(stamp: Any) -> str:
    """A stored time to the minute ("2025-01-02 03:04"); missing -> "—"."""
    return DASH if _missing(stamp) else f"{pd.Timestamp(stamp):%Y-%m-%d %H:%M}"


# Words the stores and suites use (metric, category and precision names), as the Chinese UI says them.
ZH_TERMS = {
    "accuracy": "准确率", "avg": "平均分", "ppl": "困惑度", "bpc": "每字符比特",
    "STEM": "理工", "Humanities": "人文", "Social Science": "社会科学", "Other": "其他", "China specific": "中国特有",
    "none": "无",
}  # fmt: skip


def in_language(frame: pd.DataFrame, columns: Iterable[str], zh: bool) -> pd.DataFrame:
    """`columns` with stored terms in the UI's language (`ZH_TERMS`); other values as they are."""
    if not zh:
        return frame
    out = frame.copy()
    for col in columns:
        out[col] = [ZH_TERMS.get(v, v) if isinstance(v, str) else v for v in out[col]]
    return out
