"""`db_url`: each test that asks for it runs on a fresh SQLite file and on PostgreSQL (when configured)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbutil import BACKENDS, backend_url


@pytest.fixture(params=[pytest.param(b, marks=[pytest.mark.pg] if b == "postgresql" else []) for b in BACKENDS])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as url:
        yield url
