"""A pool model that is down gets another pair (or the page says so): real loopback servers, one of
them stopped, on real SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from arena.errors import ArenaRefusal
from arena.live import LiveRefused, begin_turn, start_battle
from arena.live_pool import add_pool_model, available, down_reason, list_pool, reset_health
from core.model_spec import ModelSpec
from db import Database, arena_repo
from db.models_live import LiveBattle
from runners import open_runner
from runners.base import GenParams
from runners.chat_stream import HFChatStreamer
from tests.arena.sse_server import ChatServer, serve_chat
from tests.arena.store_fixtures import database, db_url

SHORT = GenParams(max_new_tokens=8, temperature=0.0)


@pytest.fixture(autouse=True)
def _fresh_health() -> Iterator[None]:
    reset_health()
    yield
    reset_health()


@pytest.fixture(scope="module")
def servers(tiny_model_dir: Path) -> Iterator[tuple[ChatServer, ChatServer]]:
    streamer = HFChatStreamer(open_runner(ModelSpec(name="tiny", path=str(tiny_model_dir))), timeout_s=60)
    with serve_chat(streamer) as one, serve_chat(streamer) as two:
        yield one, two
    for t in threading.enumerate():
        if t.name == "hf-chat-stream":
            t.join(timeout=60)


def _dead_url() -> str:
    """A loopback port nobody listens on (connection refused), as a stopped server leaves it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _pair(database: Database, battle_id: str) -> frozenset[str]:
    with database.session(write=False) as s:
        b = s.get(LiveBattle, battle_id)
        assert b is not None
        names = arena_repo.model_names(s, (b.model_a_id, b.model_b_id))
    return frozenset((names[b.model_a_id], names[b.model_b_id]))


def test_a_server_that_is_down_sits_out(database: Database, servers: tuple[ChatServer, ChatServer]) -> None:
    one, two = servers
    add_pool_model(database, "down", base_url=_dead_url(), served_model_name="tiny", params=SHORT)
    add_pool_model(database, "up-1", base_url=one.url, served_model_name="tiny", params=SHORT)
    add_pool_model(database, "up-2", base_url=two.url, served_model_name="tiny", params=SHORT)
    entries = {e.name: e for e in list_pool(database)}
    reason = down_reason(entries["down"], ping_timeout_s=1.0)
    assert reason is not None and "ConnectError" in reason
    assert [e.name for e in available(list(entries.values()))] == ["up-1", "up-2"]
    rng = np.random.default_rng(0)
    pairs = {_pair(database, start_battle(database, "v", "s", rng=rng).battle_id) for _ in range(12)}
    assert pairs == {frozenset({"up-1", "up-2"})}  # 12 rounds, never the dead server
    # ... and the pair that was served really answers.
    view = start_battle(database, "v", "s", rng=rng)
    turn = begin_turn(database, view.battle_id, "s", "你好")
    result = turn.finish()
    assert result.failed_reason is None and result.text_a.strip() and result.text_b.strip()
    # Without the check the dead server is matched (and the round fails).
    seen = {_pair(database, start_battle(database, "v", "s", rng=rng, check_health=False).battle_id)
            for _ in range(30)}  # fmt: skip
    assert any("down" in p for p in seen)


def test_fewer_than_two_up_the_page_says_so(database: Database, servers: tuple[ChatServer, ChatServer]) -> None:
    one, _ = servers
    add_pool_model(database, "down", base_url=_dead_url(), served_model_name="tiny", params=SHORT)
    add_pool_model(database, "up-1", base_url=one.url, served_model_name="tiny", params=SHORT)
    with pytest.raises(LiveRefused) as no:
        start_battle(database, "v", "s")
    assert no.value.code == "models_down" and "不足两个" in no.value.message_zh
    with database.session(write=False) as s:
        assert s.query(LiveBattle).count() == 0  # nothing stored for a round that could not start


def test_a_model_that_just_failed_sits_out_for_every_voter(
    database: Database, servers: tuple[ChatServer, ChatServer]
) -> None:
    one, two = servers
    # "broken" answers its ping (GET /v1/models) but fails every chat request with HTTP 500.
    add_pool_model(database, "flaky", base_url=one.url, served_model_name="broken", params=SHORT)
    add_pool_model(database, "up-1", base_url=one.url, served_model_name="tiny", params=SHORT)
    add_pool_model(database, "up-2", base_url=two.url, served_model_name="tiny", params=SHORT)
    rng = np.random.default_rng(3)
    for _ in range(40):  # until the flaky model is served and fails a voter
        view = start_battle(database, "voter-1", "s1", rng=rng)
        if "flaky" in _pair(database, view.battle_id):
            break
    else:
        pytest.fail("matchmaking never served the flaky model")
    result = begin_turn(database, view.battle_id, "s1", "你好").finish()
    assert result.failed_reason == "server_error"
    started = time.monotonic()
    pairs = {_pair(database, start_battle(database, "voter-2", "s2", rng=rng).battle_id) for _ in range(12)}
    assert pairs == {frozenset({"up-1", "up-2"})}  # another voter, no `avoid`: still left out
    assert time.monotonic() - started < 10  # cached: no ping per round


def test_live_votes_count_against_the_client_address(
    database: Database, servers: tuple[ChatServer, ChatServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    import arena.vote_address
    from arena.live import record_live_vote
    from arena.vote_address import address_key
    from arena.votes import VoteLimits

    one, two = servers
    add_pool_model(database, "up-1", base_url=one.url, served_model_name="tiny", params=SHORT)
    add_pool_model(database, "up-2", base_url=two.url, served_model_name="tiny", params=SHORT)
    monkeypatch.setattr(arena.vote_address, "ADDRESS_FACTOR", 1)
    limits = VoteLimits(max_votes=1, window_s=60.0)
    outcomes = []
    for voter, address in (("new-cookie-1", "10.1.1.1"), ("new-cookie-2", "10.1.1.1"), ("new-cookie-3", "10.1.1.2")):
        view = start_battle(database, voter, voter)
        assert begin_turn(database, view.battle_id, voter, "你好").finish().failed_reason is None
        try:
            record_live_vote(database, view.battle_id, voter, "a", voter, limits=limits,
                             address_key=address_key(address, b"secret"))  # fmt: skip
            outcomes.append("stored")
        except ArenaRefusal as no:  # the limits refuse with VoteRefused
            outcomes.append(no.code)
    assert outcomes == ["stored", "rate_limited", "stored"]
