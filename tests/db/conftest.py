"""Fixtures: `db_url` / `database` run each test on SQLite and on PostgreSQL (if configured)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from db import Database
from tests.dbutil import BACKENDS, backend_url


@pytest.fixture(params=[pytest.param(b, marks=[pytest.mark.pg] if b == "postgresql" else []) for b in BACKENDS])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL per test, for each backend."""
    with backend_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A migrated `Database` on `db_url`."""
    database = Database(db_url)
    yield database
    database.dispose()
