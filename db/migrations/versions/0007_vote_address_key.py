"""Client-address vote budget in the database: votes.address_key and live_votes.address_key.

A keyed hash of the voter's client address (HMAC-SHA256 with the server's secret, 32 hex digits;
see arena/vote_address.py), never the address itself. NULL when the address was unknown (and on
every vote stored before this migration). Indexed with the vote time, so the address budget is a
count over both tables that every dashboard process, and a restarted one, sees alike.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = (("votes", "ix_votes_address_created"), ("live_votes", "ix_live_votes_address_created"))


def upgrade() -> None:
    for table, index in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("address_key", sa.String(length=32), nullable=True))
        op.create_index(index, table, ["address_key", "created_at"], unique=False)


def downgrade() -> None:
    for table, index in _TABLES:
        op.drop_index(index, table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("address_key")
