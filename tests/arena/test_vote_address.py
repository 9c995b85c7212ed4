"""The client address joins the signed voter identity in the vote limits: a voter who drops their
cookie (a new voter id each vote) on one address still meets the limits. The budget is counted from
vote rows (`address_key`), so every process on one database shares it. Real SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text

from arena.battles import serve_battle
from arena.errors import VoteRefused
from arena.live import record_live_vote
from arena.vote_address import ADDRESS_FACTOR, address_key
from arena.votes import VoteLimits, record_vote
from db import Database, live_repo, make_engine, repo
from db.migrate import alembic_config
from db.models_arena import Vote
from db.models_live import LiveVote
from tests.arena.store_fixtures import add_models_with_answers, database, db_url

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = b"test-server-secret"
HOME, OFFICE = address_key("10.0.0.7", SECRET), address_key("10.0.0.8", SECRET)


def _battles(database: Database, n: int) -> list[tuple[str, str]]:
    add_models_with_answers(database, ["m1", "m2", "m3"], n_prompts=6)
    rng = np.random.default_rng(0)
    return [(serve_battle(database, f"sess-{k}", rng=rng).battle_id, f"sess-{k}") for k in range(n)]


def _stored(database: Database) -> int:
    with database.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Vote)) or 0)


def test_the_key_is_keyed_and_never_the_address() -> None:
    key = address_key("10.0.0.7", SECRET)
    assert len(key) == 32 and int(key, 16) >= 0
    assert key == address_key("10.0.0.7", SECRET) != address_key("10.0.0.7", b"another secret")
    assert key != hashlib.sha256(b"10.0.0.7").hexdigest()[:32]  # not the unkeyed (reversible) hash
    with pytest.raises(ValueError):
        address_key("10.0.0.7", b"")


def test_an_ipv6_client_is_keyed_by_its_64() -> None:
    home = address_key("2001:db8:1:2::10", SECRET)
    assert address_key("2001:db8:1:2:ffff:1:2:3", SECRET) == home  # a new address in the same /64
    assert address_key("[2001:db8:1:2::10]", SECRET) == home
    assert address_key("2001:db8:1:3::10", SECRET) != home  # the next /64 is another network
    assert address_key("::ffff:10.0.0.7", SECRET) == address_key("10.0.0.7", SECRET)  # IPv4-mapped
    assert address_key("10.0.0.7", SECRET) != address_key("10.0.0.8", SECRET)  # IPv4: per address


def test_new_cookies_on_one_address_meet_the_rate_limit(database: Database) -> None:
    limits = VoteLimits(max_votes=2, window_s=60.0)
    per_address = 2 * ADDRESS_FACTOR
    battles = _battles(database, per_address + 4)
    at = [T0 + timedelta(seconds=k) for k in range(len(battles))]
    for k in range(per_address - 1):  # a fresh voter id every time: the per-voter limit never bites
        record_vote(database, *battles[k], "a", f"fresh-{k}", now=at[k], limits=limits, address_key=HOME)
    # A refusal for another reason (already voted) stores no row, so it spends nothing.
    with pytest.raises(VoteRefused) as no:
        record_vote(database, *battles[0], "b", "fresh-x", now=at[0], limits=limits, address_key=HOME)
    assert no.value.code == "already_voted"
    k = per_address - 1
    record_vote(database, *battles[k], "a", f"fresh-{k}", now=at[k], limits=limits, address_key=HOME)
    with pytest.raises(VoteRefused) as no:
        record_vote(database, *battles[k + 1], "a", "fresh-last", now=at[k + 1], limits=limits, address_key=HOME)
    assert no.value.code == "rate_limited" and "网络" in no.value.message_zh and "network" in no.value.message_en
    # The oldest of the address's last 8 votes (at T0) leaves the 60 s window at T0 + 60 s.
    assert no.value.retry_after_s == pytest.approx(60.0 - (at[k + 1] - T0).total_seconds())
    assert _stored(database) == per_address  # the refused vote stored nothing
    # Another address, or no address known, is not held back by this one.
    record_vote(database, *battles[k + 1], "a", "fresh-other", now=at[k + 1], limits=limits, address_key=OFFICE)
    record_vote(database, *battles[k + 2], "a", "fresh-none", now=at[k + 2], limits=limits)
    # After the window the address may vote again.
    later = T0 + timedelta(seconds=200)
    record_vote(database, *battles[k + 3], "a", "fresh-later", now=later, limits=limits, address_key=HOME)
    assert _stored(database) == per_address + 3


def test_the_budget_is_shared_by_processes_and_survives_a_restart(database: Database, db_url: str) -> None:
    """Different voter ids, each vote through its own `Database` (another dashboard process, or one
    started after a restart): the address budget is counted from the rows, nothing is kept in memory."""
    limits = VoteLimits(max_votes=1, window_s=60.0)  # 1 per voter, 4 per address
    battles = _battles(database, ADDRESS_FACTOR + 2)
    for k in range(ADDRESS_FACTOR):
        worker = Database(db_url)
        try:
            record_vote(worker, *battles[k], "a", f"voter-{k}", now=T0 + timedelta(seconds=k), limits=limits,
                        address_key=HOME)  # fmt: skip
        finally:
            worker.dispose()
    restarted = Database(db_url)
    try:
        with pytest.raises(VoteRefused) as no:  # a voter never seen before: only the address's rows refuse it
            record_vote(restarted, *battles[ADDRESS_FACTOR], "a", "voter-new", now=T0 + timedelta(seconds=10),
                        limits=limits, address_key=HOME)  # fmt: skip
        assert no.value.code == "rate_limited" and no.value.retry_after_s == pytest.approx(50.0)
        record_vote(restarted, *battles[ADDRESS_FACTOR], "a", "voter-new", now=T0 + timedelta(seconds=10),
                    limits=limits, address_key=OFFICE)  # fmt: skip
    finally:
        restarted.dispose()
    with database.session(write=False) as s:
        keys = list(s.scalars(select(Vote.address_key).order_by(Vote.created_at)))
    assert keys == [HOME] * ADDRESS_FACTOR + [OFFICE]


def test_daily_cap_per_address(database: Database) -> None:
    limits = VoteLimits(max_votes=None, daily_cap=1)
    battles = _battles(database, ADDRESS_FACTOR + 3)
    for k in range(ADDRESS_FACTOR):
        record_vote(database, *battles[k], "tie", f"v-{k}", now=T0 + timedelta(minutes=k), limits=limits,
                    address_key=HOME)  # fmt: skip
    with pytest.raises(VoteRefused) as no:
        record_vote(database, *battles[ADDRESS_FACTOR], "tie", "v-new", now=T0 + timedelta(hours=1), limits=limits,
                    address_key=HOME)  # fmt: skip
    assert no.value.code == "daily_cap" and "网络" in no.value.message_zh
    record_vote(database, *battles[ADDRESS_FACTOR], "tie", "v-elsewhere", now=T0 + timedelta(hours=1), limits=limits,
                address_key=OFFICE)  # fmt: skip
    record_vote(database, *battles[ADDRESS_FACTOR + 1], "tie", "v-tomorrow", now=T0 + timedelta(days=1, hours=1),
                limits=limits, address_key=HOME)  # fmt: skip
    assert _stored(database) == ADDRESS_FACTOR + 2


def _live_battle(database: Database, bid: str) -> None:
    """A live battle with one answered turn, stored directly (no chat server needed to vote on it)."""
    with database.session() as s:
        ids = [m.id for m in repo.list_models(s)][:2]
        live_repo.add_conversation(s, id=f"c-{bid}", voter_id=bid, session_id=bid, prompt_origin="typed")
        live_repo.add_live_battle(s, id=bid, conversation_id=f"c-{bid}", model_a_id=ids[0], model_b_id=ids[1],
                                  session_id=bid)  # fmt: skip
        live_repo.add_message(s, conversation_id=f"c-{bid}", turn=0, side="user", role="user", text="你好",
                              gen_params={})  # fmt: skip
        for side, mid in zip("ab", ids, strict=True):
            live_repo.add_message(s, conversation_id=f"c-{bid}", turn=0, side=side, role="assistant", model_id=mid,
                                  text="你好！", gen_params={})  # fmt: skip


def test_bank_and_live_votes_share_the_address_budget(database: Database) -> None:
    limits = VoteLimits(max_votes=1, window_s=60.0)
    battles = _battles(database, ADDRESS_FACTOR)
    for k in range(ADDRESS_FACTOR - 1):
        record_vote(database, *battles[k], "a", f"bank-{k}", now=T0 + timedelta(seconds=k), limits=limits,
                    address_key=HOME)  # fmt: skip
    for bid in ("live-1", "live-2"):
        _live_battle(database, bid)
    record_live_vote(database, "live-1", "live-1", "b", "live-1", now=T0 + timedelta(seconds=5), limits=limits,
                     address_key=HOME)  # fmt: skip
    with pytest.raises(VoteRefused) as no:  # 3 bank + 1 live votes fill the budget, from either side
        record_live_vote(database, "live-2", "live-2", "b", "live-2", now=T0 + timedelta(seconds=6), limits=limits,
                         address_key=HOME)  # fmt: skip
    assert no.value.code == "rate_limited"
    with pytest.raises(VoteRefused) as no:
        record_vote(database, *battles[-1], "a", "bank-last", now=T0 + timedelta(seconds=7), limits=limits,
                    address_key=HOME)  # fmt: skip
    assert no.value.code == "rate_limited"
    with database.session(write=False) as s:
        assert list(s.scalars(select(LiveVote.address_key))) == [HOME]


def test_the_row_holds_the_keyed_hash_never_the_address(database: Database) -> None:
    battles = _battles(database, 1)
    _live_battle(database, "live-1")
    address = "203.0.113.45"
    key = address_key(address, SECRET)
    record_vote(database, *battles[0], "a", "v-1", limits=VoteLimits(), address_key=key)
    record_live_vote(database, "live-1", "live-1", "a", "v-1", limits=VoteLimits(), address_key=key)
    with database.session(write=False) as s:
        for table in ("votes", "live_votes"):
            row = s.execute(text(f"SELECT * FROM {table}")).mappings().one()
            assert row["address_key"] == key
            assert not any(address in str(value) for value in row.values())
    # A raw address handed over by mistake is refused before anything is read or written.
    with pytest.raises(ValueError, match="address_key"):
        record_vote(database, *battles[0], "a", "v-2", address_key=address)
    with pytest.raises(ValueError, match="address_key"):
        record_live_vote(database, "live-1", "live-1", "a", "v-2", address_key="2001:db8::1")


def test_concurrent_votes_from_one_address_never_exceed_the_budget(database: Database, db_url: str) -> None:
    """Eight voters on one address vote at once, each through its own engine (another web worker):
    with a budget of 4 exactly 4 are stored, the rest refused as rate_limited."""
    limits = VoteLimits(max_votes=1, window_s=60.0)
    n = 2 * ADDRESS_FACTOR
    battles = _battles(database, n)
    workers = [Database(db_url) for _ in range(n)]
    outcomes: list[str] = []
    barrier = threading.Barrier(n)

    def vote(k: int) -> None:
        barrier.wait()
        try:
            record_vote(workers[k], *battles[k], "a", f"v-{k}", now=T0, limits=limits, address_key=HOME)
            outcomes.append("ok")
        except VoteRefused as no:
            outcomes.append(no.code)

    threads = [threading.Thread(target=vote, args=(k,)) for k in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for w in workers:
            w.dispose()
    assert sorted(outcomes) == ["ok"] * ADDRESS_FACTOR + ["rate_limited"] * (n - ADDRESS_FACTOR)
    assert _stored(database) == ADDRESS_FACTOR


def test_migration_adds_the_key_to_an_existing_database(db_url: str) -> None:
    """A database at 0006 with votes in it upgrades: old votes keep NULL keys (they count for no address)."""
    database = Database(db_url)
    battles = _battles(database, 2)
    record_vote(database, *battles[0], "a", "v-old", now=T0, limits=VoteLimits(), address_key=HOME)
    database.dispose()
    engine = make_engine(db_url)
    try:
        for target in ("0006", "head"):
            with engine.begin() as conn:
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                (command.downgrade if target == "0006" else command.upgrade)(cfg, target)
            insp = inspect(engine)
            for table in ("votes", "live_votes"):
                columns = {c["name"] for c in insp.get_columns(table)}
                indexes = {i["name"] for i in insp.get_indexes(table)}
                assert ("address_key" in columns) is (target == "head")
                assert (f"ix_{table}_address_created" in indexes) is (target == "head")
            if target == "0006":
                with engine.connect() as conn:  # the vote made before survives the round trip
                    assert conn.execute(text("SELECT voter_id FROM votes")).scalars().all() == ["v-old"]
    finally:
        engine.dispose()
    database = Database(db_url)
    try:
        with database.session(write=False) as s:
            assert list(s.scalars(select(Vote.address_key))) == [None]
        limits = VoteLimits(max_votes=1, window_s=60.0)
        record_vote(database, *battles[1], "a", "v-new", now=T0, limits=limits, address_key=HOME)
        with database.session(write=False) as s:
            assert sorted(s.scalars(select(Vote.voter_id))) == ["v-new", "v-old"]
    finally:
        database.dispose()
