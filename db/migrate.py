"""Run Alembic migrations programmatically: `upgrade(engine_or_url)` brings a database to head."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from db.engine import SQLITE_BEGIN_OPTION, make_engine
from db.errors import SchemaTooNew

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed 64-bit key works; it only has to be the same in every process that migrates.
_PG_LOCK_KEY = zlib.crc32(b"leitai-db-migrate")


def alembic_config() -> Config:
    """Build the Alembic config in code, so no alembic.ini is needed at run time."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@cache
def head_revisions() -> frozenset[str]:
    """Revision ids of the migration heads shipped with this package."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


@cache
def known_revisions() -> frozenset[str]:
    """Every revision id shipped with this package."""
    return frozenset(r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def current_revisions(conn: Connection) -> frozenset[str]:
    """Revisions the database is stamped with (empty for a fresh database)."""
    return frozenset(MigrationContext.configure(conn).get_current_heads())


def upgrade(target: Engine | str | URL | None = None) -> None:
    """Bring the database to the newest schema (`alembic upgrade head`).

    Cheap when already at head: one read of `alembic_version`. Safe to call from many
    processes at once: migrators serialize on a lock (SQLite write lock / PostgreSQL
    advisory lock) and the losers find the work done.

    Args:
        target: An engine from `db.engine.make_engine`, or a URL (None = default URL).

    Raises:
        DatabaseUnavailable: a URL was given and the database cannot be reached.
        SchemaTooNew: the database was migrated by a newer leitai than this one (names both revisions).
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.connect() as conn:
            if current_revisions(conn) == head_revisions():
                return
        with _locked_connection(engine) as conn:
            # Re-check under the lock: another process may have migrated meanwhile.
            current = current_revisions(conn)
            if unknown := current - known_revisions():
                raise SchemaTooNew(
                    f"database schema is at revision {', '.join(sorted(unknown))}, newer than this leitai's "
                    f"{', '.join(sorted(head_revisions()))}; upgrade leitai (pip install -U leitai)"
                )
            if current != head_revisions():
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
    finally:
        if engine is not target:
            engine.dispose()


@contextmanager
def _locked_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection inside one transaction that holds the migration lock; commit on exit."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            raw = conn.connection.driver_connection
            assert raw is not None  # a checked-out connection always has one
            # Batch migrations rebuild tables via DROP TABLE, which with foreign keys ON would
            # cascade-delete child rows. The pragma is ignored inside a transaction, so set it first.
            raw.execute("PRAGMA foreign_keys = OFF")
            try:
                conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                with conn.begin():
                    yield conn
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise RuntimeError(f"migration left foreign-key violations: {bad[:5]}")
            finally:
                raw.execute("PRAGMA foreign_keys = ON")
        else:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                yield conn
