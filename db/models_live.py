"""Live-arena tables: the live pool, conversations with their messages, live battles and their votes.

Registered on `db.models.Base` (db/models.py imports this module), so Alembic and the drift
test see them. Migration: db/migrations/versions/0004_live_arena.py.

A live battle is one conversation between a voter and two anonymous pool models; every turn
stores the user's message once and each model's answer with what produced it (generation
parameters, system prompt, token counts, time to first token, latency, finish reason). A battle
with `failed_reason` set (timeout, server error, empty answer) never takes a vote and is never
rated. Invariants the database enforces (rules live in `arena/live*.py`):
- a battle pits two different models; at most one vote per battle;
- outcomes are FastChat's `winner` strings; prompt origin is "suggested" or "typed".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow
from db.models_arena import VOTE_OUTCOMES, _in_list

PROMPT_ORIGINS: tuple[str, ...] = ("suggested", "typed")
POOL_KINDS: tuple[str, ...] = ("openai", "local")
SIDES: tuple[str, ...] = ("user", "a", "b")


class PoolModel(Base):
    """A model voters can meet live: an OpenAI-compatible server or a local checkpoint served in-process.

    `api_key_env` names the environment variable read at call time; the key itself is never stored.
    """

    __tablename__ = "live_pool"
    __table_args__ = (CheckConstraint(_in_list("kind", POOL_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    served_model_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    api_key_env: Mapped[str | None] = mapped_column(String(100), nullable=True)
    model_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    gen_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Conversation(Base):
    """One voter's chat with two anonymous models; `id` is an unguessable token."""

    __tablename__ = "conversations"
    __table_args__ = (CheckConstraint(_in_list("prompt_origin", PROMPT_ORIGINS), name="prompt_origin"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    voter_id: Mapped[str] = mapped_column(String(128), index=True)
    session_id: Mapped[str] = mapped_column(String(128))
    prompt_origin: Mapped[str] = mapped_column(String(16), default="typed")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Message(Base):
    """One message of a conversation: the user's turn (side "user") or one model's answer (side a/b)."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_in_list("side", SIDES), name="side"),
        Index("ix_messages_conversation_turn", "conversation_id", "turn"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    turn: Mapped[int] = mapped_column(Integer)  # 0, 1, ... (a user message and the two answers share it)
    side: Mapped[str] = mapped_column(String(8))
    role: Mapped[str] = mapped_column(String(16))  # "user" | "assistant"
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ttft_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    gen_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    system_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LiveBattle(Base):
    """The battle of a conversation: which model was shown as A and B. Failed battles are never rated."""

    __tablename__ = "live_battles"
    __table_args__ = (CheckConstraint("model_a_id <> model_b_id", name="distinct_models"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), unique=True)
    model_a_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    model_b_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    session_id: Mapped[str] = mapped_column(String(128), index=True)
    served_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    failed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class LiveVote(Base):
    """The single vote on a live battle, with optional per-side tags and a comment."""

    __tablename__ = "live_votes"
    __table_args__ = (
        CheckConstraint(_in_list("outcome", VOTE_OUTCOMES), name="outcome"),
        Index("ix_live_votes_voter_created", "voter_id", "created_at"),
        Index("ix_live_votes_address_created", "address_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("live_battles.id"), unique=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    voter_id: Mapped[str] = mapped_column(String(128))
    tags_a: Mapped[list[Any]] = mapped_column(default=list)
    tags_b: Mapped[list[Any]] = mapped_column(default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    excluded_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Keyed hash of the client address (`arena.vote_address`, migration 0007); NULL when unknown.
    address_key: Mapped[str | None] = mapped_column(String(32), nullable=True)
