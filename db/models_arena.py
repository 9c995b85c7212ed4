"""Arena tables: question bank, pre-generated answers, served battles, votes, rating snapshots.

Registered on `db.models.Base` (db/models.py imports this module), so Alembic and the
drift test see them. Migration: db/migrations/versions/0002_arena.py.

Invariants the database itself enforces (business rules live in `arena/`):
- one prompt per normalized text (`arena_prompts.norm_hash`);
- one answer per (prompt, model, generation-params hash);
- a battle pits two different models, and is either a human or a judge battle;
- at most one vote per battle (`votes.battle_id` UNIQUE), with an outcome spelled exactly
  like FastChat's `winner` values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow

# FastChat's clean-battle `winner` values; the vote API maps UI aliases onto these.
VOTE_OUTCOMES: tuple[str, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")
BATTLE_KINDS: tuple[str, ...] = ("human", "judge")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


class ArenaPrompt(Base):
    """One question of the bank; `norm_hash` = sha256 of the normalized text (dedup key)."""

    __tablename__ = "arena_prompts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    norm_hash: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    lang: Mapped[str] = mapped_column(String(16), default="zh")
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ArenaAnswer(Base):
    """A model's answer to a prompt under recorded sampling parameters (`gen_params`)."""

    __tablename__ = "arena_answers"
    __table_args__ = (
        UniqueConstraint("prompt_id", "model_id", "params_hash", name="uq_arena_answers_prompt_model_params"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("arena_prompts.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    gen_params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # GenParams + chat/system prompt
    params_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Battle(Base):
    """A prompt with two models' answers, served to one session; `id` is an unguessable token.

    `model_a`/`answer_a` is whatever was shown on the left, after side randomization.
    `excluded_reason` is set (never deleted) when the battle must not count in ratings.
    """

    __tablename__ = "battles"
    __table_args__ = (
        CheckConstraint("model_a_id <> model_b_id", name="distinct_models"),
        CheckConstraint(_in_list("kind", BATTLE_KINDS), name="kind"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("arena_prompts.id"), index=True)
    model_a_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    model_b_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    answer_a_id: Mapped[int] = mapped_column(ForeignKey("arena_answers.id"))
    answer_b_id: Mapped[int] = mapped_column(ForeignKey("arena_answers.id"))
    session_id: Mapped[str] = mapped_column(String(128), index=True)  # the session it was served to
    served_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16), default="human")
    excluded_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Vote(Base):
    """The single vote on a battle. Excluded votes are kept for audit but never rated."""

    __tablename__ = "votes"
    __table_args__ = (
        CheckConstraint(_in_list("outcome", VOTE_OUTCOMES), name="outcome"),
        # Rate limits count a voter's recent votes.
        Index("ix_votes_voter_created", "voter_id", "created_at"),
        # The client address's budget counts its recent votes (migration 0007).
        Index("ix_votes_address_created", "address_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(16))
    voter_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    excluded_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Hygiene flags, comma-separated ("duplicate", "suggested", "suspect"; migration 0005): kept
    # out of ratings by default, unlike `excluded`, which is never rated.
    flags: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Keyed hash of the client address (`arena.vote_address`), never the address; NULL when unknown.
    address_key: Mapped[str | None] = mapped_column(String(32), nullable=True)


class RatingSnapshot(Base):
    """One model's rating at one computation; rows of one computation share `computed_at`."""

    __tablename__ = "rating_snapshots"
    __table_args__ = (Index("ix_rating_snapshots_method_kind_time", "method", "kind", "computed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    method: Mapped[str] = mapped_column(String(32))  # e.g. "bt", "elo"
    kind: Mapped[str] = mapped_column(String(16), default="human")
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model: Mapped[str] = mapped_column(String(200))
    rating: Mapped[float] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_battles: Mapped[int] = mapped_column(Integer, default=0)
