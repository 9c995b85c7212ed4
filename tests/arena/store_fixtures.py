"""Fixtures and builders for the arena store tests (bank, answers, battles, votes).

Imported by the test modules that use them (`from tests.arena.store_fixtures import ...`), so the
ratings tests in this package stay untouched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from db import Database, arena_repo, repo
from tests.dbutil import BACKENDS, backend_url

READY_FILE = Path("/tmp/leitai_tiny_ready")


@pytest.fixture(params=[pytest.param(b, marks=[pytest.mark.pg] if b == "postgresql" else []) for b in BACKENDS])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL per test, for SQLite and PostgreSQL (skipped if unset)."""
    with backend_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A migrated `Database` on `db_url`."""
    database = Database(db_url)
    yield database
    database.dispose()


def add_models_with_answers(
    database: Database, models: Sequence[str], n_prompts: int = 3, *, texts: dict[tuple[str, int], str] | None = None
) -> tuple[list[int], list[int]]:
    """Store `n_prompts` bank questions and one answer per (model, prompt); return (model ids, prompt ids).

    Answer texts are "<model> answers question <k>" unless `texts[(model, k)]` says otherwise
    (k counts prompts from 0). Names never appear in the default texts, so no identity leak.
    """
    texts = texts or {}
    with database.session() as s:
        model_ids = [repo.upsert_model(s, name, f"/models/{name}").id for name in models]
        arena_repo.add_prompts(
            s, [{"text": f"测试问题{k}：请介绍一下第{k}个话题。", "norm_hash": f"test-{k}", "category": "通用知识",
                 "lang": "zh", "source": "test"} for k in range(n_prompts)],
        )  # fmt: skip
        prompts = arena_repo.list_prompts(s)
        rows = [
            {"prompt_id": p.id, "model_id": mid, "text": texts.get((name, k), f"回答{k}：这是一个示例回答。"),
             "gen_params": {"temperature": 0.7}, "params_hash": "test"}
            for name, mid in zip(models, model_ids, strict=True) for k, p in enumerate(prompts)
        ]  # fmt: skip
        arena_repo.add_answers(s, rows)
    return model_ids, [p.id for p in prompts]


@pytest.fixture(scope="session")
def chat_model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny Llama checkpoint with a chat template.

    Preference: the shared `tiny_model_dir` fixture, an already built project tiny, then the
    runners tests' quick random-init checkpoint (~5 s).
    """
    try:
        return Path(request.getfixturevalue("tiny_model_dir"))
    except pytest.FixtureLookupError:
        pass
    if READY_FILE.is_file():
        ready = Path(READY_FILE.read_text(encoding="utf-8").strip().splitlines()[-1].split()[0])
        if (ready / "config.json").is_file() and (ready / "chat_template.jinja").is_file():
            return ready
    try:
        from training.tiny import VERSION, cache_dir, is_tiny_checkpoint

        cached = cache_dir() / f"tiny-zh-llama-v{VERSION}"
        if is_tiny_checkpoint(cached):
            return cached
    except ImportError:
        pass
    from tests.runners._tiny_ckpt import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("arena-tiny"))
