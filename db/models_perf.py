"""Serving-performance rows: one per timed request of `evals run --suite perf`.

Registered on `db.models.Base` (db/models.py imports this module). Migration:
db/migrations/versions/0006_perf_requests.py. The run's summary (per level: TTFT/TPOT/ITL
percentiles, throughput) lives in `metrics` like any run's; these rows are the evidence.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class PerfRequest(Base):
    """One request of a perf run's load level (`level` e.g. "c4" closed loop, "r2" Poisson arrivals)."""

    __tablename__ = "perf_requests"
    __table_args__ = (Index("ix_perf_requests_run_level", "run_id", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(32))
    concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)  # in flight (closed) or the cap (open)
    rate: Mapped[float | None] = mapped_column(Float, nullable=True)  # requests/s of an open-loop level
    seq: Mapped[int] = mapped_column(Integer)  # send order within the level
    start_s: Mapped[float] = mapped_column(Float)  # sent this long after the level began
    ok: Mapped[bool] = mapped_column(Boolean)
    ttft_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    tpot_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    itl_s: Mapped[list[Any]] = mapped_column(JSON, default=list)  # gaps between consecutive pieces of text
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
