"""Engine factory: resolve the database URL, tune SQLite, fail fast with one readable line."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from db.errors import DatabaseUnavailable

ENV_URL = "EVALS_DB_URL"
ENV_HOME = "EVALS_HOME"
PG_CONNECT_TIMEOUT_S = 5  # fail fast on a dead host instead of the OS default (minutes)
SQLITE_BUSY_TIMEOUT_MS = 30_000  # eval workers and the dashboard share one file
SQLITE_BEGIN_OPTION = "sqlite_begin"  # execution option: "" (deferred) | "IMMEDIATE" | "EXCLUSIVE"


def data_dir() -> Path:
    """Return (and create) the directory holding the default SQLite file.

    `EVALS_HOME` wins over the platform user-data dir so tests and CI can sandbox it.
    """
    home = os.environ.get(ENV_HOME)
    path = Path(home).expanduser() if home else Path(platformdirs.user_data_dir("leitai"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_url(url: str | URL | None = None) -> URL:
    """Pick the URL: explicit arg > `EVALS_DB_URL` > SQLite file in `data_dir()`.

    Also adds the `+psycopg` driver to bare `postgresql://` URLs.

    Raises:
        DatabaseUnavailable: the URL cannot be parsed.
    """
    raw = url if url is not None else os.environ.get(ENV_URL) or None
    if raw is None:
        return URL.create("sqlite", database=str(data_dir() / "leitai.db"))
    try:
        parsed = make_url(raw)
    except ArgumentError as e:
        raise DatabaseUnavailable(f"invalid database URL {_mask_raw(str(raw))}: {e}") from None
    except ValueError as e:  # SQLAlchemy's int() of a port that is not a number (`host:abc`, `[::1` unclosed)
        raise DatabaseUnavailable(f"invalid database URL {_mask_raw(str(raw))}: bad host or port ({e})") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def mask(url: str | URL) -> str:
    """Render a URL with its password replaced by `***`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _mask_raw(str(url))


def _mask_raw(raw: str) -> str:
    # Unparseable URL: blank anything between "user:" and "@" so a typo never leaks a secret.
    scheme, sep, rest = raw.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return raw
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def make_engine(url: str | URL | None = None) -> Engine:
    """Create an engine and check that the database answers.

    Args:
        url: SQLAlchemy URL; None means `EVALS_DB_URL` or the default SQLite file
            (`<user data dir>/leitai.db`, or `$EVALS_HOME/leitai.db`).

    Returns:
        A connected-once engine. SQLite engines use WAL, a 30 s busy timeout,
        foreign keys ON and real (transactional) BEGINs.

    Raises:
        DatabaseUnavailable: invalid URL, missing driver, or the server/file cannot
            be reached; the message names the URL with its password masked.
    """
    parsed = resolve_url(url)
    # pre-ping: a pooled connection the server dropped (restart, idle timeout, pg_terminate_backend)
    # is replaced at checkout instead of failing the next statement
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    backend = parsed.get_backend_name()
    if backend == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}

    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError) as e:
        raise DatabaseUnavailable(f"invalid database URL {mask(parsed)}: {_first_line(e)}") from None
    except ImportError as e:
        raise DatabaseUnavailable(f"no driver for database URL {mask(parsed)}: {_first_line(e)}") from None
    if backend == "sqlite":
        _tune_sqlite(engine)
    try:
        if backend == "sqlite":
            _ensure_sqlite_dir(parsed)
        with engine.connect():
            pass
    except (SQLAlchemyError, OSError) as e:
        engine.dispose()
        reason = _first_line(getattr(e, "orig", None) or e)
        if parsed.password:
            reason = reason.replace(str(parsed.password), "***")
        raise DatabaseUnavailable(f"cannot connect to database {mask(parsed)}: {reason}") from None
    return engine


def check_writable(engine: Engine) -> None:
    """Raise DatabaseUnavailable unless the database accepts writes (a read-only SQLite file or directory,
    a read-only role or a hot standby would otherwise fail only after a model has loaded).

    Rewrites Alembic's version row in place and rolls back, so nothing changes.
    """
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn = conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin() as tx:
                conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
                tx.rollback()
    except (SQLAlchemyError, OSError) as e:
        reason = _first_line(getattr(e, "orig", None) or e)
        raise DatabaseUnavailable(f"database {mask(engine.url)} does not accept writes: {reason}") from None


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL (None for memory databases and other backends)."""
    db = url.database
    if url.get_backend_name() != "sqlite" or not db or db == ":memory:":
        return None
    if db.startswith("file:"):  # URI filename: file:/path?mode=ro
        db = db[len("file:") :].split("?", 1)[0]
    return Path(db).expanduser().resolve()


def file_identity(path: Path | None) -> tuple[int, int] | None:
    """(device, inode) of `path`, or None when it does not exist: tells a deleted or replaced file."""
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _ensure_sqlite_dir(url: URL) -> None:
    db = url.database
    if db and db != ":memory:" and not db.startswith("file:"):
        Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # pysqlite's legacy implicit transactions skip DDL and savepoints; take BEGIN over ourselves
        # (SQLAlchemy's documented recipe) so migrations and nested sessions are really transactional.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cur)
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # `sqlite_begin="IMMEDIATE"` takes the write lock up front (used by migrations).
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _enable_wal(cur: sqlite3.Cursor) -> None:
    """Switch the file to WAL, so readers (dashboard) never block the writer.

    WAL is sticky, so this is a read after the first time. The switch itself needs an exclusive
    lock and SQLite does not apply busy_timeout to it: processes opening a fresh file together
    get "database is locked", hence the retry loop.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _first_line(e: BaseException | object) -> str:
    text = str(e).strip()
    return text.splitlines()[0].strip() if text else type(e).__name__
