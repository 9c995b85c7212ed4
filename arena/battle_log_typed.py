"""Typed fast path for reading battle logs: decode only the fields the ratings use, straight into columns.

A generic JSON parser builds a dict for every object in the log; a FastChat record with ``conv_metadata``
holds eight of them (the record, the metadata and six small count groups), and building, reading and freeing
those dicts was most of the cost of ``evals arena ratings --import --style-control`` on 1M battles. Here
`msgspec` decodes each record into a fixed-layout struct of just the fields we read (unknown fields are
skipped without building anything), and the columns are pulled out with C-level getters.

This path only accepts what it can decode unambiguously: the count groups must hold FastChat's own keys
(``h1``..``h6``, ``ordered``/``unordered``, ``**``/``__``) with integer or float values. Anything else
(a missing field, a wrong type, an extra key, two objects on one line, a blank line) makes the caller fall
back to the generic dict path in `arena.battle_log`, which reads the same data the same way and names the
line of any real error, so results and messages never depend on which path ran.
"""

from __future__ import annotations

from functools import cache
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
from msgspec import UNSET, Struct, UnsetType, field
from msgspec.structs import astuple

_Count = int | float  # ints first: the small counts then come back as Python's shared small-int objects


class _Headers(Struct, forbid_unknown_fields=True, gc=False):
    h1: _Count = 0
    h2: _Count = 0
    h3: _Count = 0
    h4: _Count = 0
    h5: _Count = 0
    h6: _Count = 0


class _Bold(Struct, forbid_unknown_fields=True, gc=False):
    stars: _Count = field(default=0, name="**")
    underscores: _Count = field(default=0, name="__")


class _Lists(Struct, forbid_unknown_fields=True, gc=False):
    ordered: _Count = 0
    unordered: _Count = 0


class _Metadata(Struct, gc=False):
    """The part of FastChat's ``conv_metadata`` that style control reads (other keys are skipped)."""

    sum_assistant_a_tokens: _Count
    sum_assistant_b_tokens: _Count
    header_count_a: _Headers
    header_count_b: _Headers
    bold_count_a: _Bold
    bold_count_b: _Bold
    list_count_a: _Lists
    list_count_b: _Lists


class _Battle(Struct, gc=False):
    model_a: str
    model_b: str
    winner: str
    tstamp: float | UnsetType = UNSET
    category: Any = None
    flags: Any = None


class _StyledBattle(_Battle, gc=False):
    conv_metadata: _Metadata | UnsetType = UNSET


DecodeError = msgspec.DecodeError
"""Raised by the decoders below for anything outside the typed schema (the caller then falls back)."""


@cache
def jsonl_decoder(style: bool) -> Any:
    """A decoder whose ``decode_lines(buffer)`` returns the records of a JSONL chunk."""
    return msgspec.json.Decoder(_StyledBattle if style else _Battle)


@cache
def array_decoder(style: bool) -> Any:
    """A decoder whose ``decode(buffer)`` returns the records of a JSON array log."""
    return msgspec.json.Decoder(list[_StyledBattle] if style else list[_Battle])


def is_unset(value: Any) -> bool:
    """True for the placeholder of a field the record did not have."""
    return value is UNSET


# Style count columns: tokens, headers, bold, lists of answer a, then of answer b (the `metadata_counts` order).
_COLUMNS = tuple(
    attrgetter(f"sum_assistant_{side}_tokens" if key == "tokens" else f"{key}_{side}")
    for side in "ab"
    for key in ("tokens", "header_count", "bold_count", "list_count")
)


def style_counts(records: list[Any]) -> np.ndarray:
    """(n, 8) float64 style counts of typed records (see `arena.ratings_style`).

    Raises:
        AttributeError: A record has no ``conv_metadata`` (the caller falls back and names it).
    """
    metas = list(map(attrgetter("conv_metadata"), records))
    n = len(metas)
    out = np.empty((n, 8))
    for col, get in enumerate(_COLUMNS):
        if col % 4 == 0:  # a token count
            out[:, col] = np.fromiter(map(get, metas), np.float64, n)
        else:  # a group's elements added up: struct -> tuple -> sum, three C calls per battle
            out[:, col] = np.fromiter(map(sum, map(astuple, map(get, metas))), np.float64, n)
    return out
