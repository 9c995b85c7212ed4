"""Style features for style-controlled ratings: answer length and Markdown density.

LMArena's style control (and FastChat's ``conv_metadata``) describes each answer by four
counts: tokens, Markdown headers, bold spans and list items. A battle's feature is the
normalised difference ``(a - b) / (a + b)`` per count (0 when both are 0), z-scored over the
battles being rated, so each coefficient reads as "log-odds per standard deviation of style
advantage".

Token counts of our own answers are approximate and tokenizer-free: one per CJK character,
one per run of Latin letters/digits, one per other visible symbol. Only ratios of two answers'
counts enter the feature, so the scale does not matter, only that both sides count alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

STYLE_FEATURES: tuple[str, ...] = ("length", "headers", "bold", "lists")
"""Feature names, in column order."""

_CODE_BLOCK = re.compile(r"```.*?```", re.S)
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[A-Za-z0-9_]+|[^\s]")
_HEADER = re.compile(r"^#{1,6}\s", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.M)


def text_counts(text: str) -> tuple[int, int, int, int]:
    """(tokens, headers, bold spans, list items) of one answer; Markdown inside code blocks is ignored."""
    prose = _CODE_BLOCK.sub("", text)
    return (
        len(_TOKEN.findall(text)),
        len(_HEADER.findall(prose)),
        len(_BOLD.findall(prose)),
        len(_LIST.findall(prose)),
    )


def markdown_counts(text: str) -> dict[str, dict[str, int]]:
    """Markdown elements of one answer in FastChat's ``conv_metadata`` groups (code blocks ignored):
    {"header_count": {h1..h6}, "list_count": {ordered, unordered}, "bold_count": {"**", "__"}}."""
    prose = _CODE_BLOCK.sub("", text)
    levels = {f"h{n}": len(re.findall(rf"^#{{{n}}}\s", prose, re.M)) for n in range(1, 7)}
    ordered = len(re.findall(r"^\s*\d+[.)]\s", prose, re.M))
    stars = len(_BOLD_STARS.findall(prose))
    return {
        "header_count": levels,
        "list_count": {"ordered": ordered, "unordered": len(_LIST.findall(prose)) - ordered},
        "bold_count": {"**": stars, "__": len(_BOLD.findall(prose)) - stars},
    }


def conv_metadata(text_a: str, text_b: str) -> dict[str, Any]:
    """FastChat's ``conv_metadata`` for a battle (the fields style control reads)."""
    out: dict[str, Any] = {}
    for side, text in (("a", text_a), ("b", text_b)):
        out[f"sum_assistant_{side}_tokens"] = text_counts(text)[0]
        for group, counts in markdown_counts(text).items():
            out[f"{group}_{side}"] = counts
    return out


def metadata_counts(meta: Mapping[str, Any]) -> tuple[float, ...]:
    """The eight counts (a: tokens, headers, bold, lists, then b's) from a ``conv_metadata`` dict.

    Raises:
        ValueError: A field is missing or not a number / dict of numbers.
    """
    out: list[float] = []
    for side in ("a", "b"):
        out.append(_number(meta[f"sum_assistant_{side}_tokens"]))
        for key in ("header_count", "bold_count", "list_count"):
            value = meta[f"{key}_{side}"]
            out.append(sum(_number(v) for v in value.values()) if isinstance(value, Mapping) else _number(value))
    return tuple(out)


def _number(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise ValueError(f"expected a number, got {x!r}")
    return float(x)


def style_features(counts: np.ndarray) -> np.ndarray:
    """(N, 4) z-scored ``(a - b) / (a + b)`` features from (N, 8) counts (a's four, then b's).

    A feature that does not vary (e.g. no answer has headers) stays all 0 instead of dividing by 0.
    """
    a, b = counts[:, :4], counts[:, 4:]
    total = a + b
    # In place where possible: on a million battles each temporary (N, 4) array is a pass over 32 MB.
    diff: np.ndarray = np.subtract(a, b)
    np.divide(diff, total, out=diff, where=total > 0)
    diff[total <= 0] = 0.0
    mean, std = diff.mean(axis=0), diff.std(axis=0)
    diff -= mean
    diff /= np.where(std > 0, std, 1.0)
    diff[:, std == 0] = 0.0
    return diff
