"""Battles: serve an anonymous pair of answers, reveal names after the vote, export the log.

A battle is a prompt plus the stored answers of two different models, shown as A and B in
random order, under an unguessable id. It is bound to the session it was served to: only
that session can vote on it (`arena.votes.record_vote`) and, after voting, see who was who.

Choosing the battle (see `arena.matchmaking`):
1. pair: among model pairs that answered at least one common prompt, draw one with probability
   that favours models with few rated votes and close matches (uncertain order);
2. prompt: uniformly among the prompts both answered, preferring ones this session has not seen;
3. answers: each model's newest answer to that prompt (regenerating with new parameters adds
   answers; the newest are served, older ones stay stored);
4. sides: a fair coin decides which model is A.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import numpy as np

from arena import matchmaking
from arena.errors import NoBattleAvailable, RevealRefused
from db import arena_repo
from db.models import utcnow
from db.models_arena import BATTLE_KINDS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from db import Database
    from db.arena_repo import VotedBattleRow


@dataclass(frozen=True, slots=True)
class BattleView:
    """What the vote page shows before the vote: no model names.

    Attributes:
        battle_id: Pass back to `record_vote` / `reveal`.
        prompt_id: Question id in the bank.
        prompt: Question text.
        category: Question category (one of `arena.bank.CATEGORIES`).
        answer_a: Answer shown on the left (render as Markdown with raw HTML disabled).
        answer_b: Answer shown on the right.
        kind: "human" or "judge".
    """

    battle_id: str
    prompt_id: int
    prompt: str
    category: str
    answer_a: str
    answer_b: str
    kind: str = "human"


class BattleRecord(TypedDict):
    """A voted battle in FastChat's clean-battle format (what `battle_records` returns)."""

    model_a: str
    model_b: str
    winner: str  # "model_a" | "model_b" | "tie" | "tie (bothbad)"
    tstamp: float  # vote time, Unix seconds
    question_id: str  # prompt id as a string
    voter: str
    battle_id: str
    anony: bool  # always True: names were hidden when the vote was cast
    excluded: NotRequired[bool]  # only with include_excluded
    excluded_reason: NotRequired[str | None]
    # live battles (arena.live_export) also carry their conversation's details
    source: NotRequired[str]  # "live"
    turn: NotRequired[int]
    prompt_origin: NotRequired[str]  # "suggested" | "typed"
    tags_a: NotRequired[list[str]]
    tags_b: NotRequired[list[str]]
    comment: NotRequired[str | None]
    conv_metadata: NotRequired[dict[str, Any]]  # per-side style counts, as FastChat's logs carry them


def serve_battle(
    database: Database,
    session_id: str,
    *,
    rng: np.random.Generator | None = None,
    kind: str = "human",
    models: Sequence[str] | None = None,
    explore: float = matchmaking.EXPLORE,
) -> BattleView:
    """Pick a battle for `session_id`, store it, and return it without model names.

    Args:
        database: The arena database.
        session_id: The browser session (1–128 characters); only it may vote on the battle.
        rng: Random generator (seed it for reproducible tests); None = fresh entropy.
        kind: "human" for the vote page, "judge" for LLM-as-judge battles.
        models: Restrict to these model names (None: every model with answers).
        explore: Share of pairs drawn uniformly instead of by expected information.

    Returns:
        The battle view.

    Raises:
        ValueError: Bad `session_id` or `kind`.
        NoBattleAvailable: No two models have answered a common prompt.
    """
    if not session_id or len(session_id) > 128:
        raise ValueError("session_id must be 1 to 128 characters")
    if kind not in BATTLE_KINDS:
        raise ValueError(f"kind must be one of {BATTLE_KINDS}, got {kind!r}")
    rng = rng if rng is not None else np.random.default_rng()
    with database.session() as s:
        model_ids = _model_ids(s, models) if models is not None else None
        common = arena_repo.pair_common_prompts(s, model_ids)
        if not common:
            raise NoBattleAvailable("no two models have answered a common prompt; run `evals arena generate`")
        ids = sorted({i for pair in common for i in pair})
        index = {mid: k for k, mid in enumerate(ids)}
        eligible = np.zeros((len(ids), len(ids)), dtype=bool)
        for i, j in common:
            eligible[index[i], index[j]] = eligible[index[j], index[i]] = True
        wins = _win_matrix(arena_repo.vote_counts(s, kind), index)
        i, j = matchmaking.choose_pair(wins, eligible, rng, explore=explore)
        model_1, model_2 = ids[i], ids[j]

        prompts = arena_repo.common_prompt_ids(s, model_1, model_2)
        seen = arena_repo.prompts_seen_by_session(s, session_id)
        fresh = [p for p in prompts if p not in seen] or prompts
        prompt_id = fresh[int(rng.integers(len(fresh)))]
        answer_1 = arena_repo.answers_for(s, prompt_id, model_1)[0]
        answer_2 = arena_repo.answers_for(s, prompt_id, model_2)[0]
        if rng.random() < 0.5:
            (model_1, answer_1), (model_2, answer_2) = (model_2, answer_2), (model_1, answer_1)

        battle = arena_repo.add_battle(
            s, id=secrets.token_urlsafe(16), prompt_id=prompt_id, model_a_id=model_1, model_b_id=model_2,
            answer_a_id=answer_1.id, answer_b_id=answer_2.id, session_id=session_id, served_at=utcnow(), kind=kind,
        )  # fmt: skip
        prompt = arena_repo.list_prompts(s, ids=[prompt_id])[0]
        return BattleView(
            battle_id=battle.id,
            prompt_id=prompt_id,
            prompt=prompt.text,
            category=prompt.category,
            answer_a=answer_1.text,
            answer_b=answer_2.text,
            kind=kind,
        )


def reveal(database: Database, battle_id: str, session_id: str) -> tuple[str, str]:
    """Names of the models shown as A and B, once this session has voted on the battle.

    Raises:
        RevealRefused: code "unknown_battle", "not_your_battle" or "not_voted".
    """
    with database.session(write=False) as s:
        battle = arena_repo.get_battle(s, battle_id)
        if battle is None:
            raise RevealRefused("unknown_battle", "找不到这场对战。", "Unknown battle.")
        if battle.session_id != session_id:
            raise RevealRefused(
                "not_your_battle", "这场对战不属于当前会话。", "This battle was served to another session."
            )
        if arena_repo.get_vote(s, battle_id) is None:
            raise RevealRefused(
                "not_voted", "投票之后才能查看模型名称。", "Vote first; the model names are shown after."
            )
        names = arena_repo.model_names(s, (battle.model_a_id, battle.model_b_id))
        return names[battle.model_a_id], names[battle.model_b_id]


def battle_records(database: Database, kind: str = "human", include_excluded: bool = False) -> list[BattleRecord]:
    """Voted battles as FastChat clean-battle records, oldest vote first.

    The records feed `arena.battle_log.Battles.from_records` and `evals arena export`.

    Args:
        database: The arena database.
        kind: "human" or "judge".
        include_excluded: Also return votes kept out of ratings (identity leaks), with
            `excluded` and `excluded_reason` fields — for admins, never for ratings.

    Returns:
        Records {"model_a", "model_b", "winner", "tstamp" (vote time, Unix seconds),
        "question_id" (prompt id as a string), "voter", "battle_id", "anony": True}; for "human",
        live battles follow the same shape with "source": "live" and `conv_metadata`
        (`arena.live_export`).
    """
    with database.session(write=False) as s:
        rows = arena_repo.battle_rows(s, kind, include_excluded)
    out = [battle_record(r, include_excluded) for r in rows]
    if kind == "human":  # live battles are human votes too (arena.live); failed ones never appear
        from arena.live_export import live_battle_records

        live = live_battle_records(database, include_excluded)
        if live:
            out = sorted(out + live, key=lambda rec: rec["tstamp"])
    return out


def battle_record(row: VotedBattleRow, include_excluded: bool = False) -> BattleRecord:
    """The clean-battle record of a stored, voted battle (the one place such a record is built)."""
    rec = BattleRecord(
        model_a=row["model_a"],
        model_b=row["model_b"],
        winner=row["outcome"],
        tstamp=_epoch(row["voted_at"]),
        question_id=str(row["prompt_id"]),
        voter=row["voter_id"],
        battle_id=row["battle_id"],
        anony=True,
    )
    if include_excluded:
        rec["excluded"] = bool(row["excluded"])
        rec["excluded_reason"] = row["excluded_reason"]
    return rec


def _model_ids(s: Session, names: Sequence[str]) -> list[int]:
    from db import repo

    ids = []
    for name in names:
        model = repo.get_model(s, name)
        if model is None:
            raise ValueError(f"unknown model {name!r}")
        ids.append(model.id)
    return ids


def _win_matrix(counts: list[tuple[int, int, str, int]], index: dict[int, int]) -> np.ndarray:
    """(M, M) wins of i over j from grouped vote counts; ties add half a win to each side."""
    m = len(index)
    wins = np.zeros((m, m))
    for a, b, outcome, n in counts:
        if a not in index or b not in index:
            continue  # a model no longer eligible (no common prompt with the current set)
        i, j = index[a], index[b]
        if outcome == "model_a":
            wins[i, j] += n
        elif outcome == "model_b":
            wins[j, i] += n
        else:
            wins[i, j] += 0.5 * n
            wins[j, i] += 0.5 * n
    return wins


def _epoch(t: datetime) -> float:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
