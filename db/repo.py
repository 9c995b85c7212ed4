"""Repositories: plain functions over a `Session`. Storage only — no business rules.

Every function works inside the caller's transaction and never commits; writes are
flushed so generated ids are available right away.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.scrub import scrub, scrub_data
from db.models import ItemResult, Metric, Model, Run, utcnow

_MODEL_FIELDS = frozenset(c.key for c in Model.__table__.columns) - {"id", "name", "path", "backend"}
_ITEM_FIELDS = ("item_id", "subject", "pred", "gold", "correct", "score", "extra")


# --- models -------------------------------------------------------------------------------


def upsert_model(s: Session, name: str, path: str, backend: str = "hf", **fields: Any) -> Model:
    """Create the model `name`, or update its path, backend and the given fields.

    Args:
        s: Session.
        name: Unique model name.
        path: Checkpoint dir, adapter dir or endpoint.
        backend: Runner backend name.
        **fields: Other `Model` columns (base_model, adapter_path, quantization, params, lineage).

    Returns:
        The stored model, flushed (its `id` is set).

    Raises:
        TypeError: a field is not a `Model` column.
    """
    unknown = set(fields) - _MODEL_FIELDS
    if unknown:
        raise TypeError(f"unknown Model fields: {sorted(unknown)}")
    # a server URL may carry credentials (http://user:key@host), a runner's info an echoed key
    values = scrub_data({"path": path, "backend": backend, **fields})
    model = get_model(s, name)
    if model is None:
        try:
            # Savepoint: a concurrent writer may insert the same name between our read and write.
            with s.begin_nested():
                model = Model(name=name, **values)
                s.add(model)
        except IntegrityError:
            model = get_model(s, name)
            if model is None:
                raise
    for key, value in values.items():
        setattr(model, key, value)
    s.flush()
    return model


def get_model(s: Session, name: str) -> Model | None:
    """Return the model called `name`, or None."""
    return s.scalars(select(Model).where(Model.name == name)).one_or_none()


def list_models(s: Session) -> list[Model]:
    """Return all models ordered by name."""
    return list(s.scalars(select(Model).order_by(Model.name)))


# --- runs ---------------------------------------------------------------------------------


def start_run(
    s: Session, run_id: str, suite: str, model_id: int, config: dict[str, Any], versions: dict[str, Any]
) -> Run:
    """Create run `run_id`, or reopen it for resuming.

    A reopened run gets status "running", no error, no finish time and the new `versions`;
    its item results, config, start time and accumulated `elapsed_s` are kept.

    Returns:
        The stored run, flushed.
    """
    config, versions = scrub_data(config), scrub_data(versions)  # never a key or URL password at rest
    run = s.get(Run, run_id)
    if run is None:
        try:
            # Savepoint: data-parallel shards may start the same run at the same moment.
            with s.begin_nested():
                run = Run(
                    id=run_id,
                    suite=suite,
                    model_id=model_id,
                    config=config,
                    versions=versions,
                    status="running",
                    n_items=0,
                    elapsed_s=0.0,
                    started_at=utcnow(),
                )
                s.add(run)
            s.flush()
            return run
        except IntegrityError:
            run = s.get(Run, run_id, populate_existing=True)
            if run is None:
                raise
    run.status, run.error, run.finished_at, run.versions = "running", None, None, versions
    s.flush()
    return run


def finish_run(s: Session, run_id: str, elapsed_s: float, n_items: int) -> None:
    """Mark a run finished now; `elapsed_s` is added to the time of earlier attempts.

    Raises:
        LookupError: no run has this id.
    """
    run = _require_run(s, run_id)
    run.status, run.finished_at, run.n_items = "finished", utcnow(), n_items
    run.elapsed_s = (run.elapsed_s or 0.0) + elapsed_s
    s.flush()


def fail_run(s: Session, run_id: str, error: str, elapsed_s: float = 0.0, *, interrupted: bool = False) -> None:
    """Mark a run failed (or `interrupted`: stopped by a signal) now with `error`; `elapsed_s` is added like
    in `finish_run`. Either way re-running the same command resumes it.

    Raises:
        LookupError: no run has this id.
    """
    run = _require_run(s, run_id)
    run.status, run.error, run.finished_at = "interrupted" if interrupted else "failed", scrub(error), utcnow()
    run.elapsed_s = (run.elapsed_s or 0.0) + elapsed_s
    s.flush()


def get_run(s: Session, run_id_or_prefix: str) -> Run | None:
    """Find a run by full id or by a unique id prefix.

    Returns:
        The run, or None if nothing matches (or the prefix is empty).

    Raises:
        ValueError: the prefix matches several runs.
    """
    if not run_id_or_prefix:
        return None
    run = s.get(Run, run_id_or_prefix)
    if run is not None:
        return run
    query = select(Run).where(Run.id.startswith(run_id_or_prefix, autoescape=True)).order_by(Run.id).limit(6)
    found = list(s.scalars(query))
    if len(found) > 1:
        shown = ", ".join(r.id[:12] for r in found[:5]) + (", ..." if len(found) > 5 else "")
        raise ValueError(f"run id prefix {run_id_or_prefix!r} is ambiguous: matches {shown}; give more characters")
    return found[0] if found else None


def stored_suites(s: Session) -> list[str]:
    """The suite names that have runs in this store."""
    return sorted(s.scalars(select(Run.suite).distinct()))


def list_runs(s: Session, suite: str | None = None, model: str | None = None, status: str | None = None) -> list[Run]:
    """Return runs newest first, optionally filtered by suite, model name and status."""
    query = select(Run)
    if suite is not None:
        query = query.where(Run.suite == suite)
    if model is not None:
        query = query.join(Run.model).where(Model.name == model)
    if status is not None:
        query = query.where(Run.status == status)
    return list(s.scalars(query.order_by(Run.started_at.desc(), Run.id)))


def _require_run(s: Session, run_id: str) -> Run:
    # Row lock (PostgreSQL; SQLite locks the file instead): shards finishing the same run at
    # once must add their elapsed_s one after the other, not overwrite each other.
    run = s.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise LookupError(f"no run with id {run_id!r}")
    return run


# --- item results -------------------------------------------------------------------------


def done_item_ids(s: Session, run_id: str) -> set[str]:
    """Return the item ids that already have a stored result in this run."""
    return set(s.scalars(select(ItemResult.item_id).where(ItemResult.run_id == run_id)))


def add_item_results(s: Session, run_id: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert item results, skipping any whose (run_id, item_id) is already stored.

    Idempotent, so a resumed or duplicated batch (even from another process) is harmless.

    Args:
        s: Session.
        run_id: The run the rows belong to.
        rows: Dicts with `item_id` and optionally subject, pred, gold, correct, score, extra.
    """
    if not rows:
        return
    values = [
        {
            "run_id": run_id,
            "item_id": str(r["item_id"]),
            "subject": r.get("subject") or "",
            "pred": r.get("pred"),
            "gold": r.get("gold"),
            "correct": r.get("correct"),
            "score": r.get("score"),
            "extra": r.get("extra") or {},
        }
        for r in rows
    ]
    dialect = s.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        ins = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = ins(ItemResult).on_conflict_do_nothing(index_elements=["run_id", "item_id"])
        s.execute(stmt, values)
    else:  # other backends: filter in Python (not race-free, but nothing else uses them)
        done = done_item_ids(s, run_id)
        fresh = {v["item_id"]: v for v in values if v["item_id"] not in done}
        if fresh:
            s.execute(insert(ItemResult), list(fresh.values()))


def item_results(s: Session, run_id: str) -> list[ItemResult]:
    """Return a run's item results in insertion order."""
    return list(s.scalars(select(ItemResult).where(ItemResult.run_id == run_id).order_by(ItemResult.id)))


# --- metrics ------------------------------------------------------------------------------


def replace_metrics(s: Session, run_id: str, metrics: Sequence[tuple[str, str, float]]) -> None:
    """Replace all metrics of a run with `metrics`, given as (name, subset, value) tuples."""
    s.execute(delete(Metric).where(Metric.run_id == run_id))
    s.add_all(Metric(run_id=run_id, name=n, subset=sub, value=float(v)) for n, sub, v in metrics)
    s.flush()


def run_metrics(s: Session, run_id: str) -> dict[tuple[str, str], float]:
    """Return a run's metrics as {(name, subset): value}."""
    rows = s.execute(select(Metric.name, Metric.subset, Metric.value).where(Metric.run_id == run_id))
    return {(name, subset): value for name, subset, value in rows}
