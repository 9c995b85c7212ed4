"""Concurrent live voters, small: 4 voters × 2 full live rounds per backend, streaming from the real
loopback server. The larger run is `benchmarks/live_load.py`; this is the same code at CI size."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.live_load import run_live_load, tiny_server
from tests.arena.store_fixtures import db_url

VOTERS, ROUNDS = 4, 2


@pytest.mark.slow
def test_live_voters_every_vote_stored_once_and_every_answer_timed(db_url: str, tiny_model_dir: Path) -> None:
    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    with tiny_server(str(tiny_model_dir)) as base_url:
        r = run_live_load(db_url, backend, VOTERS, ROUNDS, base_url=base_url, max_new_tokens=8)
    n = VOTERS * ROUNDS
    assert r.errors == () and r.failed_rounds == 0
    assert r.accepted == n and r.stored_votes == r.distinct_battles == n  # exactly once: none lost, none doubled
    assert r.lost == 0 and r.mismatched == 0  # stored with the outcome and tags each voter sent
    assert r.answers == r.answers_timed == 2 * n  # TTFT and latency recorded for every answer
    assert 0 < r.ttft_p50_s <= r.ttft_p99_s and r.ttft_p50_s <= r.latency_p50_s <= r.latency_p99_s
    assert math.isfinite(r.rounds_per_s) and r.rounds_per_s > 0
    assert r.ok
