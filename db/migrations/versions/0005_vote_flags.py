"""Vote hygiene flags: votes.flags.

A comma-separated subset of "duplicate", "suggested", "suspect" (see arena/vote_hygiene.py):
the arena writes "suggested" when the voter used a suggested prompt; `evals arena hygiene`
(and every stored-vote rating run) recomputes "duplicate" and "suspect". NULL = no flag.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        batch.add_column(sa.Column("flags", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        batch.drop_column("flags")
