"""Build a small but complete store for the dashboard tests: models with lineage, runs, arena data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
from sqlalchemy import update

from db import Database, arena_repo, repo
from db.models import utcnow
from db.models_arena import Battle

HTML_ANSWER = "<b>bold-injection</b> <script>alert('x')</script> 普通文字"


def add_model(database: Database, name: str, **fields: object) -> int:
    with database.session() as s:
        return repo.upsert_model(s, name, f"/models/{name}", **fields).id  # type: ignore[arg-type]


def add_run(
    database: Database, run_id: str, suite: str, model: str, metrics: Sequence[tuple[str, str, float]], *,
    quant: str = "none", weight_bytes: int | None = None, finished: bool = True,
) -> None:  # fmt: skip
    """Store a run the way the engine does: start, metrics, finish (runs are listed newest first)."""
    with database.session() as s:
        model_id = repo.get_model(s, model).id  # type: ignore[union-attr]
        info = {"weight_bytes": weight_bytes} if weight_bytes else {}
        repo.start_run(s, run_id, suite, model_id, {"suite": suite, "split": "val", "shots": 0, "quant": quant},
                       {"model": info})  # fmt: skip
        repo.replace_metrics(s, run_id, metrics)
        if finished:
            repo.finish_run(s, run_id, elapsed_s=1.0, n_items=10)


def add_answers(database: Database, answers: dict[str, Sequence[str]]) -> None:
    """One bank prompt per answer index; `answers[model][k]` is that model's answer to prompt k."""
    n = len(next(iter(answers.values())))
    with database.session() as s:
        arena_repo.add_prompts(
            s, [{"text": f"问题{k}：请用一句话介绍**长城**。", "norm_hash": f"dash-{k}", "category": "通用知识",
                 "lang": "zh", "source": "test"} for k in range(n)],
        )  # fmt: skip
        prompts = arena_repo.list_prompts(s)
        rows = []
        for name, texts in answers.items():
            mid = repo.get_model(s, name).id  # type: ignore[union-attr]
            rows += [{"prompt_id": p.id, "model_id": mid, "text": text, "gen_params": {}, "params_hash": "t"}
                     for p, text in zip(prompts, texts, strict=True)]  # fmt: skip
        arena_repo.add_answers(s, rows)


def add_votes(database: Database, n: int, prefer: str, seed: int = 0) -> None:
    """Serve and vote `n` battles through the arena API: `prefer` wins 3 of 4, loses the 4th."""
    from arena import VoteLimits, record_vote, serve_battle
    from arena.leaks import LeakChecker

    rng = np.random.default_rng(seed)
    for k in range(n):
        session = f"seed-{k}"
        view = serve_battle(database, session, rng=rng)
        with database.session(write=False) as s:  # the seeder peeks at the sides to script outcomes
            battle = arena_repo.get_battle(s, view.battle_id)
            name_a = arena_repo.model_names(s, [battle.model_a_id])[battle.model_a_id]  # type: ignore[union-attr]
        wins = k % 4 != 3
        outcome = "a" if (name_a == prefer) == wins else "b"
        record_vote(database, view.battle_id, session, outcome, f"seeder-{k}", limits=VoteLimits(max_votes=None),
                    checker=LeakChecker(()))  # fmt: skip
        with database.session() as s:  # as if read for a minute: vote hygiene flags instant votes as suspect
            s.execute(
                update(Battle).where(Battle.id == view.battle_id).values(served_at=utcnow() - timedelta(minutes=1))
            )


def seed_all(database: Database) -> None:
    """Two models with lineage + a third, suite runs, PPL/quant runs, arena answers and votes."""
    add_model(database, "qwen-base", params={"n_params": 500_000_000, "weight_bytes": 1_000_000_000})
    add_model(database, "qwen-sft", base_model="qwen-base",
              lineage={"method": "lora", "loss_curve": [[0, 2.5], [10, 1.9], [20, 1.4]]})  # fmt: skip
    add_model(database, "yi-chat")
    for model, acc, law in (("qwen-base", 0.41, 0.30), ("qwen-sft", 0.47, 0.55)):
        add_run(database, f"ceval-{model}", "ceval", model, [
            ("accuracy", "", acc), ("by_category", "STEM", acc - 0.05), ("by_category", "Humanities", acc + 0.05),
            ("by_subject", "law", law), ("by_subject", "physics", acc)])  # fmt: skip
        add_run(database, f"cmmlu-{model}", "cmmlu", model, [("accuracy", "", acc - 0.02)])
        add_run(database, f"lb-{model}", "longbench", model, [
            ("avg", "", 30.0 + 10 * acc), ("by_category", "单文档QA", 25.0), ("by_task", "multifieldqa_zh", 33.0),
            ("by_length", "multifieldqa_zh/0-4k", 40.0), ("by_length", "multifieldqa_zh/4-8k", 20.0)])  # fmt: skip
    for quant, size, ppl in (("none", 1_000_000_000, 12.5), ("int8", 520_000_000, 12.9), ("int4", 300_000_000, 14.2)):
        add_run(database, f"ppl-{quant}", "ppl", "qwen-base", [("ppl", "", ppl)], quant=quant, weight_bytes=size)
    add_answers(database, {"qwen-base": ["长城很长。"] * 4, "qwen-sft": ["长城是古代防御工程。"] * 4})
