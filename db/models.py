"""SQLAlchemy 2.x typed models. Alembic (db/migrations) owns the schema; keep both in step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


# Named constraints let later migrations drop/alter them (SQLite batch mode needs the names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Model(Base):
    """A model people evaluate: a checkpoint dir, an adapter on a base, or a served endpoint."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text)
    backend: Mapped[str] = mapped_column(String(32), default="hf")
    base_model: Mapped[str | None] = mapped_column(String(200), nullable=True)  # name of the parent model
    adapter_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    quantization: Mapped[str] = mapped_column(String(32), default="none")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # n_params, vocab, dtype, ...
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # method, data hash, hparams, loss curve
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    runs: Mapped[list[Run]] = relationship(back_populates="model")


class Run(Base):
    """One evaluation run; `id` is the run-config hash, so the same command resumes the same run."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    suite: Mapped[str] = mapped_column(String(64), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | finished | failed | interrupted
    versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # package versions, model info
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    n_items: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    elapsed_s: Mapped[float] = mapped_column(Float, default=0.0)  # compute time summed over all attempts

    model: Mapped[Model] = relationship(back_populates="runs")


class ItemResult(Base):
    """One scored item of a run, written as soon as its batch finishes."""

    __tablename__ = "item_results"
    __table_args__ = (UniqueConstraint("run_id", "item_id", name="uq_item_results_run_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(200))  # unique within the run, e.g. "computer_network/17"
    subject: Mapped[str] = mapped_column(String(200), default="")
    pred: Mapped[str | None] = mapped_column(Text, nullable=True)
    gold: Mapped[str | None] = mapped_column(Text, nullable=True)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # per-choice scores, answers, ...


class Metric(Base):
    """Aggregate numbers of a run; `subset` is "" for the headline, else a category/subject/task."""

    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("run_id", "name", "subset", name="uq_metrics_run_name_subset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    subset: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[float] = mapped_column(Float)


# The arena tables live in their own module; importing it here registers them on Base.metadata
# wherever the models are loaded (Alembic env, drift test). A module import (not `from ... import
# names`) keeps this safe whichever of the two modules is imported first.
from db import models_arena as _models_arena  # noqa: E402,F401
from db import models_exchanges as _models_exchanges  # noqa: E402,F401
from db import models_live as _models_live  # noqa: E402,F401
from db import models_perf as _models_perf  # noqa: E402,F401
