"""FastChat export extras: per-battle ``conv_metadata`` (style counts), category and vote flags.

`evals arena export` adds these to `arena.battle_records`, so an exported log can be rated with
``evals arena ratings --import FILE --style-control --category C`` exactly like the stored votes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arena.ratings_style import conv_metadata

if TYPE_CHECKING:
    from db import Database


def with_style_metadata(database: Database, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records with ``conv_metadata``, ``category`` and ``flags`` (list of vote flags) added."""
    from arena.vote_hygiene import parse_flags
    from db import arena_repo

    with database.session(write=False) as s:
        details = arena_repo.battle_export_details(s, [str(r["battle_id"]) for r in records])
    out: list[dict[str, Any]] = []
    for rec in records:
        d = details.get(str(rec["battle_id"]))
        if d is None:
            out.append(dict(rec))
            continue
        out.append(
            dict(rec)
            | {
                "category": d["category"],
                "conv_metadata": conv_metadata(d["answer_a"], d["answer_b"]),
                "flags": sorted(parse_flags(d["flags"])),
            }
        )
    return out
