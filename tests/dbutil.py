"""Test database URLs for any test package: a fresh SQLite file, and PostgreSQL when configured.

PostgreSQL comes from `EVALS_TEST_PG_URL`; each user gets its own throw-away schema (selected
through the URL's `options=-csearch_path=...`), so test sessions never see each other's tables.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "EVALS_TEST_PG_URL"
BACKENDS = ("sqlite", "postgresql")
_exit_stack = ExitStack()
atexit.register(_exit_stack.close)


def sqlite_url(directory: Path) -> str:
    """URL of a (not yet existing) SQLite file in `directory`."""
    return f"sqlite:///{directory / 'leitai.db'}"


@contextmanager
def pg_schema_url(base_url: str) -> Iterator[str]:
    """Create a unique schema on `base_url`'s database, yield a URL using it, drop it on exit."""
    schema = f"leitai_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(base_url).set(drivername="postgresql+psycopg"))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def make_test_db_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """Fresh database URLs keyed by backend ("sqlite", "postgresql").

    "postgresql" is None when `EVALS_TEST_PG_URL` is unset. Its schema is dropped when the
    interpreter exits; use `pg_schema_url` directly for per-test teardown.
    """
    urls: dict[str, str | None] = {"sqlite": sqlite_url(tmp_path_factory.mktemp("db"))}
    base = os.environ.get(PG_ENV)
    urls["postgresql"] = _exit_stack.enter_context(pg_schema_url(base)) if base else None
    return urls


@contextmanager
def backend_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a fresh URL for `backend`, cleaning up afterwards; skips the test if PG is absent."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path)
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set")
    with pg_schema_url(base) as url:
        yield url
