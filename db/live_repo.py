"""Live-arena repositories: plain functions over a `Session`. Storage only — rules live in `arena/live*.py`.

Like `db.repo`, every function works inside the caller's transaction and never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, union_all
from sqlalchemy.orm import Session, aliased

from db.models import Model, utcnow
from db.models_arena import Vote
from db.models_live import Conversation, LiveBattle, LiveVote, Message, PoolModel

# --- pool ---------------------------------------------------------------------------------


def add_pool_model(s: Session, **fields: Any) -> PoolModel:
    """Insert a pool entry (all `PoolModel` columns as keywords) and flush. IntegrityError on a taken name."""
    row = PoolModel(**{"created_at": utcnow(), **fields})
    s.add(row)
    s.flush()
    return row


def get_pool_model(s: Session, name: str) -> PoolModel | None:
    return s.scalars(select(PoolModel).where(PoolModel.name == name)).one_or_none()


def list_pool(s: Session, *, enabled_only: bool = False) -> list[PoolModel]:
    """Pool entries by name."""
    query = select(PoolModel).order_by(PoolModel.name)
    if enabled_only:
        query = query.where(PoolModel.enabled.is_(True))
    return list(s.scalars(query))


def remove_pool_model(s: Session, name: str) -> bool:
    """Delete the entry; True when one was there. Stored conversations keep their model rows."""
    return bool(s.execute(delete(PoolModel).where(PoolModel.name == name)).rowcount)  # type: ignore[attr-defined]


# --- conversations and battles ------------------------------------------------------------


def add_conversation(s: Session, **fields: Any) -> Conversation:
    row = Conversation(**{"created_at": utcnow(), **fields})
    s.add(row)
    s.flush()
    return row


def add_live_battle(s: Session, **fields: Any) -> LiveBattle:
    row = LiveBattle(**{"served_at": utcnow(), **fields})
    s.add(row)
    s.flush()
    return row


def get_live_battle(s: Session, battle_id: str, *, for_update: bool = False) -> LiveBattle | None:
    """The battle, or None. `for_update` row-locks it on PostgreSQL (SQLite locks the file)."""
    return s.get(LiveBattle, battle_id, with_for_update=for_update or None, populate_existing=for_update)


def add_message(s: Session, **fields: Any) -> Message:
    row = Message(**{"created_at": utcnow(), **fields})
    s.add(row)
    s.flush()
    return row


def conversation_messages(s: Session, conversation_id: str) -> list[Message]:
    """Messages of a conversation by turn, user first, then a, then b."""
    order = {"user": 0, "a": 1, "b": 2}
    rows = s.scalars(select(Message).where(Message.conversation_id == conversation_id))
    return sorted(rows, key=lambda m: (m.turn, order.get(m.side, 9), m.id))


def next_turn(s: Session, conversation_id: str) -> int:
    """The number the next user message gets (0 for a new conversation)."""
    top = s.scalar(select(func.max(Message.turn)).where(Message.conversation_id == conversation_id))
    return 0 if top is None else int(top) + 1


# --- votes --------------------------------------------------------------------------------


def get_live_vote(s: Session, battle_id: str) -> LiveVote | None:
    return s.scalars(select(LiveVote).where(LiveVote.battle_id == battle_id)).one_or_none()


def add_live_vote(s: Session, **fields: Any) -> LiveVote:
    """Insert a vote and flush. IntegrityError if the battle already has one."""
    row = LiveVote(**fields)
    s.add(row)
    s.flush()
    return row


def live_vote_counts(s: Session) -> list[tuple[int, int, str, int]]:
    """Rated live votes as (model_a_id, model_b_id, outcome, count); failed battles never count."""
    query = (
        select(LiveBattle.model_a_id, LiveBattle.model_b_id, LiveVote.outcome, func.count())
        .join(LiveVote, LiveVote.battle_id == LiveBattle.id)
        .where(LiveVote.excluded.is_(False), LiveBattle.failed_reason.is_(None))
        .group_by(LiveBattle.model_a_id, LiveBattle.model_b_id, LiveVote.outcome)
    )
    return [(int(a), int(b), str(o), int(n)) for a, b, o, n in s.execute(query)]


def _voter_times(voter_id: str, since: datetime) -> Any:
    # Bank and live votes share one budget per voter.
    bank = select(Vote.created_at.label("t")).where(Vote.voter_id == voter_id, Vote.created_at >= since)
    live = select(LiveVote.created_at.label("t")).where(LiveVote.voter_id == voter_id, LiveVote.created_at >= since)
    return union_all(bank, live).subquery()


def recent_vote_times_all(s: Session, voter_id: str, since: datetime, limit: int) -> list[datetime]:
    """Times of the voter's bank and live votes at or after `since`, newest first, at most `limit`."""
    u = _voter_times(voter_id, since)
    return list(s.scalars(select(u.c.t).order_by(u.c.t.desc()).limit(limit)))


def count_votes_since_all(s: Session, voter_id: str, since: datetime) -> int:
    """The voter's bank and live votes at or after `since`."""
    u = _voter_times(voter_id, since)
    return int(s.scalar(select(func.count()).select_from(u)) or 0)


def recent_address_vote_times(s: Session, address_key: str, since: datetime, limit: int) -> list[datetime]:
    """Times of the bank and live votes from one client address (its keyed hash) at or after `since`,
    newest first, at most `limit`."""
    u = _address_times(address_key, since)
    return list(s.scalars(select(u.c.t).order_by(u.c.t.desc()).limit(limit)))


def count_address_votes_since(s: Session, address_key: str, since: datetime) -> int:
    """Bank and live votes from one client address (its keyed hash) at or after `since`."""
    u = _address_times(address_key, since)
    return int(s.scalar(select(func.count()).select_from(u)) or 0)


def live_battle_rows(s: Session, include_excluded: bool = False) -> list[dict[str, Any]]:
    """Voted, non-failed live battles with model names, oldest vote first.

    Returns:
        Dicts with battle_id, conversation_id, model_a, model_b, outcome, voted_at, voter_id,
        tags_a, tags_b, comment, excluded, excluded_reason, prompt_origin.
    """
    ma, mb = aliased(Model), aliased(Model)
    query = (
        select(
            LiveBattle.id, LiveBattle.conversation_id, ma.name, mb.name, LiveVote.outcome, LiveVote.created_at,
            LiveVote.voter_id, LiveVote.tags_a, LiveVote.tags_b, LiveVote.comment, LiveVote.excluded,
            LiveVote.excluded_reason, Conversation.prompt_origin,
        )
        .join(LiveVote, LiveVote.battle_id == LiveBattle.id)
        .join(Conversation, Conversation.id == LiveBattle.conversation_id)
        .join(ma, ma.id == LiveBattle.model_a_id)
        .join(mb, mb.id == LiveBattle.model_b_id)
        .where(LiveBattle.failed_reason.is_(None))
        .order_by(LiveVote.created_at, LiveVote.id)
    )  # fmt: skip
    if not include_excluded:
        query = query.where(LiveVote.excluded.is_(False))
    keys = (
        "battle_id", "conversation_id", "model_a", "model_b", "outcome", "voted_at", "voter_id", "tags_a",
        "tags_b", "comment", "excluded", "excluded_reason", "prompt_origin",
    )  # fmt: skip
    return [dict(zip(keys, row, strict=True)) for row in s.execute(query)]


def live_totals(s: Session) -> dict[str, int]:
    """Return {"battles": served, "failed": failed battles, "votes": live votes}."""
    return {
        "battles": int(s.scalar(select(func.count()).select_from(LiveBattle)) or 0),
        "failed": int(
            s.scalar(select(func.count()).select_from(LiveBattle).where(LiveBattle.failed_reason.is_not(None))) or 0
        ),
        "votes": int(s.scalar(select(func.count()).select_from(LiveVote)) or 0),
    }


def _address_times(address_key: str, since: datetime) -> Any:
    # Bank and live votes share one budget per client address too.
    bank = select(Vote.created_at.label("t")).where(Vote.address_key == address_key, Vote.created_at >= since)
    live = select(LiveVote.created_at.label("t")).where(
        LiveVote.address_key == address_key, LiveVote.created_at >= since
    )
    return union_all(bank, live).subquery()
