from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbutil import backend_url


@pytest.fixture()
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL schema URL (skips when EVALS_TEST_PG_URL is unset)."""
    with backend_url("postgresql", tmp_path) as url:
        yield url
