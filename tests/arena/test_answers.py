"""Answer generation with a real tiny chat model: stored with params, resumable, chat template required."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from arena.answers import SYSTEM_PROMPT, gen_params_record, generate_answers, params_hash
from core.errors import UserError
from db import Database, arena_repo, repo
from runners.base import GenParams
from tests.arena.store_fixtures import chat_model_dir, database, db_url
from tests.evals.cli_helpers import run_cli

PARAMS = GenParams(max_new_tokens=8, temperature=0.7, top_p=0.9, seed=42)


class CountingFactory:
    """The real loader, counting how often a model is loaded (resume must not load at all)."""

    def __init__(self) -> None:
        self.loaded: list[str] = []

    def __call__(self, spec):  # type: ignore[no-untyped-def]
        from runners import load_runner

        self.loaded.append(spec.name)
        return load_runner(spec.backend, spec.path, name=spec.name, device="cpu")


def setup_bank(database: Database, model_dir: Path, n: int = 3) -> list[int]:
    with database.session() as s:
        # One checkpoint registered twice stands in for two models: the arena only needs two ids.
        repo.upsert_model(s, "tiny-a", str(model_dir))
        repo.upsert_model(s, "tiny-b", str(model_dir))
        arena_repo.add_prompts(s, [
            {"text": t, "norm_hash": f"h{k}", "category": "通用知识", "lang": "zh", "source": "test"}
            for k, t in enumerate(["中国的首都是哪里？", "介绍一下大语言模型。", "写一句问候语。", "第四个问题"][:n])
        ])  # fmt: skip
        return [p.id for p in arena_repo.list_prompts(s)]


def stored_answers(database: Database) -> list[tuple[int, int, str, dict, str]]:
    from sqlalchemy import select

    from db.models_arena import ArenaAnswer

    with database.session(write=False) as s:
        rows = s.scalars(select(ArenaAnswer).order_by(ArenaAnswer.id))
        return [(a.prompt_id, a.model_id, a.text, a.gen_params, a.params_hash) for a in rows]


def test_generate_stores_answers_and_resumes(database: Database, chat_model_dir: Path) -> None:
    prompt_ids = setup_bank(database, chat_model_dir)
    factory = CountingFactory()
    # First only two prompts, as if the run was interrupted after them.
    first = generate_answers(database, ["tiny-a", "tiny-b"], prompt_ids[:2], PARAMS, runner_factory=factory,
                             progress=False)  # fmt: skip
    assert [(r.model, r.generated, r.skipped) for r in first] == [("tiny-a", 2, 0), ("tiny-b", 2, 0)]
    second = generate_answers(database, ["tiny-a", "tiny-b"], None, PARAMS, runner_factory=factory, progress=False)
    assert [(r.generated, r.skipped) for r in second] == [(1, 2), (1, 2)]
    assert factory.loaded == ["tiny-a", "tiny-b", "tiny-a", "tiny-b"]
    third = generate_answers(database, ["tiny-a", "tiny-b"], None, PARAMS, runner_factory=factory, progress=False)
    assert [(r.generated, r.skipped) for r in third] == [(0, 3), (0, 3)]
    assert len(factory.loaded) == 4  # nothing missing: no model was loaded

    rows = stored_answers(database)
    assert len(rows) == 6
    record = gen_params_record(PARAMS)
    assert record["system"] == SYSTEM_PROMPT and record["chat"] is True and record["temperature"] == 0.7
    assert {r[3]["max_new_tokens"] for r in rows} == {8}
    assert {r[4] for r in rows} == {params_hash(record)}
    assert all(isinstance(r[2], str) for r in rows)
    assert sorted((r[0], r[1]) for r in rows) == sorted({(r[0], r[1]) for r in rows})  # one per (prompt, model)

    # New sampling parameters make new answers next to the old ones.
    greedy = GenParams(max_new_tokens=8, temperature=0.0)
    again = generate_answers(database, ["tiny-a"], prompt_ids[:1], greedy, runner_factory=factory, progress=False)
    assert again[0].generated == 1 and again[0].params_hash != params_hash(record)
    assert len(stored_answers(database)) == 7


def test_model_without_chat_template_is_a_user_error(database: Database, chat_model_dir: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(chat_model_dir, plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    cfg_path = plain / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg.pop("chat_template", None)
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    setup_bank(database, chat_model_dir, n=1)
    with pytest.raises(UserError, match="no chat template"):
        generate_answers(database, [str(plain)], None, PARAMS, progress=False)


def test_bad_selection_is_a_user_error(database: Database, chat_model_dir: Path) -> None:
    setup_bank(database, chat_model_dir, n=1)
    with pytest.raises(UserError, match="unknown prompt ids: 999"):
        generate_answers(database, ["tiny-a"], [999], PARAMS, progress=False)
    with pytest.raises(UserError, match="neither a directory nor a registered model"):
        generate_answers(database, ["no-such-model"], None, PARAMS, progress=False)
    with pytest.raises(UserError, match="no prompts selected"):
        generate_answers(database, ["tiny-a"], None, PARAMS, category="代码编程", progress=False)


def test_cli_generate_then_resume(chat_model_dir: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run_cli("arena", "bank", "import", "--default", "--db", db).returncode == 0
    args = ["arena", "generate", "--models", f"{chat_model_dir},", "--limit", "2", "--max-new-tokens", "4",
            "--no-progress", "--db", db]  # fmt: skip
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert f"{chat_model_dir.name}: generated 2, already stored 0" in res.stdout
    res = run_cli(*args)
    assert f"{chat_model_dir.name}: generated 0, already stored 2" in res.stdout
    res = run_cli("arena", "generate", "--models", "ghost", "--db", db)
    assert res.returncode == 2 and "ghost" in res.stderr and "Traceback" not in res.stderr
