"""LLM-as-judge: judge battles in both orders, stored apart from human votes, resumable, agreement."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from arena.battles import battle_records
from arena.judge import (
    JUDGE_LABELS,
    combine,
    fit_answers,
    judge_battles,
    judge_human_agreement,
    judge_prompt,
    judge_session,
    level_outcome,
)
from arena.snapshots import ratings_from_db
from arena.votes import VoteLimits, record_vote
from core.errors import UserError
from db import Database, arena_repo, repo
from runners.base import ModelInfo
from tests.arena.store_fixtures import add_models_with_answers, chat_model_dir, database, db_url
from tests.evals.cli_helpers import run_cli

NO_LIMITS = VoteLimits(max_votes=None, daily_cap=None)
QUESTIONS = ["中国的首都是哪里？", "请用一句话介绍长城。", "一年有几个季节？"]
ANSWERS = {
    "tiny-a": ["中国的首都是北京。", "长城是中国古代修建的伟大防御工程。", "一年有春、夏、秋、冬四个季节。"],
    "tiny-b": ["不知道。", "好的。", "三个。"],
}


def section(prompt: str, label: str) -> str:
    """Text of 【回答A】 or 【回答B】 in a judge prompt."""
    match = re.search(f"【回答{label}】\n(.*?)\n【回答{label}结束】", prompt, re.S)
    assert match, prompt
    return match.group(1)


# ----------------------------------------------------------------------------- setup helpers


def seed_real(database: Database, model_dir: Path) -> list[int]:
    """The tiny checkpoint under two contestant names (plus the judge), answers inserted directly."""
    with database.session() as s:
        ids = {n: repo.upsert_model(s, n, str(model_dir)).id for n in ("tiny-a", "tiny-b", "tiny-judge")}
        arena_repo.add_prompts(s, [
            {"text": q, "norm_hash": f"q{k}", "category": "通用知识", "lang": "zh", "source": "test"}
            for k, q in enumerate(QUESTIONS)
        ])  # fmt: skip
        prompts = arena_repo.list_prompts(s)
        arena_repo.add_answers(s, [
            {"prompt_id": p.id, "model_id": ids[m], "text": ANSWERS[m][k], "gen_params": {}, "params_hash": "t"}
            for m in ("tiny-a", "tiny-b") for k, p in enumerate(prompts)
        ])  # fmt: skip
        return [p.id for p in prompts]


def human_vote(
    database: Database, prompt_id: int, model_a: str, model_b: str, outcome: str, served_at: Any = None
) -> None:
    """Store a human battle on a given prompt and vote on it through the vote API."""
    import secrets

    with database.session() as s:
        ma, mb = repo.get_model(s, model_a), repo.get_model(s, model_b)
        assert ma is not None and mb is not None
        aa = arena_repo.answers_for(s, prompt_id, ma.id)[0]
        ab = arena_repo.answers_for(s, prompt_id, mb.id)[0]
        battle = arena_repo.add_battle(
            s, id=secrets.token_urlsafe(16), prompt_id=prompt_id, model_a_id=ma.id, model_b_id=mb.id,
            answer_a_id=aa.id, answer_b_id=ab.id, session_id="human-1", kind="human",
            **({"served_at": served_at} if served_at is not None else {}),
        )  # fmt: skip
        battle_id = battle.id
    record_vote(database, battle_id, "human-1", outcome, "voter-1", limits=NO_LIMITS)


class Recording:
    """Wraps a runner and records every prompt it is asked to score."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.prompts: list[str] = []

    def choice_logprobs(self, prompts, choices, **kwargs):  # type: ignore[no-untyped-def]
        assert tuple(choices) == JUDGE_LABELS and kwargs.get("scoring") == "logprob"
        self.prompts.extend(prompts)
        return self.runner.choice_logprobs(prompts, choices, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)


class RealFactory:
    """Loads the real HF runner (CPU), wrapped in `Recording`; counts loads."""

    def __init__(self) -> None:
        self.runners: list[Recording] = []

    def __call__(self, spec):  # type: ignore[no-untyped-def]
        from runners import load_runner

        self.runners.append(Recording(load_runner(spec.backend, spec.path, name=spec.name, device="cpu")))
        return self.runners[-1]


class StubJudge:
    """A judge without a model: strongly prefers the answer containing "GOOD" (label "1" or "5",
    "3" = tie), or always says the label `always`."""

    def __init__(self, always: str | None = None, max_length: int = 100_000, fail: bool = False) -> None:
        self.info = ModelInfo(name="stub", path="/stub", backend="stub", dtype="fp32", max_length=max_length)
        self.always, self.fail = always, fail
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text)

    def choice_logprobs(self, prompts, choices, **kwargs):  # type: ignore[no-untyped-def]
        if self.fail:
            raise RuntimeError("judge crashed")
        self.prompts.extend(prompts)
        out = []
        for p in prompts:
            if self.always:
                best = self.always
            else:
                a, b = "GOOD" in section(p, "A"), "GOOD" in section(p, "B")
                best = "1" if a and not b else "5" if b and not a else "3"
            out.append({c: (-0.1 if c == best else -3.0) for c in choices})
        return out


def seed_stub(database: Database, models: tuple[str, ...] = ("m1", "m2"), n_prompts: int = 3) -> list[int]:
    """Contestants whose answers say GOOD for m1 only, and a registered stub judge."""
    texts = {(m, k): ("GOOD 回答" if m == "m1" else "普通回答") for m in models for k in range(n_prompts)}
    _, prompt_ids = add_models_with_answers(database, models, n_prompts, texts=texts)
    with database.session() as s:
        repo.upsert_model(s, "stub-judge", "/nonexistent/stub-judge", backend="stub")
    return prompt_ids


def stub_factory(stub: StubJudge) -> Any:
    calls: list[str] = []

    def factory(spec):  # type: ignore[no-untyped-def]
        calls.append(spec.name)
        return stub

    factory.calls = calls  # type: ignore[attr-defined]
    return factory


def judge_battle_count(database: Database) -> int:
    from sqlalchemy import func, select

    from db.models_arena import Battle

    with database.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Battle).where(Battle.kind == "judge")) or 0)


# ----------------------------------------------------------------------------- real tiny judge


def test_real_judge_both_orders_separate_kind_and_resume(database: Database, chat_model_dir: Path) -> None:
    prompt_ids = seed_real(database, chat_model_dir)
    human_vote(database, prompt_ids[0], "tiny-a", "tiny-b", "model_a")
    human_vote(database, prompt_ids[1], "tiny-b", "tiny-a", "tie")
    human_before = battle_records(database, "human")

    factory = RealFactory()
    report = judge_battles(
        database, "tiny-judge", runner_factory=factory, rng=np.random.default_rng(0), batch_size=2, progress=False
    )
    assert (report.judge, report.session_id) == ("tiny-judge", "judge:tiny-judge")
    assert (report.judged, report.skipped, report.not_sampled, report.refused) == (3, 0, 0, 0)
    runner = factory.runners[0]
    assert len(runner.prompts) == 6  # every battle read in both orders

    with database.session(write=False) as s:
        for k, v in enumerate(report.verdicts):
            battle = arena_repo.get_battle(s, v.battle_id)
            assert battle is not None and battle.kind == "judge" and battle.session_id == "judge:tiny-judge"
            answer_a, answer_b = arena_repo.battle_answers(s, battle)
            question = arena_repo.list_prompts(s, ids=[battle.prompt_id])[0].text
            first, second = runner.prompts[2 * k], runner.prompts[2 * k + 1]
            # Same question, the two answers swapped between the orders, and nothing else changed.
            assert first == judge_prompt(runner, question, answer_a, answer_b)
            assert second == judge_prompt(runner, question, answer_b, answer_a)
            assert (section(first, "A"), section(first, "B")) == (answer_a, answer_b)
            assert (section(second, "A"), section(second, "B")) == (answer_b, answer_a)
            assert first != second and "[INST]" in first and "公正" in first  # chat template + judge system text
            assert v.level == combine(v.first, v.second) and v.outcome == level_outcome(v.level)
            assert all(set(sc) == set(JUDGE_LABELS) and all(math.isfinite(x) for x in sc.values()) for sc in v.scores)

    judged = battle_records(database, "judge")
    assert len(judged) == 3 and {r["voter"] for r in judged} == {"tiny-judge"}
    assert sorted(r["winner"] for r in judged) == sorted(v.outcome for v in report.verdicts)
    # Judge votes never reach the human log or the human ratings.
    assert battle_records(database, "human") == human_before
    assert ratings_from_db(database, "human")[1] == 2
    assert ratings_from_db(database, "judge")[1] == 3

    # Re-run: everything is judged already; the judge model is not even loaded.
    again = RealFactory()
    report2 = judge_battles(database, "tiny-judge", runner_factory=again, progress=False)
    assert (report2.judged, report2.skipped) == (0, 3) and again.runners == []
    assert judge_battle_count(database) == 3


def test_cli_judge_agreement_and_judge_ratings(chat_model_dir: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'judge.db'}"
    database = Database(db)
    prompt_ids = seed_real(database, chat_model_dir)
    human_vote(database, prompt_ids[2], "tiny-a", "tiny-b", "model_a")
    database.dispose()

    res = run_cli("arena", "judge", "--judge", "tiny-judge", "--seed", "1", "--no-progress", "--db", db)
    assert res.returncode == 0, res.stderr
    assert "judge tiny-judge: judged 3 battles" in res.stdout and "already judged 0" in res.stdout
    assert "agreement with humans (tiny-judge):" in res.stdout and "of 1 comparisons" in res.stdout
    res = run_cli("arena", "judge", "--judge", "tiny-judge", "--no-progress", "--db", db)
    assert "judged 0 battles, already judged 3" in res.stdout
    res = run_cli("arena", "judge", "--agreement", "--db", db)
    assert res.returncode == 0 and "agreement with humans (judges):" in res.stdout
    res = run_cli("arena", "ratings", "--kind", "judge", "--bootstrap", "5", "--db", db)
    assert res.returncode == 0, res.stderr
    assert "(judge votes): 3 battles" in res.stdout and "stored judge rating snapshot" in res.stderr
    res = run_cli("arena", "judge", "--db", db)
    assert res.returncode == 2 and "give --judge MODEL" in res.stderr


# ----------------------------------------------------------------------------- logic (stub judge)


def test_consistent_orders_pick_the_winner(database: Database) -> None:
    seed_stub(database)
    stub = StubJudge()
    report = judge_battles(database, "stub-judge", runner_factory=stub_factory(stub), progress=False)
    assert report.judged == 3 and report.consistent == 3
    for v in report.verdicts:
        winner = v.model_a if v.outcome == "model_a" else v.model_b if v.outcome == "model_b" else None
        assert winner == "m1"
    assert {r["winner"] for r in battle_records(database, "judge")} <= {"model_a", "model_b"}
    assert {v.level for v in report.verdicts} <= {"A>>B", "B>>A"}  # strong both ways -> strong
    with database.session(write=False) as s:
        assert {r["flags"] for r in arena_repo.rating_rows(s, "judge")} == {"strong"}


def test_position_bias_becomes_a_tie(database: Database) -> None:
    seed_stub(database)
    report = judge_battles(database, "stub-judge", runner_factory=stub_factory(StubJudge(always="2")), progress=False)
    assert report.judged == 3 and report.consistent == 0
    assert {(v.first, v.second, v.level, v.outcome) for v in report.verdicts} == {("A>B", "B>A", "A=B", "tie")}
    with database.session(write=False) as s:
        assert {r["flags"] for r in arena_repo.rating_rows(s, "judge")} == {None}
    assert combine("A>>B", "A=B") == "A=B" and combine("A=B", "A=B") == "A=B"
    assert combine("B>>A", "B>>A") == "B>>A" and combine("A>>B", "A>B") == "A>B"  # strong needs both
    assert combine("A>>B", "B>>A") == "A=B"


def test_pairs_sampling_and_resume(database: Database) -> None:
    seed_stub(database, ("m1", "m2", "m3"), n_prompts=2)  # 3 pairs x 2 prompts = 6 candidates
    factory = stub_factory(StubJudge())
    rng = np.random.default_rng(3)
    first = judge_battles(database, "stub-judge", pairs=2, rng=rng, runner_factory=factory, progress=False)
    assert (first.judged, first.skipped, first.not_sampled) == (2, 0, 4)
    rest = judge_battles(database, "stub-judge", pairs=10, rng=rng, runner_factory=factory, progress=False)
    assert (rest.judged, rest.skipped, rest.not_sampled) == (4, 2, 0)
    keys = {(v.prompt_id, frozenset((v.model_a, v.model_b))) for v in first.verdicts + rest.verdicts}
    assert len(keys) == 6  # every prompt x pair judged exactly once
    none_left = judge_battles(database, "stub-judge", runner_factory=factory, progress=False)
    assert (none_left.judged, none_left.skipped) == (0, 6)
    assert factory.calls == ["stub-judge", "stub-judge"]
    # --models restricts the candidates; one model alone has no pair.
    assert judge_battles(database, "stub-judge", models=["m1", "m2"], progress=False).skipped == 2
    with pytest.raises(UserError, match="no two models"):
        judge_battles(database, "stub-judge", models=["m1"], progress=False)
    with pytest.raises(UserError, match="unknown model 'ghost'"):
        judge_battles(database, "stub-judge", models=["m1", "ghost"], progress=False)


def test_interrupted_run_reuses_its_battles(database: Database) -> None:
    seed_stub(database)
    with pytest.raises(RuntimeError, match="judge crashed"):
        judge_battles(database, "stub-judge", runner_factory=stub_factory(StubJudge(fail=True)), progress=False)
    assert judge_battle_count(database) == 3 and battle_records(database, "judge") == []
    report = judge_battles(database, "stub-judge", runner_factory=stub_factory(StubJudge()), progress=False)
    assert report.judged == 3
    assert judge_battle_count(database) == 3  # the unvoted battles were judged, not duplicated


def test_agreement_with_humans(database: Database) -> None:
    p0, p1, p2 = seed_stub(database)
    judge_battles(database, "stub-judge", runner_factory=stub_factory(StubJudge()), progress=False)  # m1 wins all
    assert judge_human_agreement(database)["compared"] == 0
    human_vote(database, p0, "m2", "m1", "model_b")  # m1: agrees
    human_vote(database, p1, "m1", "m2", "model_b")  # m2: disagrees
    human_vote(database, p2, "m1", "m2", "tie (bothbad)")  # tie vs m1: disagrees, left out without ties
    result = judge_human_agreement(database, "stub-judge")
    assert (result["human_votes"], result["judge_votes"]) == (3, 3)
    assert (result["compared"], result["agree"]) == (3, 1)
    assert result["agreement"] == pytest.approx(1 / 3)
    assert (result["compared_no_ties"], result["agree_no_ties"], result["agreement_no_ties"]) == (2, 1, 0.5)
    assert result["by_pair"] == {"m1 vs m2": {"compared": 3, "agree": 1, "agreement": pytest.approx(1 / 3)}}
    assert judge_human_agreement(database, "other-judge")["compared"] == 0


def test_prompt_text_and_truncation() -> None:
    stub = StubJudge(max_length=400)
    text = judge_prompt(stub, "问题？", "甲" * 50, "乙" * 50)
    assert text.startswith("你是一位公正") and text.endswith("结论（1–5）：")
    for needle in ("【用户问题】\n问题？", "1 —— 回答A明显更好", "3 —— 两者水平相当（平局）", "只输出一个数字"):
        assert needle in text
    a, b = fit_answers(stub, "问题？", "甲" * 600, "乙" * 300)
    assert stub.count_tokens(judge_prompt(stub, "问题？", a, b)) <= 400 - 8
    assert a.startswith("甲") and a.endswith("（回答过长，以下省略）") and b.startswith("乙")
    assert fit_answers(stub, "问题？", "短", "答") == ("短", "答")
    assert judge_session("x") == "judge:x"


def test_baseline_judges_only_pairs_with_it(database: Database) -> None:
    seed_stub(database, ("m1", "m2", "m3"), n_prompts=2)  # 3 pairs x 2 prompts; 2 pairs hold m3
    report = judge_battles(
        database, "stub-judge", baseline="m3", runner_factory=stub_factory(StubJudge()), progress=False
    )
    assert report.judged == 4 and all("m3" in (v.model_a, v.model_b) for v in report.verdicts)
    with pytest.raises(UserError, match="unknown model 'ghost'"):
        judge_battles(database, "stub-judge", baseline="ghost", progress=False)


def seed_mixed(database: Database) -> None:
    """Judge votes m1>>m2, m1>>m2, m2>>m1 (6 : 3 counted) and human votes m1, m2, m1 on the same prompts.

    m1's answer is the GOOD one on prompts 0 and 1, m2's on prompt 2; humans read for an hour
    (so no vote is suspect).
    """
    from datetime import timedelta

    from db.models import utcnow

    texts = {("m1", 0): "GOOD 回答", ("m1", 1): "GOOD 回答", ("m2", 2): "GOOD 回答"}
    _, (p0, p1, p2) = add_models_with_answers(database, ("m1", "m2"), 3, texts=texts)
    with database.session() as s:
        repo.upsert_model(s, "stub-judge", "/nonexistent/stub-judge", backend="stub")
    report = judge_battles(database, "stub-judge", runner_factory=stub_factory(StubJudge()), progress=False)
    winners = sorted(v.model_a if v.outcome == "model_a" else v.model_b for v in report.verdicts)
    assert winners == ["m1", "m1", "m2"] and {v.level for v in report.verdicts} <= {"A>>B", "B>>A"}
    served = utcnow() - timedelta(hours=1)
    human_vote(database, p0, "m2", "m1", "model_b", served_at=served)
    human_vote(database, p1, "m1", "m2", "model_b", served_at=served)
    human_vote(database, p2, "m1", "m2", "model_a", served_at=served)


def test_composite_board_and_judge_measures(database: Database) -> None:
    from arena.snapshots import board_from_db

    seed_mixed(database)
    judge, human = board_from_db(database, "judge"), board_from_db(database, "human")
    composite = board_from_db(database, "composite")
    assert (judge.n_rated, human.n_rated, composite.n_rated) == (3, 3, 6)
    assert judge.board.n_battles.tolist() == [9, 9] and composite.board.n_battles.tolist() == [12, 12]
    # m1 wins 6 of 9 judge battles and 6 + 2 of the 12 composite ones: p = 2/3 either way.
    for b in (judge.board, composite.board):
        assert b.rating[0] - b.rating[1] == pytest.approx(400 * math.log10(2), abs=1e-3)

    result = judge_human_agreement(database, "stub-judge")
    assert (result["compared"], result["agree"]) == (3, 1)  # they agree on prompt 0 only
    # Judge p(m1 beats m2) = 2/3, humans rank m1 first: Brier (2/3 - 1)^2.
    assert result["brier"] is not None and abs(result["brier"] - 1 / 9) < 1e-6 and result["brier_pairs"] == 1
    # 9 counted battles at 2 : 1 leave the two 95% intervals overlapping.
    assert (result["separability"], result["separability_pairs"]) == (0.0, 1)
    other = judge_human_agreement(database, "other-judge")  # no votes of its own: no board
    assert (other["separability"], other["brier"], other["brier_pairs"]) == (None, None, 0)


def test_cli_composite_ratings_and_judge_measures(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'mixed.db'}"
    database = Database(db)
    seed_mixed(database)
    database.dispose()
    res = run_cli(
        "arena", "ratings", "--kind", "composite", "--style-control", "--json", str(tmp_path / "c.json"), "--db", db
    )
    assert res.returncode == 0, res.stderr
    assert "(composite votes): 6 battles" in res.stdout and "stored composite rating snapshot" in res.stderr
    import json

    doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert doc["style_control"] and doc["style"] and doc["models"]["m1"]["n_battles"] == 12
    res = run_cli("arena", "ratings", "--db", db)  # the default stays human votes only
    assert res.returncode == 0 and "(human votes): 3 battles" in res.stdout
    res = run_cli("arena", "judge", "--agreement", "--db", db)
    assert res.returncode == 0, res.stderr
    assert "separability with 95% confidence (judge board): 0.0% of 1 model pairs" in res.stdout
    assert "pair-rank Brier score (judge board vs human board): 0.1111 over 1 model pairs" in res.stdout
    # An exported judge log keeps the strong flags, and --import counts them 3 times too.
    log = tmp_path / "judge.json"
    assert run_cli("arena", "export", "--kind", "judge", "--out", str(log), "--db", db).returncode == 0
    assert {tuple(r["flags"]) for r in json.loads(log.read_text(encoding="utf-8"))} == {("strong",)}
    res = run_cli("arena", "ratings", "--import", str(log), "--json", str(tmp_path / "j.json"))
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "j.json").read_text(encoding="utf-8"))["models"]["m1"]["n_battles"] == 9
    res = run_cli("arena", "ratings", "--kind", "mixed", "--db", db)
    assert res.returncode == 2 and "--kind must be human, judge or composite" in res.stderr
