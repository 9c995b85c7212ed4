"""Live arena: live_pool, conversations, messages, live_battles, live_votes.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES = "outcome IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')"


def upgrade() -> None:
    op.create_table(
        "live_pool",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=True),
        sa.Column("served_model_name", sa.String(length=200), nullable=True),
        sa.Column("api_key_env", sa.String(length=100), nullable=True),
        sa.Column("model_path", sa.Text(), nullable=True),
        sa.Column("gen_params", sa.JSON(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('openai', 'local')", name="ck_live_pool_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_live_pool"),
        sa.UniqueConstraint("name", name="uq_live_pool_name"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("voter_id", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("prompt_origin", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("prompt_origin IN ('suggested', 'typed')", name="ck_conversations_prompt_origin"),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
    )
    op.create_index("ix_conversations_voter_id", "conversations", ["voter_id"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("ttft_s", sa.Float(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("finish_reason", sa.String(length=32), nullable=True),
        sa.Column("gen_params", sa.JSON(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('user', 'a', 'b')", name="ck_messages_side"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name="fk_messages_conversation_id_conversations"
        ),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_messages_model_id_models"),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
    )
    op.create_index("ix_messages_conversation_turn", "messages", ["conversation_id", "turn"])
    op.create_table(
        "live_battles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("model_a_id", sa.Integer(), nullable=False),
        sa.Column("model_b_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("model_a_id <> model_b_id", name="ck_live_battles_distinct_models"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name="fk_live_battles_conversation_id_conversations"
        ),
        sa.ForeignKeyConstraint(["model_a_id"], ["models.id"], name="fk_live_battles_model_a_id_models"),
        sa.ForeignKeyConstraint(["model_b_id"], ["models.id"], name="fk_live_battles_model_b_id_models"),
        sa.PrimaryKeyConstraint("id", name="pk_live_battles"),
        sa.UniqueConstraint("conversation_id", name="uq_live_battles_conversation_id"),
    )
    op.create_index("ix_live_battles_session_id", "live_battles", ["session_id"])
    op.create_table(
        "live_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battle_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("voter_id", sa.String(length=128), nullable=False),
        sa.Column("tags_a", sa.JSON(), nullable=False),
        sa.Column("tags_b", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("excluded_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(_OUTCOMES, name="ck_live_votes_outcome"),
        sa.ForeignKeyConstraint(["battle_id"], ["live_battles.id"], name="fk_live_votes_battle_id_live_battles"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name="fk_live_votes_conversation_id_conversations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_live_votes"),
        sa.UniqueConstraint("battle_id", name="uq_live_votes_battle_id"),
    )
    op.create_index("ix_live_votes_voter_created", "live_votes", ["voter_id", "created_at"])


def downgrade() -> None:
    op.drop_table("live_votes")
    op.drop_table("live_battles")
    op.drop_table("messages")
    op.drop_table("conversations")
    op.drop_table("live_pool")
