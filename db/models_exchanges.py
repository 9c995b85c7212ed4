"""HTTP exchange log: one row per request an OpenAI-compatible backend made (`--backend openai`).

Registered on `db.models.Base` (db/models.py imports this module), so Alembic and the drift test
see it. Migration: db/migrations/versions/0003_exchanges.py.

Rows are written by `db.exchange_log.exchange_logger` through the runner's `on_exchange` hook;
the runner never passes the API key, so no row ever holds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow


class ApiExchange(Base):
    """One request/response pair (also failed attempts: `status` is the HTTP code or None for a
    transport error, `error` the one-line message)."""

    __tablename__ = "api_exchanges"
    __table_args__ = (Index("ix_api_exchanges_model_created", "model_name", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(200))  # e.g. "/chat/completions"
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)  # request body (no credentials)
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)  # response body or {"error", "status"}
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_s: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
