"""Arena tables: arena_prompts, arena_answers, battles, votes, rating_snapshots.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "arena_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("norm_hash", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_arena_prompts"),
        sa.UniqueConstraint("norm_hash", name="uq_arena_prompts_norm_hash"),
    )
    op.create_index("ix_arena_prompts_category", "arena_prompts", ["category"])
    op.create_table(
        "arena_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("gen_params", sa.JSON(), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_arena_answers_model_id_models"),
        sa.ForeignKeyConstraint(["prompt_id"], ["arena_prompts.id"], name="fk_arena_answers_prompt_id_arena_prompts"),
        sa.PrimaryKeyConstraint("id", name="pk_arena_answers"),
        sa.UniqueConstraint("prompt_id", "model_id", "params_hash", name="uq_arena_answers_prompt_model_params"),
    )
    op.create_index("ix_arena_answers_model_id", "arena_answers", ["model_id"])
    op.create_table(
        "battles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("model_a_id", sa.Integer(), nullable=False),
        sa.Column("model_b_id", sa.Integer(), nullable=False),
        sa.Column("answer_a_id", sa.Integer(), nullable=False),
        sa.Column("answer_b_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("excluded_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('human', 'judge')", name="ck_battles_kind"),
        sa.CheckConstraint("model_a_id <> model_b_id", name="ck_battles_distinct_models"),
        sa.ForeignKeyConstraint(["answer_a_id"], ["arena_answers.id"], name="fk_battles_answer_a_id_arena_answers"),
        sa.ForeignKeyConstraint(["answer_b_id"], ["arena_answers.id"], name="fk_battles_answer_b_id_arena_answers"),
        sa.ForeignKeyConstraint(["model_a_id"], ["models.id"], name="fk_battles_model_a_id_models"),
        sa.ForeignKeyConstraint(["model_b_id"], ["models.id"], name="fk_battles_model_b_id_models"),
        sa.ForeignKeyConstraint(["prompt_id"], ["arena_prompts.id"], name="fk_battles_prompt_id_arena_prompts"),
        sa.PrimaryKeyConstraint("id", name="pk_battles"),
    )
    op.create_index("ix_battles_prompt_id", "battles", ["prompt_id"])
    op.create_index("ix_battles_session_id", "battles", ["session_id"])
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battle_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("voter_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("excluded_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("outcome IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')", name="ck_votes_outcome"),
        sa.ForeignKeyConstraint(["battle_id"], ["battles.id"], name="fk_votes_battle_id_battles"),
        sa.PrimaryKeyConstraint("id", name="pk_votes"),
        sa.UniqueConstraint("battle_id", name="uq_votes_battle_id"),
    )
    op.create_index("ix_votes_voter_created", "votes", ["voter_id", "created_at"])
    op.create_table(
        "rating_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("rating", sa.Float(), nullable=False),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("n_battles", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rating_snapshots"),
    )
    op.create_index("ix_rating_snapshots_method_kind_time", "rating_snapshots", ["method", "kind", "computed_at"])


def downgrade() -> None:
    op.drop_table("rating_snapshots")
    op.drop_table("votes")
    op.drop_table("battles")
    op.drop_table("arena_answers")
    op.drop_table("arena_prompts")
