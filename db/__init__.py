"""Database layer: typed models, engine factory, migrations and repositories.

    from db import open_db, repo
    database = open_db()            # EVALS_DB_URL or the default SQLite file, migrated to head
    with database.session() as s:   # commits on success, rolls back on error
        m = repo.upsert_model(s, "qwen2.5-0.5b", "/ckpt/qwen")

Importing this package never imports torch or transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from db import repo
from db import validate as _validate  # noqa: F401  (registers the NUL / length checks on every session)
from db.engine import SQLITE_BEGIN_OPTION, file_identity, make_engine, mask, resolve_url, sqlite_file
from db.errors import DatabaseUnavailable
from db.migrate import upgrade
from db.models import Base, ItemResult, Metric, Model, Run

__all__ = [
    "Base",
    "Database",
    "DatabaseUnavailable",
    "ItemResult",
    "Metric",
    "Model",
    "Run",
    "make_engine",
    "open_db",
    "repo",
    "resolve_url",
    "upgrade",
]


T = TypeVar("T")


class Database:
    """A migrated database plus a session factory.

    Args:
        url: SQLAlchemy URL; None means `EVALS_DB_URL` or the default SQLite file.

    Raises:
        DatabaseUnavailable: the URL is invalid or the database cannot be reached.
    """

    def __init__(self, url: str | URL | None = None) -> None:
        self.engine: Engine = make_engine(url)
        self.url: str = mask(self.engine.url)  # safe to print or log
        upgrade(self.engine)
        # A SQLite file deleted (or replaced) while open keeps accepting writes into the unlinked
        # inode, so every "stored" result would vanish; writes check the file is still the same one.
        self._file = sqlite_file(self.engine.url)
        self._file_id = file_identity(self._file)
        # expire_on_commit=False: returned rows stay readable after the session closes.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: a deferred transaction that reads and then writes fails at once (SQLITE_BUSY)
        # if another process wrote in between; writers take the lock at BEGIN and wait instead.
        writer = self.engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        self._write_sessions = sessionmaker(writer, expire_on_commit=False)

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """Yield a session; commit when the block succeeds, roll back when it raises.

        Args:
            write: On SQLite, take the write lock when the transaction starts, so concurrent
                writers queue (up to the 30 s busy timeout) instead of failing. Pass False for
                read-only work such as dashboards so it never waits on writers. No effect on
                PostgreSQL.
        """
        with (self._write_sessions if write else self._sessions)() as s:
            try:
                yield s
                if write and self._file_id is not None and file_identity(self._file) != self._file_id:
                    raise DatabaseUnavailable(
                        f"the database file {self._file} was deleted or replaced while in use; nothing more "
                        "can be stored in it (run the same command again to start over in a new file)"
                    )
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def retry_once(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        """Run idempotent `work(session)` in its own transaction; if the connection was dropped under it
        (server restart, terminated backend), run it once more on a fresh connection."""
        try:
            with self.session(write=write) as s:
                return work(s)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        with self.session(write=write) as s:
            return work(s)

    def dispose(self) -> None:
        """Close pooled connections (e.g. before forking worker processes)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url!r})"


def open_db(url: str | URL | None = None) -> Database:
    """Open (and migrate) the database at `url`; see `Database`."""
    return Database(url)
