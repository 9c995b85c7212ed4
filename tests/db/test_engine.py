from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from db import DatabaseUnavailable, make_engine, resolve_url
from db.engine import mask


def test_default_url_uses_evals_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVALS_DB_URL", raising=False)
    monkeypatch.setenv("EVALS_HOME", str(tmp_path / "home"))
    url = resolve_url()
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database or "") == tmp_path / "home" / "leitai.db"
    assert (tmp_path / "home").is_dir()


def test_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALS_DB_URL", f"sqlite:///{tmp_path}/env.db")
    assert resolve_url().database == f"{tmp_path}/env.db"
    assert resolve_url(f"sqlite:///{tmp_path}/arg.db").database == f"{tmp_path}/arg.db"


def test_postgresql_gets_psycopg_driver() -> None:
    assert resolve_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert resolve_url("postgresql+psycopg://u:p@h/db").drivername == "postgresql+psycopg"


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/sub/dir/x.db")  # missing dirs are created
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_unreachable_postgres_is_fast_and_masked() -> None:
    start = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        make_engine("postgresql://alice:s3cret@127.0.0.1:1/nope")
    assert time.monotonic() - start < 6
    msg = str(info.value)
    assert "s3cret" not in msg and "alice:***@127.0.0.1:1/nope" in msg
    assert msg.startswith("cannot connect to database postgresql+psycopg://") and "\n" not in msg


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x/y", "postgresql://bob:pw@[bad"])
def test_invalid_url(url: str) -> None:
    with pytest.raises(DatabaseUnavailable) as info:
        make_engine(url)
    assert "pw" not in str(info.value) and "\n" not in str(info.value)


def test_mask() -> None:
    assert mask("postgresql+psycopg://u:pw@h:5/db") == "postgresql+psycopg://u:***@h:5/db"
    assert mask("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
