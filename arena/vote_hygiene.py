"""Vote hygiene: flag votes that should not move ratings, and say how many were left out.

Flags (stored in ``votes.flags``, comma-separated; kept out of ratings by default):

* ``duplicate``: the same voter voted on the same prompt before; only the first vote counts.
* ``suggested``: the voter used a prompt the arena suggested (set by the vote page, never here).
* ``suspect``: a per-voter anomaly. Either the voter picked the same side (A, or B) in at least
  ``one_side_share`` of at least ``one_side_min`` decisive votes (all their votes are flagged),
  or the vote came sooner after the battle was served than reading both answers takes
  (``read_chars_per_s``, at least ``min_seconds``); a voter with most votes that fast has all
  of them flagged.

`compute_flags` is pure; `refresh_flags` recomputes ``duplicate``/``suspect`` for the stored
votes and keeps ``suggested``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from db import Database

VOTE_FLAGS: tuple[str, ...] = ("duplicate", "suggested", "suspect")


@dataclass(frozen=True, slots=True)
class HygieneLimits:
    """Thresholds of the anomaly checks (see the module docstring)."""

    one_side_min: int = 20
    one_side_share: float = 0.95
    read_chars_per_s: float = 40.0
    min_seconds: float = 2.0
    fast_voter_share: float = 0.5
    fast_voter_min: int = 5


def parse_flags(text: str | None) -> set[str]:
    return {f for f in (text or "").split(",") if f}


def format_flags(flags: set[str]) -> str | None:
    return ",".join(sorted(flags)) or None


def compute_flags(
    votes: Sequence[Mapping[str, Any]], answer_chars: Mapping[int, int], limits: HygieneLimits | None = None
) -> dict[int, set[str]]:
    """Flags per vote id.

    Args:
        votes: Oldest first, with vote_id, voter_id, prompt_id, outcome, served_at, voted_at,
            answer_a_id, answer_b_id and flags (existing; only "suggested" is kept).
        answer_chars: {answer id: characters}, for the reading time.
        limits: Thresholds.

    Returns:
        {vote_id: flags}, every vote present (an empty set = clean).
    """
    lim = limits or HygieneLimits()
    out: dict[int, set[str]] = {}
    seen: set[tuple[str, int]] = set()
    sides: dict[str, Counter[str]] = defaultdict(Counter)
    fast: dict[str, list[bool]] = defaultdict(list)
    for v in votes:
        flags = parse_flags(v.get("flags")) & {"suggested"}
        key = (str(v["voter_id"]), int(v["prompt_id"]))
        if key in seen:
            flags.add("duplicate")
        seen.add(key)
        if v["outcome"] in ("model_a", "model_b"):
            sides[key[0]][v["outcome"]] += 1
        chars = answer_chars.get(int(v["answer_a_id"]), 0) + answer_chars.get(int(v["answer_b_id"]), 0)
        needed = max(lim.min_seconds, chars / lim.read_chars_per_s)
        took = _seconds(v["voted_at"]) - _seconds(v["served_at"])
        too_fast = took < needed
        fast[key[0]].append(too_fast)
        if too_fast:
            flags.add("suspect")
        out[int(v["vote_id"])] = flags
    bad_voters = {
        voter
        for voter, c in sides.items()
        if sum(c.values()) >= lim.one_side_min and max(c.values()) >= lim.one_side_share * sum(c.values())
    }
    bad_voters |= {
        voter for voter, f in fast.items() if len(f) >= lim.fast_voter_min and sum(f) >= lim.fast_voter_share * len(f)
    }
    for v in votes:
        if str(v["voter_id"]) in bad_voters:
            out[int(v["vote_id"])].add("suspect")
    return out


def _seconds(t: datetime) -> float:
    if t.tzinfo is None:  # SQLite returns naive UTC
        from datetime import UTC

        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def refresh_flags(database: Database, kind: str = "human", limits: HygieneLimits | None = None) -> Counter[str]:
    """Recompute and store the flags of every rated vote of `kind`; returns {flag: votes}.

    Judge votes are machine verdicts: they get no reading-time or one-side checks.
    """
    from db import arena_repo

    if kind != "human":
        return Counter()
    with database.session() as s:
        rows = arena_repo.rating_rows(s, kind)
        ids = {int(r["answer_a_id"]) for r in rows} | {int(r["answer_b_id"]) for r in rows}
        chars = {i: len(t) for i, t in arena_repo.answer_texts(s, ids).items()}
        flags = compute_flags(rows, chars, limits)
        changed = {
            int(r["vote_id"]): format_flags(flags[int(r["vote_id"])])
            for r in rows
            if format_flags(flags[int(r["vote_id"])]) != (r["flags"] or None)
        }
        arena_repo.set_vote_flags(s, changed)
    return Counter(f for fs in flags.values() for f in fs)


def excluded_counts(flags: Sequence[set[str]], exclude: set[str]) -> dict[str, int]:
    """{flag: votes left out because of it} (a vote with two excluded flags counts under both)."""
    c: Counter[str] = Counter()
    for fs in flags:
        for f in fs & exclude:
            c[f] += 1
    return dict(sorted(c.items()))
