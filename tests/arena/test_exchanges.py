"""Exchange log of the openai backend: rows stored through the runner hook, best effort, key-free."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text

from db import Database, exchange_repo, make_engine, repo, upgrade
from db.exchange_log import exchange_logger
from db.migrate import alembic_config
from runners.base import GenParams
from tests.dbutil import BACKENDS, backend_url

SECRET = "sk-test-DO-NOT-STORE-0123456789"
CHAT_REQUEST = {
    "endpoint": "/chat/completions", "model": "qwen-chat", "max_tokens": 64, "temperature": 0.7, "top_p": 0.9,
    "seed": 42, "messages": [{"role": "system", "content": "你是一个乐于助人的助手。"},
                             {"role": "user", "content": "北京是哪个国家的首都？"}],
}  # fmt: skip
CHAT_RESPONSE = {
    "id": "chatcmpl-1", "object": "chat.completion", "model": "qwen-chat",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "北京是中国的首都。"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
}  # fmt: skip


@pytest.fixture(params=[pytest.param(b, marks=[pytest.mark.pg] if b == "postgresql" else []) for b in BACKENDS])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def stored(database: Database, model_name: str | None = None) -> list[dict]:
    with database.session(write=False) as s:
        rows = exchange_repo.recent_exchanges(s, model_name)
        return [{c: getattr(r, c) for c in ("id", "model_name", "endpoint", "request", "response", "status",
                                            "latency_s", "error", "created_at")} for r in rows]  # fmt: skip


def mock_server(fail_first: int = 0, *, seen: list | None = None) -> httpx.MockTransport:
    """An OpenAI-compatible server: /models lists qwen-chat; the first `fail_first` posts answer 503."""
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request.headers.get("authorization"))
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "qwen-chat", "max_model_len": 4096}]})
        calls["n"] += 1
        if calls["n"] <= fail_first:
            return httpx.Response(503, json={"error": {"message": "overloaded"}})
        body = json.loads(request.content)
        question = body["messages"][-1]["content"]
        return httpx.Response(
            200,
            json={
                **CHAT_RESPONSE,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"答：{question}"},
                        "finish_reason": "stop",
                    }
                ],
            },
        )

    return httpx.MockTransport(handler)


def test_logger_stores_rows(database: Database) -> None:
    log = exchange_logger(database, "qwen-chat")
    log(CHAT_REQUEST, CHAT_RESPONSE, 0.25)
    log(CHAT_REQUEST, {"error": "HTTP 429: slow down", "status": 429}, 0.01)
    log({**CHAT_REQUEST, "endpoint": "/completions"}, {"error": "ConnectError: refused", "status": None}, 0.5)
    exchange_logger(database, "other")(CHAT_REQUEST, CHAT_RESPONSE, 1.0)

    rows = stored(database, "qwen-chat")
    assert len(rows) == 3 and len(stored(database)) == 4
    newest_first = sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    assert [r["id"] for r in rows] == [r["id"] for r in newest_first]
    by_status = {r["status"]: r for r in rows}
    ok, limited, down = by_status[200], by_status[429], by_status[None]
    assert ok["endpoint"] == "/chat/completions" and ok["error"] is None and ok["latency_s"] == pytest.approx(0.25)
    assert ok["response"] == CHAT_RESPONSE  # Chinese text round-trips through JSON
    assert ok["request"] == {k: v for k, v in CHAT_REQUEST.items() if k != "endpoint"}
    assert limited["error"] == "HTTP 429: slow down" and limited["response"]["status"] == 429
    assert down["endpoint"] == "/completions" and down["error"].startswith("ConnectError")
    with database.session(write=False) as s:
        assert len(exchange_repo.recent_exchanges(s, limit=2)) == 2
        assert exchange_repo.recent_exchanges(s, "nobody") == []


def test_real_runner_calls_the_hook_without_the_key(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from runners import openai_backend
    from runners.openai_backend import OpenAIRunner

    monkeypatch.setattr(openai_backend, "BACKOFF_BASE_S", 0.001)
    monkeypatch.setenv("EVALS_API_KEY", SECRET)
    seen: list = []
    runner = OpenAIRunner(
        "qwen-chat", base_url="http://llm.test/v1", transport=mock_server(fail_first=1, seen=seen),
        on_exchange=exchange_logger(database, "qwen-chat"), concurrency=2,
    )  # fmt: skip
    try:
        out = runner.generate(
            ["北京是哪个国家的首都？", "1+1=?"], GenParams(max_new_tokens=16), chat=True, system="你好"
        )
    finally:
        runner.close()
    assert out == ["答：北京是哪个国家的首都？", "答：1+1=?"]
    assert f"Bearer {SECRET}" in seen  # the key did go to the server ...

    rows = stored(database, "qwen-chat")
    assert sorted(r["status"] for r in rows) == [200, 200, 503]  # one retried attempt + two answers
    assert all(r["endpoint"] == "/chat/completions" and r["latency_s"] >= 0 for r in rows)
    assert {r["request"]["messages"][-1]["content"] for r in rows if r["status"] == 200} == {
        "北京是哪个国家的首都？",
        "1+1=?",
    }
    assert "overloaded" in next(r["error"] for r in rows if r["status"] == 503)
    with database.engine.connect() as conn:  # ... but never into the database, in any column
        dump = json.dumps([list(r) for r in conn.execute(text("SELECT * FROM api_exchanges"))], default=str)
    assert SECRET not in dump and "Bearer" not in dump


def test_failing_database_never_raises(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    from runners.openai_backend import OpenAIRunner

    with database.session() as s:
        s.execute(text("DROP TABLE api_exchanges"))  # every write now fails
    log = exchange_logger(database, "qwen-chat")
    with caplog.at_level(logging.DEBUG, logger="db.exchange_log"):
        log(CHAT_REQUEST, CHAT_RESPONSE, 0.1)
        log(CHAT_REQUEST, CHAT_RESPONSE, 0.1)
        runner = OpenAIRunner("qwen-chat", base_url="http://llm.test/v1", transport=mock_server(), on_exchange=log)
        assert runner.generate(["你好"], GenParams(max_new_tokens=4), chat=True) == ["答：你好"]
        runner.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "could not store an API exchange of qwen-chat" in warnings[0].getMessage()
    with database.session() as s:  # the database itself is still usable
        repo.upsert_model(s, "still-fine", "/x")

    database.dispose()
    broken = Database.__new__(Database)  # a database whose sessions cannot even open
    broken.session = lambda write=True: (_ for _ in ()).throw(RuntimeError("db down"))  # type: ignore[method-assign]
    exchange_logger(broken, "qwen-chat")(CHAT_REQUEST, CHAT_RESPONSE, 0.1)


def test_generate_answers_logs_openai_exchanges(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """arena.answers wires the logger into an openai model's runner (transport injected in the loader)."""
    import runners
    from arena.answers import generate_answers
    from db import arena_repo

    real = runners.load_runner
    captured: dict = {}

    def load_with_mock_server(backend, path, **kwargs):  # type: ignore[no-untyped-def]
        captured.update(kwargs)
        return real(backend, path, base_url="http://llm.test/v1", transport=mock_server(), **kwargs)

    monkeypatch.setattr(runners, "load_runner", load_with_mock_server)
    with database.session() as s:
        repo.upsert_model(s, "qwen-chat", "qwen-chat", "openai")
        arena_repo.add_prompts(s, [{"text": "你好", "norm_hash": "h1", "category": "通用知识", "lang": "zh", "source": "t"},
                                   {"text": "再见", "norm_hash": "h2", "category": "通用知识", "lang": "zh", "source": "t"}])  # fmt: skip
    reports = generate_answers(database, ["qwen-chat"], params=GenParams(max_new_tokens=8), progress=False)
    assert reports[0].generated == 2 and callable(captured.get("on_exchange"))
    rows = stored(database, "qwen-chat")
    assert len(rows) == 2 and {r["status"] for r in rows} == {200}
    assert {r["response"]["choices"][0]["message"]["content"] for r in rows} == {"答：你好", "答：再见"}


def test_migration_upgrade_and_downgrade(db_url: str) -> None:
    from alembic import command

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        insp = inspect(engine)
        assert "api_exchanges" in insp.get_table_names()
        assert {i["name"] for i in insp.get_indexes("api_exchanges")} == {"ix_api_exchanges_model_created"}
        for target, present in (("0002", False), ("head", True)):
            with engine.begin() as conn:
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                (command.downgrade if target == "0002" else command.upgrade)(cfg, target)
            assert ("api_exchanges" in inspect(engine).get_table_names()) is present
        assert {"battles", "votes", "runs"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("flag", [None, "--no-log-exchanges"])
def test_cli_run_wires_the_logger(flag: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`evals run --backend openai` passes the hook to the engine (default on), not with --no-log-exchanges."""
    from typer.testing import CliRunner

    import evals.cli.run
    import evals.engine
    from evals.cli.app import app

    captured: dict = {}

    def fake_execute(*args, runner_kwargs=None, **kwargs):  # type: ignore[no-untyped-def]
        captured.update(runner_kwargs or {})
        raise SystemExit(0)

    monkeypatch.setattr(evals.engine, "execute", fake_execute)
    args = ["run", "--suite", "ceval", "--scoring", "logprob", "--backend", "openai", "--model", "qwen-chat", "--base-url",
            "http://llm.test/v1", "--db", f"sqlite:///{tmp_path / 'x.db'}", *([flag] if flag else [])]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert captured["base_url"] == "http://llm.test/v1"
    assert callable(captured.get("on_exchange")) is (flag is None)
