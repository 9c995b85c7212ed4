"""Exchange-log repository: plain functions over a `Session`; like `db.repo`, never commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import utcnow
from db.models_exchanges import ApiExchange


def log_exchange(
    s: Session,
    model_name: str,
    endpoint: str,
    request: dict[str, Any],
    response: dict[str, Any],
    status: int | None,
    latency_s: float,
    error: str | None = None,
) -> ApiExchange:
    """Add one exchange row (flushed, so its id is set) and return it."""
    row = ApiExchange(
        model_name=model_name, endpoint=endpoint, request=dict(request), response=dict(response),
        status=status, latency_s=float(latency_s), error=error, created_at=utcnow(),
    )  # fmt: skip
    s.add(row)
    s.flush()
    return row


def recent_exchanges(s: Session, model_name: str | None = None, limit: int = 100) -> list[ApiExchange]:
    """The newest `limit` exchanges (of `model_name` when given), newest first."""
    query = select(ApiExchange)
    if model_name is not None:
        query = query.where(ApiExchange.model_name == model_name)
    query = query.order_by(ApiExchange.created_at.desc(), ApiExchange.id.desc()).limit(limit)
    return list(s.scalars(query))
