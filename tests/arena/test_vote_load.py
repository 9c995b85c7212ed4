"""Concurrent voting, small: 4 processes × 50 votes (+ 50 racing double submits each) per backend.

The full 8 × 500 run is `benchmarks/vote_load.py`; this is the same code at a size CI can afford.
"""

from __future__ import annotations

import pytest

from benchmarks.vote_load import run_load
from tests.arena.store_fixtures import db_url

PROCS, VOTES = 4, 50


@pytest.mark.slow
def test_concurrent_votes_none_lost_none_duplicated(db_url: str) -> None:
    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    r = run_load(db_url, backend, PROCS, VOTES)
    n = PROCS * VOTES
    assert r.other_errors == 0
    assert r.accepted == n  # every battle got exactly one accepted vote ...
    assert r.refused_double == n  # ... and every racing double submit was refused and counted
    assert r.stored == r.distinct_battles == n  # zero duplicated
    assert r.lost == 0 and r.mismatched == 0  # zero lost: each accepted vote stored as sent
    assert r.ok
