"""Alembic environment for Leitai.

Normally driven by `db.migrate.upgrade`, which hands over an open connection via
`config.attributes["connection"]`. From the CLI (`alembic -c db/alembic.ini ...`) it connects
itself, to `-x url=...`, `EVALS_DB_URL`, or the default SQLite file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can't ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    from db.engine import resolve_url

    url = context.get_x_argument(as_dictionary=True).get("url")
    context.configure(
        url=resolve_url(url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=resolve_url(url).get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from db.engine import make_engine

    engine = make_engine(context.get_x_argument(as_dictionary=True).get("url"))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
