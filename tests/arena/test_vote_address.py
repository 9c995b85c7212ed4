"""The client address joins the signed voter identity in the vote limits: a voter who drops their
cookie (a new voter id each vote) on one address still meets the limits. Real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from arena.battles import serve_battle
from arena.errors import VoteRefused
from arena.vote_address import ADDRESS_FACTOR, address_budget
from arena.votes import VoteLimits, record_vote
from db import Database
from db.models_arena import Vote
from tests.arena.store_fixtures import add_models_with_answers, database, db_url

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_budget() -> Iterator[None]:
    address_budget.clear()
    yield
    address_budget.clear()


def _battles(database: Database, n: int) -> list[tuple[str, str]]:
    add_models_with_answers(database, ["m1", "m2", "m3"], n_prompts=6)
    rng = np.random.default_rng(0)
    return [(serve_battle(database, f"sess-{k}", rng=rng).battle_id, f"sess-{k}") for k in range(n)]


def _stored(database: Database) -> int:
    with database.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Vote)) or 0)


def test_new_cookies_on_one_address_meet_the_rate_limit(database: Database) -> None:
    limits = VoteLimits(max_votes=2, window_s=60.0)
    per_address = 2 * ADDRESS_FACTOR
    battles = _battles(database, per_address + 4)
    at = [T0 + timedelta(seconds=k) for k in range(len(battles))]
    for k in range(per_address - 1):  # a fresh voter id every time: the per-voter limit never bites
        record_vote(database, *battles[k], "a", f"fresh-{k}", now=at[k], limits=limits, client_address="10.0.0.7")
    # A refusal for another reason (already voted) gives its reservation back.
    with pytest.raises(VoteRefused) as no:
        record_vote(database, *battles[0], "b", "fresh-x", now=at[0], limits=limits, client_address="10.0.0.7")
    assert no.value.code == "already_voted"
    k = per_address - 1
    record_vote(database, *battles[k], "a", f"fresh-{k}", now=at[k], limits=limits, client_address="10.0.0.7")
    with pytest.raises(VoteRefused) as no:
        record_vote(database, *battles[k + 1], "a", "fresh-last", now=at[k + 1], limits=limits,
                    client_address="10.0.0.7")  # fmt: skip
    assert no.value.code == "rate_limited" and no.value.retry_after_s and "网络" in no.value.message_zh
    assert _stored(database) == per_address  # the refused vote stored nothing
    # Another address, or no address known, is not held back by this one.
    record_vote(database, *battles[k + 1], "a", "fresh-other", now=at[k + 1], limits=limits, client_address="10.0.0.8")
    record_vote(database, *battles[k + 2], "a", "fresh-none", now=at[k + 2], limits=limits)
    # After the window the address may vote again.
    later = T0 + timedelta(seconds=200)
    record_vote(database, *battles[k + 3], "a", "fresh-later", now=later, limits=limits, client_address="10.0.0.7")
    assert _stored(database) == per_address + 3


def test_daily_cap_per_address(database: Database) -> None:
    limits = VoteLimits(max_votes=None, daily_cap=1)
    battles = _battles(database, ADDRESS_FACTOR + 2)
    for k in range(ADDRESS_FACTOR):
        record_vote(database, *battles[k], "tie", f"v-{k}", now=T0 + timedelta(minutes=k), limits=limits,
                    client_address="192.0.2.1")  # fmt: skip
    with pytest.raises(VoteRefused) as no:
        record_vote(database, *battles[ADDRESS_FACTOR], "tie", "v-new", now=T0 + timedelta(hours=1), limits=limits,
                    client_address="192.0.2.1")  # fmt: skip
    assert no.value.code == "daily_cap"
    record_vote(database, *battles[ADDRESS_FACTOR + 1], "tie", "v-tomorrow", now=T0 + timedelta(days=1, hours=1),
                limits=limits, client_address="192.0.2.1")  # fmt: skip
    assert _stored(database) == ADDRESS_FACTOR + 1
