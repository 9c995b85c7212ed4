"""Live-arena storage (migration 0004, db.live_repo) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from db import Database, arena_repo, live_repo, repo

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _models(database: Database) -> tuple[int, int]:
    with database.session() as s:
        return repo.upsert_model(s, "alpha", "/m/alpha").id, repo.upsert_model(s, "beta", "/m/beta").id


def _battle(database: Database, bid: str, a: int, b: int, *, failed: str | None = None) -> None:
    with database.session() as s:
        live_repo.add_conversation(s, id=f"c-{bid}", voter_id="v1", session_id="s1", prompt_origin="typed")
        live_repo.add_live_battle(
            s, id=bid, conversation_id=f"c-{bid}", model_a_id=a, model_b_id=b, session_id="s1", failed_reason=failed
        )


def test_pool_roundtrip_and_unique_name(database: Database) -> None:
    with database.session() as s:
        live_repo.add_pool_model(
            s, name="srv", kind="openai", base_url="http://127.0.0.1:9/v1", served_model_name="m",
            api_key_env="MY_KEY", gen_params={"temperature": 0.7}, system_prompt="你是助手。",
        )  # fmt: skip
        live_repo.add_pool_model(s, name="tiny", kind="local", model_path="/ckpt/tiny", gen_params={})
    with database.session(write=False) as s:
        rows = live_repo.list_pool(s)
        assert [r.name for r in rows] == ["srv", "tiny"]
        assert rows[0].api_key_env == "MY_KEY" and rows[0].gen_params == {"temperature": 0.7}
        assert rows[1].enabled and rows[1].system_prompt == ""
    with pytest.raises(IntegrityError), database.session() as s:
        live_repo.add_pool_model(s, name="srv", kind="local", model_path="/x", gen_params={})
    with pytest.raises(IntegrityError), database.session() as s:  # kind is checked by the database
        live_repo.add_pool_model(s, name="odd", kind="grpc", gen_params={})
    with database.session() as s:
        assert live_repo.remove_pool_model(s, "srv") is True
        assert live_repo.remove_pool_model(s, "srv") is False
    with database.session(write=False) as s:
        assert [r.name for r in live_repo.list_pool(s)] == ["tiny"]


def test_conversation_messages_in_turn_order(database: Database) -> None:
    a, b = _models(database)
    _battle(database, "b1", a, b)
    with database.session() as s:
        assert live_repo.next_turn(s, "c-b1") == 0
        for turn in (0, 1):
            live_repo.add_message(s, conversation_id="c-b1", turn=turn, side="b", role="assistant", model_id=b,
                                  text=f"B{turn}", completion_tokens=3, ttft_s=0.1, latency_s=0.5,
                                  finish_reason="stop", gen_params={"max_new_tokens": 64}, system_prompt="sys")  # fmt: skip
            live_repo.add_message(s, conversation_id="c-b1", turn=turn, side="user", role="user", text=f"Q{turn}",
                                  gen_params={})  # fmt: skip
            live_repo.add_message(s, conversation_id="c-b1", turn=turn, side="a", role="assistant", model_id=a,
                                  text=f"A{turn}", gen_params={}, error="timeout")  # fmt: skip
        assert live_repo.next_turn(s, "c-b1") == 2
    with database.session(write=False) as s:
        msgs = live_repo.conversation_messages(s, "c-b1")
    assert [m.text for m in msgs] == ["Q0", "A0", "B0", "Q1", "A1", "B1"]
    b0 = msgs[2]
    assert (b0.completion_tokens, b0.ttft_s, b0.latency_s, b0.finish_reason) == (3, 0.1, 0.5, "stop")
    assert b0.gen_params == {"max_new_tokens": 64} and b0.system_prompt == "sys" and msgs[1].error == "timeout"
    with pytest.raises(IntegrityError), database.session() as s:
        live_repo.add_message(s, conversation_id="c-b1", turn=2, side="c", role="user", text="?", gen_params={})


def test_one_vote_per_battle_and_failed_battles_never_counted(database: Database) -> None:
    a, b = _models(database)
    _battle(database, "ok", a, b)
    _battle(database, "bad", b, a, failed="timeout")
    with database.session() as s:
        live_repo.add_live_vote(s, battle_id="ok", conversation_id="c-ok", outcome="model_a", voter_id="v1",
                                tags_a=["有用"], tags_b=["错误"], comment="A 更准确", created_at=T0)  # fmt: skip
        live_repo.add_live_vote(s, battle_id="bad", conversation_id="c-bad", outcome="tie", voter_id="v1",
                                created_at=T0)  # fmt: skip
    with pytest.raises(IntegrityError), database.session() as s:
        live_repo.add_live_vote(s, battle_id="ok", conversation_id="c-ok", outcome="model_b", voter_id="v2",
                                created_at=T0)  # fmt: skip
    with pytest.raises(IntegrityError), database.session() as s:
        live_repo.add_live_vote(s, battle_id="bad", conversation_id="c-bad", outcome="bothbad", voter_id="v2")
    with database.session(write=False) as s:
        assert live_repo.live_vote_counts(s) == [(a, b, "model_a", 1)]
        rows = live_repo.live_battle_rows(s)
        assert len(rows) == 1 and rows[0]["model_a"] == "alpha" and rows[0]["tags_a"] == ["有用"]
        assert rows[0]["comment"] == "A 更准确" and rows[0]["prompt_origin"] == "typed"
        assert live_repo.live_totals(s) == {"battles": 2, "failed": 1, "votes": 2}


def test_distinct_models_and_origin_enforced(database: Database) -> None:
    a, _ = _models(database)
    with pytest.raises(IntegrityError), database.session() as s:
        live_repo.add_conversation(s, id="c", voter_id="v", session_id="s", prompt_origin="typed")
        live_repo.add_live_battle(s, id="x", conversation_id="c", model_a_id=a, model_b_id=a, session_id="s")
    with pytest.raises(IntegrityError), database.session() as s:
        live_repo.add_conversation(s, id="c2", voter_id="v", session_id="s", prompt_origin="pasted")


def test_rate_limit_counts_bank_and_live_votes(database: Database) -> None:
    a, b = _models(database)
    _battle(database, "l1", a, b)
    with database.session() as s:
        live_repo.add_live_vote(s, battle_id="l1", conversation_id="c-l1", outcome="tie", voter_id="v1",
                                created_at=T0)  # fmt: skip
        arena_repo.add_prompts(s, [{"text": "q", "norm_hash": "h", "category": "通用知识", "lang": "zh", "source": ""}])
        pid = arena_repo.list_prompts(s)[0].id
        arena_repo.add_answers(s, [{"prompt_id": pid, "model_id": m, "text": "x", "gen_params": {}, "params_hash": "p"}
                                   for m in (a, b)])  # fmt: skip
        ans = {x.model_id: x.id for m in (a, b) for x in arena_repo.answers_for(s, pid, m)}
        arena_repo.add_battle(s, id="k1", prompt_id=pid, model_a_id=a, model_b_id=b, answer_a_id=ans[a],
                              answer_b_id=ans[b], session_id="s1")  # fmt: skip
        arena_repo.add_vote(s, battle_id="k1", outcome="model_b", voter_id="v1", created_at=T0 + timedelta(seconds=5))
    with database.session(write=False) as s:
        assert live_repo.count_votes_since_all(s, "v1", T0 - timedelta(hours=1)) == 2
        assert live_repo.count_votes_since_all(s, "v1", T0 + timedelta(seconds=1)) == 1
        assert live_repo.count_votes_since_all(s, "v2", T0 - timedelta(hours=1)) == 0
        times = live_repo.recent_vote_times_all(s, "v1", T0 - timedelta(hours=1), 5)
        assert len(times) == 2 and times[0] > times[1]
