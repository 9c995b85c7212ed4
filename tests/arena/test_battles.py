"""Serving battles: anonymity, side randomization, pair/prompt choice, the clean-battle log."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from arena.battle_log import Battles, read_battle_log
from arena.battles import BattleView, battle_records, serve_battle
from arena.errors import NoBattleAvailable
from arena.ratings import compute_ratings
from arena.votes import VoteLimits, record_vote
from db import Database, arena_repo, repo
from db.models_arena import Battle
from tests.arena.store_fixtures import add_models_with_answers, database, db_url
from tests.evals.cli_helpers import run_cli

NO_LIMITS = VoteLimits(max_votes=None)


def all_battles(database: Database) -> list[Battle]:
    with database.session(write=False) as s:
        return list(s.scalars(select(Battle)))


def test_view_hides_model_names(database: Database) -> None:
    add_models_with_answers(database, ["alpha-7b", "beta-13b"])
    view = serve_battle(database, "sess", rng=np.random.default_rng(0))
    fields = {f.name for f in dataclasses.fields(BattleView)}
    assert not {f for f in fields if "model" in f}
    assert "alpha" not in repr(view) and "beta" not in repr(view)
    assert len(view.battle_id) >= 20  # unguessable token
    assert view.prompt.startswith("测试问题") and view.category == "通用知识"


def test_sides_are_randomized_and_models_never_meet_themselves(database: Database) -> None:
    ids, _ = add_models_with_answers(database, ["m1", "m2", "m3"])
    rng = np.random.default_rng(7)
    for k in range(120):
        serve_battle(database, f"s{k}", rng=rng)
    battles = all_battles(database)
    assert all(b.model_a_id != b.model_b_id for b in battles)
    shown_as_a = Counter(b.model_a_id for b in battles)
    shown_as_b = Counter(b.model_b_id for b in battles)
    for mid in ids:  # each model is on each side about half of its battles
        total = shown_as_a[mid] + shown_as_b[mid]
        assert total > 40 and 0.3 < shown_as_a[mid] / total < 0.7
    # The database refuses a self-battle even if a bug tried one.
    b = battles[0]
    with pytest.raises(IntegrityError), database.session() as s:
        arena_repo.add_battle(s, id="self", prompt_id=b.prompt_id, model_a_id=b.model_a_id,
                              model_b_id=b.model_a_id, answer_a_id=b.answer_a_id, answer_b_id=b.answer_a_id,
                              session_id="x")  # fmt: skip


def test_seeded_serving_is_reproducible(tmp_path: Path) -> None:
    def run(name: str) -> list[tuple[int, str, str]]:
        db = Database(f"sqlite:///{tmp_path / name}")
        add_models_with_answers(db, ["m1", "m2", "m3"], texts={(m, k): f"{m}/{k}" for m in ("m1", "m2", "m3")
                                                               for k in range(3)})  # fmt: skip
        rng = np.random.default_rng(42)
        views = [serve_battle(db, "sess", rng=rng) for _ in range(10)]
        db.dispose()
        return [(v.prompt_id, v.answer_a, v.answer_b) for v in views]

    assert run("a.db") == run("b.db")


def test_session_sees_fresh_prompts_first(database: Database) -> None:
    add_models_with_answers(database, ["m1", "m2"], n_prompts=4)
    rng = np.random.default_rng(1)
    first = [serve_battle(database, "reader", rng=rng).prompt_id for _ in range(4)]
    assert len(set(first)) == 4  # no repeats until every prompt was shown
    assert serve_battle(database, "reader", rng=rng).prompt_id in first  # then repeats are allowed


def test_only_pairs_with_a_common_prompt_are_served(database: Database) -> None:
    add_models_with_answers(database, ["m1", "m2"], n_prompts=2)
    with database.session() as s:
        loner = repo.upsert_model(s, "loner", "/models/loner")
        arena_repo.add_prompts(s, [{"text": "只有一个模型回答的问题", "norm_hash": "solo", "category": "通用知识",
                                    "lang": "zh", "source": "test"}])  # fmt: skip
        solo = arena_repo.list_prompts(s)[-1]
        arena_repo.add_answers(s, [{"prompt_id": solo.id, "model_id": loner.id, "text": "独答", "gen_params": {},
                                    "params_hash": "t"}])  # fmt: skip
    rng = np.random.default_rng(0)
    for k in range(20):
        serve_battle(database, f"s{k}", rng=rng)
    assert all(loner.id not in (b.model_a_id, b.model_b_id) for b in all_battles(database))


def test_no_battle_without_two_models(database: Database) -> None:
    add_models_with_answers(database, ["only"])
    with pytest.raises(NoBattleAvailable):
        serve_battle(database, "sess")
    with pytest.raises(ValueError):
        serve_battle(database, "", kind="human")
    with pytest.raises(ValueError):
        serve_battle(database, "sess", kind="robot")


def test_restrict_to_models(database: Database) -> None:
    add_models_with_answers(database, ["m1", "m2", "m3"])
    rng = np.random.default_rng(0)
    for k in range(10):
        serve_battle(database, f"s{k}", rng=rng, models=["m1", "m3"])
    with database.session(write=False) as s:
        m2 = repo.get_model(s, "m2").id
    assert all(m2 not in (b.model_a_id, b.model_b_id) for b in all_battles(database))


def test_records_are_clean_battles_the_ratings_engine_reads(database: Database, db_url: str, tmp_path: Path) -> None:
    add_models_with_answers(database, ["m1", "m2", "m3"])
    rng = np.random.default_rng(5)
    for k in range(12):
        view = serve_battle(database, f"s{k}", rng=rng)
        record_vote(database, view.battle_id, f"s{k}", ["a", "b", "tie", "bothbad"][k % 4], f"v{k}", limits=NO_LIMITS)
    serve_battle(database, "unvoted", rng=rng)  # served but never voted: not in the log
    records = battle_records(database)
    assert len(records) == 12
    assert [r["tstamp"] for r in records] == sorted(r["tstamp"] for r in records)
    assert {r["winner"] for r in records} == {"model_a", "model_b", "tie", "tie (bothbad)"}
    assert set(records[0]) >= {"model_a", "model_b", "winner", "tstamp", "question_id", "voter"}
    ratings = compute_ratings(Battles.from_records(records))
    assert set(ratings.models) == {"m1", "m2", "m3"}

    out = tmp_path / "clean_battle.json"
    res = run_cli("arena", "export", "--out", str(out), "--db", db_url)
    assert res.returncode == 0, res.stderr
    exported = json.loads(out.read_text(encoding="utf-8"))
    # the same records, plus what style control, categories and vote hygiene read
    assert [{k: r[k] for k in rec} for r, rec in zip(exported, json.loads(json.dumps(records)))] == json.loads(
        json.dumps(records)
    )
    assert all({"conv_metadata", "category", "flags"} <= set(r) for r in exported)
    assert len(read_battle_log(out)) == 12
