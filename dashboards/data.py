"""Read-only queries for the dashboard pages (through db/ repositories; no scoring here)."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd


def database(url: str | None = None) -> Any:
    from db import open_db

    return open_db(url or os.environ.get("EVALS_DB_URL"))


def runs_frame(db: Any, suite: str | None = None) -> pd.DataFrame:
    """One row per run: id, suite, model, split, shots, status, items, headline metrics."""
    from db import repo

    rows = []
    with db.session() as s:
        for r in repo.list_runs(s, suite=suite):
            metrics = repo.run_metrics(s, r.id)
            cfg = r.config or {}
            rows.append(
                {
                    "run": r.id, "suite": r.suite, "model": r.model.name, "split": cfg.get("split"),
                    "shots": cfg.get("shots"), "chat": cfg.get("chat"), "quant": cfg.get("quant"),
                    "status": r.status, "items": r.n_items,
                    "accuracy": metrics.get(("accuracy", "")), "accuracy_macro": metrics.get(("accuracy_macro", "")),
                    "ppl": metrics.get(("ppl", "")), "avg": metrics.get(("avg", "")),
                    "finished": r.finished_at,
                }
            )
    return pd.DataFrame(rows)


def run_metrics_frame(db: Any, run_id: str) -> pd.DataFrame:
    from db import repo

    with db.session() as s:
        metrics = repo.run_metrics(s, run_id)
    return pd.DataFrame([{"metric": n, "subset": sub, "value": v} for (n, sub), v in sorted(metrics.items())])
