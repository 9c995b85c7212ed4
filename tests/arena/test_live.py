"""Live mode on real parts: the tiny model in-process and behind a real HTTP server on loopback,
stored in real SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from arena.battles import battle_records
from arena.errors import NoBattleAvailable
from arena.leaks import LeakChecker
from arena.live import (
    LiveRefused,
    LiveTurn,
    TurnResult,
    begin_turn,
    record_live_vote,
    reveal_live,
    start_battle,
    validate_question,
)
from arena.live_pool import add_pool_model, list_pool, remove_pool_model, reset_health
from arena.ratings_style import markdown_counts
from arena.votes import VoteLimits
from core.errors import UserError
from core.model_spec import ModelSpec
from db import Database, arena_repo, live_repo
from db.models_live import Conversation, LiveBattle, LiveVote, Message
from runners import open_runner
from runners.base import GenParams
from runners.chat_stream import HFChatStreamer
from tests.arena.sse_server import ChatServer, serve_chat
from tests.arena.store_fixtures import database, db_url

SHORT = GenParams(max_new_tokens=12, temperature=0.0)
NO_LIMITS = VoteLimits(max_votes=None, daily_cap=None)


@pytest.fixture(autouse=True)
def _fresh_health() -> Iterator[None]:
    reset_health()  # a model failed on purpose in one test must not sit out the next one
    yield
    reset_health()


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path) -> Iterator[ChatServer]:
    streamer = HFChatStreamer(open_runner(ModelSpec(name="tiny", path=str(tiny_model_dir))), timeout_s=60)
    with serve_chat(streamer, slow_s=3.0) as srv:
        yield srv
    for t in threading.enumerate():
        if t.name == "hf-chat-stream":
            t.join(timeout=60)


def _pool(database: Database, tiny: Path, server: ChatServer, remote: str = "tiny") -> None:
    add_pool_model(database, "tiny-local", model=str(tiny), params=SHORT, system_prompt="你是助手。")
    add_pool_model(database, f"srv-{remote}", base_url=server.url, served_model_name=remote, params=SHORT,
                   system_prompt="")  # fmt: skip


def _run(turn: LiveTurn) -> tuple[list[tuple[str, str]], TurnResult]:
    seen = []
    while not turn.done():
        seen.append(turn.texts())
        time.sleep(0.02)
    return seen, turn.finish()


def _count(database: Database, table: type) -> int:
    with database.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_live_battle_round_trip(database: Database, tiny_model_dir: Path, server: ChatServer) -> None:
    _pool(database, tiny_model_dir, server)
    assert [e.name for e in list_pool(database)] == ["srv-tiny", "tiny-local"]
    view = start_battle(database, "voter-1", "sess-1", prompt_origin="suggested", rng=np.random.default_rng(0))
    seen, first = _run(begin_turn(database, view.battle_id, "sess-1", "  你好，介绍一下长城。 "))
    assert first.failed_reason is None and first.text_a.strip() and first.text_b.strip()
    assert any(a and len(a) < len(first.text_a) for a, _ in seen) or len(seen) > 1  # it streamed
    with pytest.raises(LiveRefused) as no:
        reveal_live(database, view.battle_id, "sess-1")
    assert no.value.code == "not_voted"
    _, second = _run(begin_turn(database, view.battle_id, "sess-1", "再说短一点"))
    assert second.failed_reason is None
    # The server side got the whole conversation of its own side: system? no; user, its answer, follow-up.
    sent = server.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"] and sent[2]["content"] == "再说短一点"
    assert sent[1]["content"] in (first.text_a, first.text_b)
    vote = record_live_vote(database, view.battle_id, "sess-1", "a", "voter-1", tags_a=["有用"], tags_b=["肤浅", "错误"],
                            comment=" 左边更好 ", limits=NO_LIMITS)  # fmt: skip
    assert {vote.model_a, vote.model_b} == {"tiny-local", "srv-tiny"} and not vote.excluded
    assert reveal_live(database, view.battle_id, "sess-1") == (vote.model_a, vote.model_b)
    with pytest.raises(LiveRefused) as no:
        record_live_vote(database, view.battle_id, "sess-1", "b", "voter-1", limits=NO_LIMITS)
    assert no.value.code == "already_voted"
    with pytest.raises(LiveRefused) as no:
        begin_turn(database, view.battle_id, "sess-1", "还有吗")
    assert no.value.code == "already_voted"
    with database.session(write=False) as s:
        conv = s.get(Conversation, view.conversation_id)
        assert conv is not None and conv.prompt_origin == "suggested" and conv.voter_id == "voter-1"
        msgs = live_repo.conversation_messages(s, view.conversation_id)
        stored_vote = live_repo.get_live_vote(s, view.battle_id)
    assert [(m.turn, m.side) for m in msgs] == [(0, "user"), (0, "a"), (0, "b"), (1, "user"), (1, "a"), (1, "b")]
    assert msgs[0].text == "你好，介绍一下长城。"
    for m in (x for x in msgs if x.role == "assistant"):
        assert m.model_id is not None and m.error is None and m.text
        assert m.ttft_s is not None and m.latency_s is not None and 0 < m.ttft_s <= m.latency_s
        assert m.completion_tokens and m.prompt_tokens and m.finish_reason in ("stop", "length")
        assert m.gen_params["max_new_tokens"] == 12 and m.gen_params["temperature"] == 0.0
    local = next(m for m in msgs if m.role == "assistant" and m.system_prompt == "你是助手。")
    assert local.text in (first.text_a, first.text_b)
    assert stored_vote is not None and stored_vote.tags_a == ["有用"] and stored_vote.tags_b == ["肤浅", "错误"]
    assert stored_vote.comment == "左边更好" and stored_vote.outcome == "model_a"
    with database.session(write=False) as s:
        assert live_repo.live_vote_counts(s) != []
    # The FastChat export (and so the ratings and the leaderboard) includes the live battle.
    (rec,) = battle_records(database, "human")
    assert (rec["model_a"], rec["model_b"], rec["winner"], rec["source"]) == (vote.model_a, vote.model_b, "model_a",
                                                                              "live")  # fmt: skip
    meta = rec["conv_metadata"]
    by_side = {m.side: m for m in msgs if m.turn == 1}
    assert meta["turns"] == 2 and rec["tags_b"] == ["肤浅", "错误"] and rec["prompt_origin"] == "suggested"
    assert meta["sum_assistant_a_tokens"] == sum(m.completion_tokens or 0 for m in msgs if m.side == "a")
    assert meta["context_b_tokens"] == by_side["b"].prompt_tokens
    assert set(meta["header_count_a"]) == {f"h{k}" for k in range(1, 7)} and "ordered" in meta["list_count_b"]
    assert battle_records(database, "judge") == []


def test_live_export_counts_markdown_like_style_control() -> None:
    text = "# 标题\n## 小节\n1. 一\n2. 二\n- 点\n**粗** 与 __粗__ 和 **又粗**"
    assert markdown_counts(text) == {
        "header_count": {"h1": 1, "h2": 1, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
        "list_count": {"ordered": 2, "unordered": 1},
        "bold_count": {"**": 2, "__": 1},
    }


@pytest.mark.parametrize(("remote", "reason"), [("broken", "server_error"), ("silent", "empty_answer"),
                                               ("slow", "timeout")])  # fmt: skip
def test_failed_battles_are_stored_and_never_rated(
    database: Database, tiny_model_dir: Path, server: ChatServer, remote: str, reason: str
) -> None:
    _pool(database, tiny_model_dir, server, remote)
    view = start_battle(database, "v", "s")
    _, result = _run(begin_turn(database, view.battle_id, "s", "你好", timeout_s=1.0 if remote == "slow" else 60.0))
    assert result.failed_reason == reason
    assert f"srv-{remote}" in result.failed_models  # so the next round can leave it out
    with pytest.raises(LiveRefused) as no:
        record_live_vote(database, view.battle_id, "s", "tie", "v", limits=NO_LIMITS)
    assert no.value.code == "battle_failed"
    with pytest.raises(LiveRefused):
        begin_turn(database, view.battle_id, "s", "再试一次")
    with database.session(write=False) as s:
        battle = s.get(LiveBattle, view.battle_id)
        assert battle is not None and battle.failed_reason == reason
        failed = [m for m in live_repo.conversation_messages(s, view.conversation_id) if m.error]
        assert len(failed) == 1 and failed[0].role == "assistant"
        assert live_repo.live_vote_counts(s) == []
    assert _count(database, LiveVote) == 0
    assert reveal_live(database, view.battle_id, "s")  # a failed round may show who failed


@pytest.mark.parametrize(
    ("question", "code"),
    [("", "empty_question"), ("  \n\t ", "empty_question"), ("长" * 2001, "question_too_long"),
     ("<script>alert(1)</script>你好", "question_html"), ('<img src="http://x/p.png" onerror=alert(1)>', "question_html"),
     ("[点我](javascript:alert(1))", "question_html")],
)  # fmt: skip
def test_bad_questions_store_nothing(
    database: Database, tiny_model_dir: Path, server: ChatServer, question: str, code: str
) -> None:
    with pytest.raises(LiveRefused) as no:
        validate_question(question)
    assert no.value.code == code and no.value.message_zh
    _pool(database, tiny_model_dir, server)
    view = start_battle(database, "v", "s")
    with pytest.raises(LiveRefused):
        begin_turn(database, view.battle_id, "s", question)
    assert _count(database, Message) == 0
    assert validate_question("比较 a<b 和 b>c 的大小") == "比较 a<b 和 b>c 的大小"  # not HTML


def test_foreign_and_unknown_battles_refused(database: Database, tiny_model_dir: Path, server: ChatServer) -> None:
    _pool(database, tiny_model_dir, server)
    view = start_battle(database, "v", "s")
    for sid, bid, code in (("other", view.battle_id, "not_your_battle"), ("s", "nope", "unknown_battle")):
        with pytest.raises(LiveRefused) as no:
            begin_turn(database, bid, sid, "你好")
        assert no.value.code == code
        with pytest.raises(LiveRefused) as no:
            record_live_vote(database, bid, sid, "a", "v", limits=NO_LIMITS)
        assert no.value.code == code
    with pytest.raises(LiveRefused) as no:  # nothing asked yet: nothing to judge
        record_live_vote(database, view.battle_id, "s", "a", "v", limits=NO_LIMITS)
    assert no.value.code == "no_answer"
    with pytest.raises(LiveRefused) as no:
        record_live_vote(database, view.battle_id, "s", "a", "v", tags_a=["好看"], limits=NO_LIMITS)
    assert no.value.code == "bad_tag"
    assert _count(database, Message) == 0 and _count(database, LiveVote) == 0


def test_leak_in_a_live_answer_excludes_the_vote(database: Database, tiny_model_dir: Path, server: ChatServer) -> None:
    _pool(database, tiny_model_dir, server)
    view = start_battle(database, "v", "s")
    _, result = _run(begin_turn(database, view.battle_id, "s", "你好"))
    # A "vendor name" the real answer contains, spelled with an entity as a model could write it.
    word = result.text_a.strip()[:2]
    vote = record_live_vote(database, view.battle_id, "s", "b", "v", limits=NO_LIMITS,
                            checker=LeakChecker(names=(word,), allow=()))  # fmt: skip
    assert vote.excluded and vote.excluded_reason == "identity_leak"
    with database.session(write=False) as s:
        assert live_repo.live_vote_counts(s) == []


def test_pool_needs_two_models_and_matchmaking_uses_the_pool(
    database: Database, tiny_model_dir: Path, server: ChatServer
) -> None:
    with pytest.raises(NoBattleAvailable):
        start_battle(database, "v", "s")
    _pool(database, tiny_model_dir, server)
    add_pool_model(database, "srv-3", base_url=server.url, served_model_name="tiny", params=SHORT)
    with pytest.raises(UserError, match="already has"):
        add_pool_model(database, "srv-3", base_url=server.url, served_model_name="tiny")
    rng = np.random.default_rng(1)
    sides, pairs = [], set()
    for avoid in [("tiny-local",)] * 20 + [()] * 30:
        view = start_battle(database, "v", "s", rng=rng, avoid=avoid)
        with database.session(write=False) as s:
            b = s.get(LiveBattle, view.battle_id)
            assert b is not None
            names = arena_repo.model_names(s, (b.model_a_id, b.model_b_id))
        pair = (names[b.model_a_id], names[b.model_b_id])
        if avoid:
            sides.append(pair)
        else:
            pairs.add(frozenset(pair))
    assert {frozenset(p) for p in sides} == {frozenset({"srv-tiny", "srv-3"})}  # the avoided model sits out
    assert len({p[0] for p in sides}) == 2  # a fair coin picks the sides
    assert len(pairs) == 3  # every pair of the three-model pool gets served
    remove_pool_model(database, "srv-3")
    assert [e.name for e in list_pool(database)] == ["srv-tiny", "tiny-local"]
