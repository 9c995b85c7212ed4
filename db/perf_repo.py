"""Store and read the per-request rows of perf runs (db/models_perf.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models_perf import PerfRequest

ROW_FIELDS = (
    "seq", "start_s", "ok", "ttft_s", "latency_s", "tpot_s", "itl_s", "prompt_tokens", "output_tokens", "error",
)  # fmt: skip


def add_requests(
    s: Session, run_id: str, level: str, rows: Sequence[dict[str, Any]], *, concurrency: int | None, rate: float | None
) -> None:
    """Store one level's request rows (a rerun of the level replaces its rows)."""
    s.query(PerfRequest).filter(PerfRequest.run_id == run_id, PerfRequest.level == level).delete()
    for r in rows:
        s.add(PerfRequest(run_id=run_id, level=level, concurrency=concurrency, rate=rate,
                          **{k: r.get(k) for k in ROW_FIELDS}))  # fmt: skip
    s.flush()


def requests(s: Session, run_id: str, level: str | None = None) -> list[PerfRequest]:
    """A run's request rows (of one level), by level then send order."""
    q = select(PerfRequest).where(PerfRequest.run_id == run_id)
    if level is not None:
        q = q.where(PerfRequest.level == level)
    return list(s.scalars(q.order_by(PerfRequest.level, PerfRequest.seq)))
