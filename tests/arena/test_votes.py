"""Vote rules: every refusal reason, outcome aliases, the UNIQUE guard, reveal-after-vote, limits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import func, select

import arena.votes
from arena.battles import BattleView, reveal, serve_battle
from arena.errors import RevealRefused, VoteRefused
from arena.votes import REFUSAL_CODES, VoteLimits, normalize_outcome, record_vote
from db import Database
from db.models_arena import Vote
from tests.arena.store_fixtures import add_models_with_answers, database, db_url

NO_LIMITS = VoteLimits(max_votes=None)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def n_votes(database: Database) -> int:
    with database.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Vote)) or 0)


def serve(database: Database, session: str = "sess", seed: int = 0) -> BattleView:
    return serve_battle(database, session, rng=np.random.default_rng(seed))


def refused(code: str, fn, *args, **kwargs) -> VoteRefused:  # type: ignore[no-untyped-def]
    with pytest.raises(VoteRefused) as exc:
        fn(*args, **kwargs)
    assert exc.value.code == code
    assert code in REFUSAL_CODES
    assert exc.value.message_zh and exc.value.message_en  # the voter is always told why
    return exc.value


@pytest.mark.parametrize(
    ("alias", "stored"),
    [("a", "model_a"), ("B", "model_b"), ("tie", "tie"), ("bothbad", "tie (bothbad)"),
     ("tie (bothbad)", "tie (bothbad)"), (" model_a ", "model_a")],
)  # fmt: skip
def test_outcome_aliases(alias: str, stored: str) -> None:
    assert normalize_outcome(alias) == stored


def test_vote_then_reveal(database: Database) -> None:
    add_models_with_answers(database, ["m1", "m2"])
    view = serve(database)
    err = pytest.raises(RevealRefused, reveal, database, view.battle_id, "sess")
    assert err.value.code == "not_voted"
    result = record_vote(database, view.battle_id, "sess", "bothbad", "voter", limits=NO_LIMITS)
    assert result.outcome == "tie (bothbad)" and not result.excluded
    assert {result.model_a, result.model_b} == {"m1", "m2"}
    assert reveal(database, view.battle_id, "sess") == (result.model_a, result.model_b)
    with pytest.raises(RevealRefused) as other:
        reveal(database, view.battle_id, "someone-else")
    assert other.value.code == "not_your_battle"
    with pytest.raises(RevealRefused) as unknown:
        reveal(database, "no-such-battle", "sess")
    assert unknown.value.code == "unknown_battle"


def test_each_refusal_reason_stores_nothing(database: Database) -> None:
    add_models_with_answers(database, ["m1", "m2"])
    view = serve(database)
    refused("bad_outcome", record_vote, database, view.battle_id, "sess", "left-ish", "v", limits=NO_LIMITS)
    refused("bad_voter", record_vote, database, view.battle_id, "sess", "a", " ", limits=NO_LIMITS)
    refused("unknown_battle", record_vote, database, "nope", "sess", "a", "v", limits=NO_LIMITS)
    refused("not_your_battle", record_vote, database, view.battle_id, "other-session", "a", "v", limits=NO_LIMITS)
    assert n_votes(database) == 0
    record_vote(database, view.battle_id, "sess", "a", "v", limits=NO_LIMITS)
    refused("already_voted", record_vote, database, view.battle_id, "sess", "b", "v", limits=NO_LIMITS)
    assert n_votes(database) == 1


def test_double_vote_from_two_connections_at_once(database: Database, db_url: str) -> None:
    """Two tabs of one session submit together: exactly one vote is stored, the other is refused."""
    add_models_with_answers(database, ["m1", "m2"])
    views = [serve(database, "sess", seed=k) for k in range(5)]
    second = Database(db_url)  # its own connection pool, as another web worker would have
    try:
        for view in views:
            outcomes: list[str] = []
            barrier = threading.Barrier(2)

            def vote(db: Database, choice: str, barrier=barrier, view=view, outcomes=outcomes) -> None:
                barrier.wait()
                try:
                    record_vote(db, view.battle_id, "sess", choice, "v", limits=NO_LIMITS)
                    outcomes.append("ok")
                except VoteRefused as exc:
                    outcomes.append(exc.code)

            threads = [threading.Thread(target=vote, args=a) for a in ((database, "a"), (second, "b"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(outcomes) == ["already_voted", "ok"]
    finally:
        second.dispose()
    assert n_votes(database) == len(views)


def test_unique_constraint_catches_a_double_vote_the_precheck_missed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_models_with_answers(database, ["m1", "m2"])
    view = serve(database)
    record_vote(database, view.battle_id, "sess", "a", "v", limits=NO_LIMITS)
    # Simulate the race: the friendly pre-check sees no vote, so only the constraint stands guard.
    monkeypatch.setattr(arena.votes, "_check_not_voted", lambda s, battle_id: None)
    refused("already_voted", record_vote, database, view.battle_id, "sess", "b", "v", limits=NO_LIMITS)
    assert n_votes(database) == 1


def test_rate_limit_per_voter_window(database: Database) -> None:
    add_models_with_answers(database, ["m1", "m2", "m3"])
    limits = VoteLimits(max_votes=3, window_s=60)
    views = [serve(database, "sess", seed=k) for k in range(6)]
    for k in range(3):
        record_vote(database, views[k].battle_id, "sess", "a", "flood", now=T0 + timedelta(seconds=k), limits=limits)
    err = refused(
        "rate_limited", record_vote, database, views[3].battle_id, "sess", "a", "flood",
        now=T0 + timedelta(seconds=10), limits=limits,
    )  # fmt: skip
    assert err.retry_after_s == pytest.approx(50, abs=1)  # the first vote leaves the window at T0 + 60 s
    assert "60 秒" in err.message_zh
    # Another voter is not affected; the same voter may vote again once the window has moved on.
    record_vote(database, views[3].battle_id, "sess", "a", "calm", now=T0 + timedelta(seconds=10), limits=limits)
    record_vote(database, views[4].battle_id, "sess", "a", "flood", now=T0 + timedelta(seconds=61), limits=limits)
    assert n_votes(database) == 5


def test_daily_cap(database: Database) -> None:
    add_models_with_answers(database, ["m1", "m2"])
    limits = VoteLimits(max_votes=None, daily_cap=2)
    views = [serve(database, "sess", seed=k) for k in range(4)]
    record_vote(database, views[0].battle_id, "sess", "a", "v", now=T0, limits=limits)
    record_vote(database, views[1].battle_id, "sess", "a", "v", now=T0 + timedelta(hours=1), limits=limits)
    refused("daily_cap", record_vote, database, views[2].battle_id, "sess", "a", "v",
            now=T0 + timedelta(hours=5), limits=limits)  # fmt: skip
    record_vote(database, views[2].battle_id, "sess", "a", "v", now=T0 + timedelta(hours=24, seconds=1), limits=limits)


def test_limits_from_env() -> None:
    assert VoteLimits.from_env({}) == VoteLimits()
    assert VoteLimits.from_env({"EVALS_VOTE_RATE": "5/30"}) == VoteLimits(max_votes=5, window_s=30)
    assert VoteLimits.from_env({"EVALS_VOTE_RATE": "off"}).max_votes is None
    assert VoteLimits.from_env({"EVALS_VOTE_DAILY_CAP": "200"}).daily_cap == 200
    for bad in ({"EVALS_VOTE_RATE": "ten/60"}, {"EVALS_VOTE_RATE": "0/60x"}, {"EVALS_VOTE_DAILY_CAP": "-1"}):
        with pytest.raises(ValueError, match="EVALS_VOTE"):
            VoteLimits.from_env(bad)


def test_default_limits_come_from_env(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    add_models_with_answers(database, ["m1", "m2"])
    monkeypatch.setenv("EVALS_VOTE_RATE", "1/3600")
    views = [serve(database, "sess", seed=k) for k in range(2)]
    record_vote(database, views[0].battle_id, "sess", "a", "v")
    refused("rate_limited", record_vote, database, views[1].battle_id, "sess", "a", "v")
