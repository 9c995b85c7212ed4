"""Public voter mode (`evals dashboard --public`): voters get vote + leaderboard only, admin pages need
EVALS_ADMIN_TOKEN, and nothing about the server (store URL, paths, tracebacks) reaches the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from db import Database
from tests.dashboards.seed import seed_all

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, str]]:
    url = f"sqlite:///{tmp_path / 'public.db'}"
    monkeypatch.setenv("EVALS_DB_URL", url)
    monkeypatch.setenv("EVALS_DASHBOARD_PUBLIC", "1")
    monkeypatch.setenv("EVALS_VOTER_SECRET", "s3cret")
    database = Database(url)
    seed_all(database)
    yield database, str(tmp_path)
    database.dispose()


def _all_text(at: AppTest) -> str:
    kinds = ("title", "markdown", "caption", "info", "error", "success", "warning", "code", "text_input")
    parts = [str(getattr(e, "value", "")) for k in kinds for e in getattr(at, k)]
    parts += [str(getattr(e, "value", "")) for k in ("markdown", "caption") for e in getattr(at.sidebar, k)]
    return "\n".join(parts)


def test_public_mode_hides_store_and_admin_pages(store: tuple[Database, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, tmp = store
    monkeypatch.delenv("EVALS_ADMIN_TOKEN", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    text = _all_text(at)
    assert "sqlite" not in text and tmp not in text
    assert not at.sidebar.text_input  # no token configured: no way in at all
    with pytest.raises(Exception):  # noqa: B017 - the admin page is not registered
        at.switch_page("views/models.py").run()


def test_admin_token_unlocks_admin_pages(store: tuple[Database, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALS_ADMIN_TOKEN", "open-sesame")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    (token,) = at.sidebar.text_input
    token.input("wrong").run()
    assert "_admin_ok" not in at.session_state and at.sidebar.text_input  # still locked
    at.sidebar.text_input[0].input("open-sesame").run()
    assert at.session_state["_admin_ok"] is True
    at.switch_page("views/models.py").run()
    assert not at.exception and not at.error


def test_broken_store_shows_an_error_id_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A PostgreSQL server that is down: the error would name host, port, user and driver.
    monkeypatch.setenv("EVALS_DB_URL", "postgresql+psycopg://leitai_secret_user@127.0.0.1:1/votes")
    monkeypatch.setenv("EVALS_DASHBOARD_PUBLIC", "1")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    (err,) = at.error
    assert "错误编号" in err.value
    assert not any(w in err.value for w in ("leitai_secret_user", "127.0.0.1", "postgresql", "psycopg", "Traceback"))
