"""Vote hygiene: duplicate, suggested and suspect votes are flagged, left out of ratings by
default, and counted; export carries conv_metadata, category and flags, and re-imports alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import update

from arena.battles import serve_battle
from arena.snapshots import NoRatedVotes, board_from_db, refresh_board
from arena.vote_hygiene import HygieneLimits, compute_flags, refresh_flags
from arena.votes import VoteLimits, record_vote
from db import Database, arena_repo
from db.models_arena import Battle, Vote
from evals.cli import main
from tests.arena.store_fixtures import add_models_with_answers, database, db_url

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NO_LIMITS = VoteLimits(max_votes=None, daily_cap=None)
LONG = "这是一个很长的回答。" * 40  # 400 characters: 10 s to read at 40 chars/s


def vote(vid: int, voter: str, prompt: int, outcome: str = "model_a", took: float = 60.0, **kw: Any) -> dict[str, Any]:
    return {"vote_id": vid, "voter_id": voter, "prompt_id": prompt, "outcome": outcome,
            "served_at": T0 + timedelta(minutes=vid), "voted_at": T0 + timedelta(minutes=vid, seconds=took),
            "answer_a_id": 1, "answer_b_id": 2, "flags": None} | kw  # fmt: skip


def test_duplicates_one_sided_and_fast_voters() -> None:
    chars = {1: 200, 2: 200}  # 10 s of reading
    votes = [vote(1, "alice", 7), vote(2, "alice", 7, "model_b"), vote(3, "bob", 7, flags="suggested")]
    votes += [
        vote(10 + k, "carol", k, "model_a" if k % 2 else "model_b", took=3.0 if k == 0 else 60.0) for k in range(8)
    ]
    votes += [vote(30 + k, "dave", k) for k in range(25)]  # always A, 25 decisive votes
    votes += [vote(60 + k, "erin", k, "model_b" if k % 3 else "model_a", took=4.0) for k in range(6)]  # always fast
    flags = compute_flags(votes, chars)
    assert flags[1] == set() and flags[2] == {"duplicate"}
    assert flags[3] == {"suggested"}  # kept from the vote page, not recomputed
    assert flags[10] == {"suspect"} and all(flags[10 + k] == set() for k in range(1, 8))  # one fast vote only
    assert all(flags[30 + k] == {"suspect"} for k in range(25))
    assert all(flags[60 + k] == {"suspect"} for k in range(6))
    # with a looser one-side threshold dave is fine
    loose = compute_flags(votes, chars, HygieneLimits(one_side_min=30))
    assert all(loose[30 + k] == set() for k in range(25))


def _seed(database: Database, n: int = 40, seed: int = 0) -> None:
    models = ("strong", "middle", "weak")
    texts = {(m, k): LONG if m == "weak" else f"回答{k}" for m in models for k in range(4)}
    add_models_with_answers(database, models, n_prompts=4, texts=texts)
    rng = np.random.default_rng(seed)
    strength = {"strong": 2, "middle": 1, "weak": 0}
    for k in range(n):
        session = f"session-{k}"
        view = serve_battle(database, session, rng=rng)
        with database.session(write=False) as s:
            b = arena_repo.get_battle(s, view.battle_id)
            assert b is not None
            names = arena_repo.model_names(s, (b.model_a_id, b.model_b_id))
        a_, b_ = names[b.model_a_id], names[b.model_b_id]
        outcome = "model_a" if (strength[a_] > strength[b_]) == (rng.random() < 0.8) else "model_b"
        record_vote(database, view.battle_id, session, outcome, f"voter-{k % 5}", limits=NO_LIMITS)
    # Served a minute before each vote, except voter-4, who voted within a second of serving every time.
    with database.session() as s:
        for battle_id, voter, at in s.execute(
            Vote.__table__.select().with_only_columns(Vote.battle_id, Vote.voter_id, Vote.created_at)  # type: ignore[attr-defined]
        ):
            served = at - (timedelta(seconds=0.5) if voter == "voter-4" else timedelta(minutes=1))
            s.execute(update(Battle).where(Battle.id == battle_id).values(served_at=served))


def test_stored_votes_flagged_excluded_counted_and_exported(
    database: Database, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(database)
    counts = refresh_flags(database)
    assert counts["suspect"] == 8  # voter-4's 8 votes
    assert counts["duplicate"] > 0  # 5 voters x 4 prompts: repeats are certain with 40 votes
    with database.session(write=False) as s:
        stored = arena_repo.flag_counts(s)
    assert sum(n for f, n in stored.items() if "suspect" in f) == 8

    result = board_from_db(database)
    n_flagged = sum(n for f, n in stored.items())
    assert result.n_rated == 40 - n_flagged
    assert result.excluded["suspect"] == 8 and result.excluded["duplicate"] == counts["duplicate"]
    everything = board_from_db(database, exclude=frozenset())
    assert everything.n_rated == 40 and everything.excluded == {}

    out_json = tmp_path / "r.json"
    assert run(["arena", "ratings", "--db", db_url, "--json", str(out_json), "--style-control", "--no-store"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"excluded flagged votes: {counts['duplicate']} duplicate, 8 suspect" in err
    doc = json.loads(out_json.read_text())
    assert doc["excluded_votes"] == {"duplicate": counts["duplicate"], "suspect": 8}
    # the weak model's answers are long, so the length feature is not constant
    assert doc["style"]["length"]["ci_low"] < doc["style"]["length"]["ci_high"]

    # Export carries conv_metadata, category and flags; the re-imported log rates identically.
    log = tmp_path / "log.json"
    assert run(["arena", "export", "--db", db_url, "--out", str(log)]) == 0
    records = json.loads(log.read_text())
    assert len(records) == 40
    meta = records[0]["conv_metadata"]
    assert {"sum_assistant_a_tokens", "header_count_b", "bold_count_a", "list_count_b"} <= set(meta)
    assert records[0]["category"] == "通用知识"
    assert sum("suspect" in r["flags"] for r in records) == 8
    imported = tmp_path / "imported.json"
    assert run(["arena", "ratings", "--import", str(log), "--style-control", "--json", str(imported)]) == 0
    again = json.loads(imported.read_text())
    assert again["excluded_votes"] == doc["excluded_votes"]
    for name, row in doc["models"].items():
        assert again["models"][name]["rating"] == pytest.approx(row["rating"], abs=1e-6)
    assert again["style"]["length"]["coef"] == pytest.approx(doc["style"]["length"]["coef"], abs=1e-6)


def test_refresh_board_only_when_new_votes(database: Database) -> None:
    assert refresh_board(database) is None  # nothing to rate yet
    _seed(database, n=20)
    first = refresh_board(database)
    assert first is not None
    assert refresh_board(database) is None  # no vote since: the snapshot is current
    with database.session(write=False) as s:
        rows = arena_repo.latest_rating_snapshots(s, "bt", "human")
    assert rows and all(r.ci_low is not None and r.ci_low < r.rating < r.ci_high for r in rows)
    view = serve_battle(database, "late-session", rng=np.random.default_rng(9))
    record_vote(database, view.battle_id, "late-session", "tie", "voter-late", limits=NO_LIMITS)
    second = refresh_board(database)
    assert second is not None and second > first


def test_all_votes_flagged(database: Database) -> None:
    _seed(database, n=10)
    with database.session() as s:
        s.execute(update(Vote).values(flags="suggested"))
    with pytest.raises(NoRatedVotes, match="all 10 human votes are flagged"):
        board_from_db(database)  # hygiene keeps "suggested", which only the vote page sets


def run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
