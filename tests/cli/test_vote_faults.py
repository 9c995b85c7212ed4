"""A vote the database could not store tells the voter to vote again, and nothing of it is written,
on SQLite and PostgreSQL alike (a database that refuses writes; a SQLite file deleted under the page)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from arena.battles import serve_battle
from arena.errors import VoteRefused
from arena.votes import REFUSAL_CODES, VoteLimits, record_vote
from db import Database
from db.models_arena import Vote
from tests.arena.store_fixtures import add_models_with_answers
from tests.cli.test_preflight import _read_only

NO_LIMITS = VoteLimits(max_votes=None)


def votes(url: str) -> int:
    database = Database(url)
    try:
        with database.session(write=False) as s:
            return int(s.scalar(select(func.count()).select_from(Vote)) or 0)
    finally:
        database.dispose()


def test_vote_on_a_database_that_refuses_writes(db_url: str) -> None:
    database = Database(db_url)
    add_models_with_answers(database, ["m1", "m2"])
    view = serve_battle(database, "sess", rng=np.random.default_rng(0))
    database.dispose()
    read_only = Database(_read_only(db_url))  # the page's connection loses write access
    with pytest.raises(VoteRefused) as exc:
        record_vote(read_only, view.battle_id, "sess", "a", "voter", limits=NO_LIMITS)
    read_only.dispose()
    assert exc.value.code == "not_stored" and "not_stored" in REFUSAL_CODES
    assert "再投一次" in exc.value.message_zh and "again" in exc.value.message_en
    assert votes(db_url) == 0
    writable = Database(db_url)  # once it is back, the same vote goes in
    assert record_vote(writable, view.battle_id, "sess", "a", "voter", limits=NO_LIMITS).outcome == "model_a"
    writable.dispose()
    assert votes(db_url) == 1


def test_vote_after_the_sqlite_file_was_deleted(tmp_path: Path) -> None:
    path = tmp_path / "arena.db"
    database = Database(f"sqlite:///{path}")
    add_models_with_answers(database, ["m1", "m2"])
    view = serve_battle(database, "sess", rng=np.random.default_rng(0))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(VoteRefused) as exc:
        record_vote(database, view.battle_id, "sess", "a", "voter", limits=NO_LIMITS)
    assert exc.value.code == "not_stored"
    database.dispose()
