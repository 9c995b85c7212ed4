"""Live battles as FastChat clean-battle records, with the `conv_metadata` style control needs.

Per side: tokens of the answers (summed over turns) and of the context the last answer saw,
and the Markdown style of the answers (header, list and bold counts), spelled as FastChat's
arena logs spell them. Failed battles are never exported (they are never rated).
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from arena.battles import BattleRecord
from arena.ratings_style import markdown_counts
from db import live_repo

if TYPE_CHECKING:
    from db import Database


def _sum_dicts(items: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for item in items:
        for group, counts in item.items():
            slot = out.setdefault(group, {})
            for k, v in counts.items():
                slot[k] = slot.get(k, 0) + v
    return out


def live_battle_records(database: Database, include_excluded: bool = False) -> list[BattleRecord]:
    """Voted, non-failed live battles as FastChat records, oldest vote first.

    Returns:
        Dicts with the bank records' keys ("model_a", "model_b", "winner", "tstamp", "question_id",
        "voter", "battle_id", "anony") plus "source": "live", "turn", "prompt_origin", "tags_a",
        "tags_b", "comment" and "conv_metadata".
    """
    out: list[BattleRecord] = []
    with database.session(write=False) as s:
        for r in live_repo.live_battle_rows(s, include_excluded):
            msgs = live_repo.conversation_messages(s, r["conversation_id"])
            side: dict[str, list[Any]] = {"a": [], "b": [], "user": []}
            for m in msgs:
                side[m.side].append(m)
            meta: dict[str, Any] = {"turns": len(side["user"]),
                                    "sum_user_chars": sum(len(m.text) for m in side["user"])}  # fmt: skip
            for k in ("a", "b"):
                answers = side[k]
                meta[f"sum_assistant_{k}_tokens"] = sum(m.completion_tokens or 0 for m in answers)
                meta[f"context_{k}_tokens"] = answers[-1].prompt_tokens or 0 if answers else 0
                for group, counts in _sum_dicts([markdown_counts(m.text) for m in answers]).items():
                    meta[f"{group}_{k}"] = counts
            voted = r["voted_at"]
            voted = voted.replace(tzinfo=UTC) if voted.tzinfo is None else voted
            rec = BattleRecord(
                model_a=r["model_a"], model_b=r["model_b"], winner=r["outcome"],
                tstamp=voted.timestamp(), question_id=str(r["conversation_id"]), voter=r["voter_id"],
                battle_id=r["battle_id"], anony=True, source="live", turn=meta["turns"],
                prompt_origin=r["prompt_origin"], tags_a=list(r["tags_a"] or []),
                tags_b=list(r["tags_b"] or []), comment=r["comment"], conv_metadata=meta,
            )  # fmt: skip
            if include_excluded:
                rec["excluded"] = bool(r["excluded"])
                rec["excluded_reason"] = r["excluded_reason"]
            out.append(rec)
    return out
