"""`evals run --suite perf` against a real OpenAI-compatible SSE server (tests/arena/sse_server.py, the real
tiny model on loopback) and the in-process hf backend.

The server paces its stream deterministically (`pace_s` between chunks, `queue_s` x requests in flight
before the first chunk), so the checks are relations to the configured pace, never to our own speed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.model_spec import ModelSpec
from db import open_db
from db.perf_repo import requests
from evals.perf.metrics import RequestTiming, percentile, summarize
from evals.perf.sla import parse_sla, search
from runners import open_runner
from runners.chat_stream import HFChatStreamer
from tests.arena.sse_server import ChatServer, serve_chat
from tests.dbutil import backend_url
from tests.evals.cli_helpers import call_in_process as call

PACE_S = 0.02
QUEUE_S = 0.5


@pytest.fixture(scope="module")
def hf_streamer(tiny_model_dir: Path) -> HFChatStreamer:
    return HFChatStreamer(open_runner(ModelSpec(name="tiny", path=str(tiny_model_dir))), timeout_s=60)


@pytest.fixture(scope="module")
def paced(hf_streamer: HFChatStreamer) -> Iterator[ChatServer]:
    with serve_chat(hf_streamer, pace_s=PACE_S) as srv:
        yield srv


@pytest.fixture(scope="module")
def queueing(hf_streamer: HFChatStreamer) -> Iterator[ChatServer]:
    with serve_chat(hf_streamer, queue_s=QUEUE_S) as srv:
        yield srv


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as url:
        yield url


def perf(server: ChatServer, db: str, *extra: str, tmp: Path | None = None) -> dict:
    out = (tmp or Path(".")) / "perf.json"
    code, _, err = call(
        "run", "--suite", "perf", "--backend", "openai", "--base-url", server.url, "--model", "tiny",
        "--input-len", "24", "--output-len", "12", "--warmup", "1", "--no-progress", "--db", db,
        "--json", str(out), *extra,
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out.read_text(encoding="utf-8"))


def test_concurrency_sweep_is_stored_and_paced(
    paced: ChatServer, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the results table unwrapped
    doc = perf(paced, db, "--concurrency", "1,3", "--num-prompts", "4", tmp=tmp_path)
    assert [lv["level"] for lv in doc["levels"]] == ["c1", "c3"]
    database = open_db(db)
    with database.session() as s:
        for lv in doc["levels"]:
            rows = requests(s, doc["run_id"], lv["level"])
            assert len(rows) == 4 == lv["completed"] and all(r.ok for r in rows)
            assert {r.concurrency for r in rows} == {int(lv["level"][1:])}
            # the server waits PACE_S before every chunk after the first; one gap seen by the client may
            # shrink when the chunk before it arrived late, so the checks are on the median and on sums
            assert lv["itl_p50_ms"] >= PACE_S * 1000 * 0.9
            for r in rows:
                assert r.latency_s is not None and r.ttft_s is not None and 0 < r.ttft_s < r.latency_s
                assert r.itl_s and r.latency_s - r.ttft_s >= PACE_S * 0.8 * len(r.itl_s)
                assert r.latency_s - r.ttft_s == pytest.approx(sum(r.itl_s))  # ends at the last piece of text
                if r.output_tokens and r.output_tokens > 1:  # TPOT as vllm bench serve defines it
                    assert r.tpot_s == pytest.approx((r.latency_s - r.ttft_s) / (r.output_tokens - 1))
            out_tokens = sum(r.output_tokens or 0 for r in rows)
            assert lv["output_throughput"] == pytest.approx(out_tokens / lv["duration_s"])
            assert lv["request_throughput"] == pytest.approx(4 / lv["duration_s"])
            assert lv["client_cpu_s"] > 0  # the load generator's own CPU time, to tell a client-bound run
    # the summary is the run's metrics: `evals results` shows the headline
    code, out, _ = call("results", "--suite", "perf", "--db", db)
    assert code == 0 and f"tok/s {doc['metrics']['peak_output_throughput']:.1f}" in out
    assert doc["metrics"]["ttft_p50_ms"].keys() == {"c1", "c3"}


def test_poisson_arrivals(paced: ChatServer, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'p.db'}"
    doc = perf(paced, db, "--rate", "20,inf", "--num-prompts", "5", tmp=tmp_path)
    assert [lv["level"] for lv in doc["levels"]] == ["r20", "rinf"]
    database = open_db(db)
    with database.session() as s:
        rows = requests(s, doc["run_id"], "r20")
        # Poisson arrivals from the seeded generator: each request leaves at its due time, never earlier
        rng, due = random.Random(0), 0.0
        for r in rows:
            due += rng.expovariate(20.0)
            assert r.start_s >= due - 0.005
        burst = requests(s, doc["run_id"], "rinf")
        # rate inf sends everything at once: the requests overlap, so the level took less than their sum
        assert len(burst) == 5 and doc["levels"][1]["duration_s"] < sum(r.latency_s or 0 for r in burst)
        assert all(r.rate is not None for r in rows + burst)


def test_sla_search_finds_the_highest_level(queueing: ChatServer, tmp_path: Path) -> None:
    # TTFT = max(QUEUE_S x requests in flight, the model's own first-token time): c=2 -> 1.0 s, c=3 -> 1.5 s
    db = f"sqlite:///{tmp_path / 's.db'}"
    doc = perf(queueing, db, "--sla", "p99_ttft<1.4s", "--concurrency", "8", "--num-prompts", "4",
               "--input-len", "8", "--output-len", "2", tmp=tmp_path)  # fmt: skip
    tried = {lv["level"]: lv["sla_met"] for lv in doc["levels"]}
    assert tried == {"c1": True, "c2": True, "c4": False, "c3": False}
    assert doc["sla"]["max_concurrency"] == 2 and doc["metrics"]["sla_concurrency"] == 2


def test_hf_backend_in_process(tiny_model_dir: Path, tmp_path: Path) -> None:
    out, db = tmp_path / "hf.json", f"sqlite:///{tmp_path / 'hf.db'}"
    code, _, err = call("run", "--suite", "perf", "--model", str(tiny_model_dir), "--input-len", "16",
                        "--output-len", "6", "--num-prompts", "2", "--warmup", "0", "--no-progress",
                        "--db", db, "--json", str(out))  # fmt: skip
    assert code == 0, err
    doc = json.loads(out.read_text(encoding="utf-8"))
    (level,) = doc["levels"]
    assert level["completed"] == 2 and level["input_tokens"] > 16  # the chat template wraps the 16-token prompt
    assert 0 < level["ttft_p50_ms"] <= level["e2el_p50_ms"]
    code, _, err = call("run", "--suite", "perf", "--model", str(tiny_model_dir), "--ignore-eos", "--no-progress",
                        "--db", db)  # fmt: skip
    assert code == 2 and "--ignore-eos" in err


@pytest.mark.parametrize(
    "bad",
    [
        ("--sla", "p99_ttft<<1s"),
        ("--sla", "p42_ttft<1s"),
        ("--sla", "p99_speed<1s"),
        ("--concurrency", "0"),
        ("--concurrency", "1,x"),
        ("--rate", "-1"),
        ("--rate", "nan"),
        ("--num-prompts", "0"),
        ("--prompts", "wiki"),
        ("--rate", "1", "--sla", "p99_ttft<1s"),
        ("--duration", "0"),
        ("--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"),  # nothing listens there
    ],
)
def test_bad_input_exits_2(paced: ChatServer, tmp_path: Path, bad: tuple[str, ...]) -> None:
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    backend = () if "--backend" in bad else ("--backend", "openai", "--base-url", paced.url)  # a live server
    code, _, err = call("run", "--suite", "perf", *backend, "--model", "tiny", *bad, "--no-progress", "--db", db)
    assert code == 2, err
    assert "Traceback" not in err and len([ln for ln in err.splitlines() if ln.startswith("error")]) == 1, err
    database = open_db(db)
    with database.session() as s:
        from db import Run

        assert s.query(Run).count() == 0  # refused before anything was stored


def test_dataset_prompts_and_duration_cap(paced: ChatServer, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'd.db'}"
    # C-Eval questions (the embedded sample) are what the server receives
    seen = len(paced.requests)
    doc = perf(paced, db, "--prompts", "ceval", "--limit", "1", "--num-prompts", "2", "--output-len", "2",
               "--warmup", "0", tmp=tmp_path)  # fmt: skip
    sent = [r["body"]["messages"][-1]["content"] for r in paced.requests[seen:]]
    assert len(sent) == 2 and all(t.endswith("答案：") and "\nA. " in t for t in sent)
    assert doc["levels"][0]["completed"] == 2
    # the arena bank: refused while the store has none, then its questions
    code, _, err = call("run", "--suite", "perf", "--backend", "openai", "--base-url", paced.url, "--model", "tiny",
                        "--prompts", "bank", "--no-progress", "--db", db)  # fmt: skip
    assert code == 2 and "evals arena bank import" in err
    assert call("arena", "bank", "import", "--default", "--db", db)[0] == 0
    seen = len(paced.requests)
    perf(paced, db, "--prompts", "bank", "--num-prompts", "2", "--output-len", "2", "--warmup", "0", tmp=tmp_path)
    from db.models_arena import ArenaPrompt

    with open_db(db).session() as s:
        bank = set(s.scalars(select(ArenaPrompt.text)))
    assert {r["body"]["messages"][-1]["content"] for r in paced.requests[seen:]} <= bank
    # --duration: no request is sent after the cap (each takes >= 11 x PACE_S here), those in flight finish
    doc = perf(paced, db, "--duration", "0.3", "--num-prompts", "40", "--warmup", "0", tmp=tmp_path)
    (level,) = doc["levels"]
    assert 1 <= level["requests"] < 40
    with open_db(db).session() as s:
        assert all(r.start_s < 0.3 for r in requests(s, doc["run_id"]))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed (make test-vllm)")
def test_vllm_backend_serves_the_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`--backend vllm`: vLLM's own OpenAI server is started for the run and timed like any endpoint."""
    out, db = tmp_path / "v.json", f"sqlite:///{tmp_path / 'v.db'}"
    code, _, err = call("run", "--suite", "perf", "--backend", "vllm", "--model", str(tiny_model_dir),
                        "--dtype", "float32", "--input-len", "32", "--output-len", "8", "--ignore-eos",
                        "--num-prompts", "4", "--concurrency", "2", "--no-progress", "--db", db,
                        "--json", str(out))  # fmt: skip
    assert code == 0, err
    (level,) = json.loads(out.read_text(encoding="utf-8"))["levels"]
    assert level["completed"] == 4 and level["output_tokens"] == 4 * 8  # --ignore-eos: exactly --output-len each
    assert 0 < level["ttft_p50_ms"] < level["e2el_p50_ms"]


def test_concurrency_list_only_for_perf() -> None:
    code, _, err = call("run", "--suite", "ceval", "--concurrency", "1,4", "--no-progress")
    assert code == 2 and "one number" in err


def test_metric_definitions() -> None:
    rows = [
        RequestTiming(0, 0.0, ok=True, ttft_s=0.1, latency_s=0.5, itl_s=[0.1] * 4, prompt_tokens=10, output_tokens=5),
        RequestTiming(1, 0.0, ok=True, ttft_s=0.3, latency_s=0.3, itl_s=[], prompt_tokens=10, output_tokens=1),
        RequestTiming(2, 0.1, error="HTTP 500"),
    ]
    s = summarize(rows, 2.0)
    assert (s["completed"], s["failed"]) == (2, 1)
    assert s["tpot_p50_ms"] == pytest.approx(100.0)  # (0.5-0.1)/(5-1); a one-token answer has no TPOT
    assert s["ttft_p50_ms"] == pytest.approx(200.0) and s["ttft_p99_ms"] == pytest.approx(298.0)
    assert s["output_throughput"] == 3.0 and s["total_token_throughput"] == 13.0
    assert percentile([1, 2, 3, 4], 50) == 2.5


def test_longbench_prompts_carry_context_and_question() -> None:
    from evals.perf.prompts import dataset_prompts
    from evals.registry import get_suite
    from evals.suite_api import SuiteOptions

    items = get_suite("longbench").plan(SuiteOptions()).items
    texts = dataset_prompts("longbench", data=None, database=None, limit=None)
    assert len(texts) == len(items) > 0
    assert all(t == f"{it.item.context}\n\n{it.item.input}" for t, it in zip(texts, items, strict=True))


def test_sla_parse_and_search() -> None:
    (o,) = parse_sla("p99_ttft < 1.5s")
    assert (o.metric, o.limit_ms, o.inclusive) == ("ttft_p99_ms", 1500.0, False)
    assert [x.metric for x in parse_sla("mean_tpot<=40,p50_e2el<2s")] == ["tpot_mean_ms", "e2el_p50_ms"]
    tried: list[int] = []

    def ok(c: int) -> bool:
        tried.append(c)
        return c <= 11

    assert search(ok, start=1, ceiling=64) == 11
    assert tried == [1, 2, 4, 8, 16, 12, 10, 11]
    assert search(lambda c: c <= 100, start=1, ceiling=64) == 64
    assert search(lambda c: False, start=1, ceiling=64) is None
