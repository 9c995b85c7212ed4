"""Concurrent live voters, small: 4 voters × 2 full live rounds per backend, streaming from a real
server on loopback: the test SSE server, and vLLM's own server where vLLM is installed (`make test-vllm`).
The larger run is `benchmarks/live_load.py`; this is the same code at CI size."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.live_load import run_live_load, tiny_server
from tests.arena.store_fixtures import db_url
from tests.vllm_server import serve_vllm, vllm_unusable

VOTERS, ROUNDS = 4, 2


@pytest.fixture(scope="module", params=["loopback", "vllm"])
def server_url(
    request: pytest.FixtureRequest, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of a server streaming the tiny model as "tiny" (one per module and kind)."""
    if request.param == "vllm":
        if reason := vllm_unusable():
            pytest.skip(reason)
        with serve_vllm(tiny_model_dir, "tiny", tmp_path_factory.mktemp("vllm") / "vllm.log") as url:
            yield url
    else:
        with tiny_server(str(tiny_model_dir)) as url:
            yield url


@pytest.mark.slow
def test_live_voters_every_vote_stored_once_and_every_answer_timed(db_url: str, server_url: str) -> None:
    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    r = run_live_load(db_url, backend, VOTERS, ROUNDS, base_url=server_url, max_new_tokens=8)
    n = VOTERS * ROUNDS
    assert r.errors == () and r.failed_rounds == 0
    assert r.accepted == n and r.stored_votes == r.distinct_battles == n  # exactly once: none lost, none doubled
    assert r.lost == 0 and r.mismatched == 0  # stored with the outcome and tags each voter sent
    assert r.answers == r.answers_timed == 2 * n  # TTFT and latency recorded for every answer
    assert 0 < r.ttft_p50_s <= r.ttft_p99_s and r.ttft_p50_s <= r.latency_p50_s <= r.latency_p99_s
    assert math.isfinite(r.rounds_per_s) and r.rounds_per_s > 0
    assert r.ok
