"""Read-only queries for the dashboard pages, through `db/` repositories and `arena/` functions.

Everything returns plain values or pandas frames; nothing here scores, rates or writes. Reads use
`Database.session(write=False)`, so a page never waits on a writer holding the SQLite lock.
Rating maths is `arena.compute_ratings`; this module only shapes its result into tables.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

if TYPE_CHECKING:
    from arena import Ratings
    from arena.battles import BattleRecord
    from db import Database


def suite_headlines() -> dict[str, Any]:
    """suite -> its declared `Headline` (metric, leaderboard column, ...), from the suite registry."""
    from evals.registry import all_capabilities

    return {name: caps.headline for name, caps in all_capabilities().items() if caps.headline is not None}


def db_url() -> str | None:
    """The URL the app was started with (`EVALS_DB_URL`), None for the default SQLite file."""
    return os.environ.get("EVALS_DB_URL") or None


def database(url: str | None = None) -> Database:
    """The store at `url` (default `db_url()`), opened and migrated once per process and URL."""
    return _open(url or db_url())


@st.cache_resource(show_spinner=False)
def _open(url: str | None) -> Database:
    from db import open_db

    return open_db(url)


# --- runs and metrics ---------------------------------------------------------------------


def runs_frame(db: Database, suite: str | None = None) -> pd.DataFrame:
    """One row per run: id, suite, model, split, shots, status, items, headline metrics."""
    from db import repo

    rows = []
    with db.session(write=False) as s:
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
            )  # fmt: skip
    return pd.DataFrame(rows)


def run_metrics_frame(db: Database, run_id: str) -> pd.DataFrame:
    """All metrics of one run as rows (metric, subset, value)."""
    from db import repo

    with db.session(write=False) as s:
        metrics = repo.run_metrics(s, run_id)
    return pd.DataFrame([{"metric": n, "subset": sub, "value": v} for (n, sub), v in sorted(metrics.items())])


def finished_suites(db: Database) -> list[str]:
    """Suites with at least one finished run, sorted."""
    from db import repo

    with db.session(write=False) as s:
        return sorted({r.suite for r in repo.list_runs(s, status="finished")})


def suite_metrics(db: Database, suites: str | tuple[str, ...], latest: bool = True) -> pd.DataFrame:
    """Metrics of finished runs as a long frame.

    Args:
        db: The store.
        suites: One suite name or several.
        latest: Keep only the newest finished run per (model, quant); runs come newest first.

    Returns:
        Columns run, suite, model, quant, weight_bytes, name, subset, value.
    """
    from db import repo

    wanted = (suites,) if isinstance(suites, str) else suites
    rows, seen = [], set()
    with db.session(write=False) as s:
        for r in repo.list_runs(s, status="finished"):
            quant = (r.config or {}).get("quant") or "none"
            if r.suite not in wanted or (latest and (r.suite, r.model.name, quant) in seen):
                continue
            seen.add((r.suite, r.model.name, quant))
            info = (r.versions or {}).get("model") or r.model.params or {}
            size = info.get("weight_bytes") or (r.model.params or {}).get("weight_bytes")
            for (name, subset), value in repo.run_metrics(s, r.id).items():
                rows.append({"run": r.id, "suite": r.suite, "model": r.model.name, "quant": quant,
                             "weight_bytes": size, "name": name, "subset": subset, "value": value})  # fmt: skip
    cols = ["run", "suite", "model", "quant", "weight_bytes", "name", "subset", "value"]
    return pd.DataFrame(rows, columns=cols)


def overall(metrics: pd.DataFrame) -> pd.DataFrame:
    """Headline number per run: its suite's declared headline metric; for a suite that declares none
    (lm-eval tasks), the first declared headline metric the run reports."""
    heads = suite_headlines()
    fallback = list(dict.fromkeys(h.metric for h in heads.values()))
    own = {suite: h.metric for suite, h in heads.items()}

    def rank(row: pd.Series) -> float:
        if own.get(row["suite"]) == row["name"]:
            return 0.0
        return float(fallback.index(row["name"]) + 1) if row["name"] in fallback else np.nan

    head = metrics[metrics["subset"] == ""].copy()
    head["rank"] = head.apply(rank, axis=1) if not head.empty else pd.Series(dtype=float)
    head = head.dropna(subset=["rank"]).sort_values("rank", kind="stable").drop_duplicates(["run"])
    return head[["model", "quant", "name", "value"]].reset_index(drop=True)


def subject_gap(metrics: pd.DataFrame, model_a: str, model_b: str, name: str = "by_subject") -> pd.DataFrame:
    """Per-subject scores of two models with gap = a - b, largest |gap| first."""
    sub = metrics[(metrics["name"] == name) & (metrics["quant"] == "none")]
    wide = sub.pivot_table(index="subset", columns="model", values="value", aggfunc="first")
    out = pd.DataFrame({model_a: wide.get(model_a), model_b: wide.get(model_b)})
    out["gap"] = out[model_a] - out[model_b]
    out = out.reindex(out["gap"].abs().sort_values(ascending=False, na_position="last").index)
    return out.rename_axis("subject").reset_index()


def length_buckets(metrics: pd.DataFrame) -> pd.DataFrame:
    """LongBench `by_length` ("task/bucket") as model, task, bucket, value."""
    rows = metrics[metrics["name"] == "by_length"].copy()
    parts = rows["subset"].str.rsplit("/", n=1, expand=True)
    if rows.empty or parts.shape[1] < 2:
        return pd.DataFrame(columns=["model", "task", "bucket", "value"])
    rows["task"], rows["bucket"] = parts[0], parts[1]
    return rows[["model", "task", "bucket", "value"]].reset_index(drop=True)


def quant_table(db: Database) -> pd.DataFrame:
    """Every finished run with a perplexity: model, quant, size in GiB, ppl (newest per model+quant)."""
    m = suite_metrics(db, tuple(finished_suites(db)))
    ppl = m[(m["name"] == "ppl") & (m["subset"] == "")].drop_duplicates(["model", "quant"])
    out = ppl.assign(size_gib=pd.to_numeric(ppl["weight_bytes"], errors="coerce") / 2**30)
    return out[["model", "quant", "suite", "size_gib", "value"]].rename(columns={"value": "ppl"}).reset_index(drop=True)


def headline_table(db: Database) -> pd.DataFrame:
    """Static-suite headlines per model (unquantized runs, newest first), indexed by model: one column
    per suite that declares a leaderboard column."""
    board = {suite: h for suite, h in suite_headlines().items() if h.column}
    m = suite_metrics(db, tuple(board))
    m = m[(m["subset"] == "") & (m["quant"] == "none")]
    cols = {}
    for suite, h in board.items():
        pick = m[(m["suite"] == suite) & (m["name"] == h.metric)].drop_duplicates("model")
        scale = 100.0 if h.percent else 1.0  # fractions as %, LongBench is already 0-100
        cols[h.column] = pick.set_index("model")["value"] * scale
    return pd.DataFrame(cols, columns=[h.column for h in board.values()])


# --- models -------------------------------------------------------------------------------


def models_frame(db: Database) -> pd.DataFrame:
    """One row per model: name, base_model, backend, quantization, n_params, created, lineage (dict)."""
    from db import repo

    with db.session(write=False) as s:
        rows = [
            {"model": m.name, "base_model": m.base_model, "backend": m.backend, "quantization": m.quantization,
             "n_params": (m.params or {}).get("n_params"), "path": m.path, "created": m.created_at,
             "lineage": dict(m.lineage or {})}
            for m in repo.list_models(s)
        ]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "base_model", "backend", "quantization", "n_params", "path",
                                       "created", "lineage"])  # fmt: skip


def lineage_lines(models: pd.DataFrame) -> list[str]:
    """The base → fine-tune forest as indented lines ("└─ child"); a base not in the DB is a root too."""
    parent = {
        r.model: r.base_model
        for r in models.itertuples()
        if isinstance(r.base_model, str) and r.base_model and r.base_model != r.model
    }
    nodes = sorted(set(models["model"]) | set(parent.values()))
    children: dict[str, list[str]] = {}
    for name in nodes:
        if name in parent:
            children.setdefault(parent[name], []).append(name)
    lines: list[str] = []
    seen: set[str] = set()

    def walk(name: str, depth: int) -> None:
        if name in seen:  # a cycle in bad data must not hang the page
            return
        seen.add(name)
        lines.append(("    " * (depth - 1) + "└─ " if depth else "") + name)
        for child in children.get(name, []):
            walk(child, depth + 1)

    for name in [n for n in nodes if n not in parent] + nodes:  # roots first, then leftovers of cycles
        walk(name, 0)
    return lines


def loss_curve(lineage: dict[str, Any]) -> pd.DataFrame:  # Any: lineage is free-form JSON
    """`lineage["loss_curve"]` ([[step, loss], ...]) as a frame; empty when absent or malformed."""
    points = [p for p in lineage.get("loss_curve") or [] if isinstance(p, (list, tuple)) and len(p) >= 2]
    return pd.DataFrame([{"step": float(p[0]), "loss": float(p[1])} for p in points], columns=["step", "loss"])


# --- arena --------------------------------------------------------------------------------


def battle_records(db: Database, kind: str = "human") -> list[BattleRecord]:
    """Rated votes as FastChat clean-battle dicts (via `arena.battle_records`)."""
    from arena import battle_records as records

    return records(db, kind=kind)


def compute_ratings(records: list[BattleRecord], n_bootstrap: int = 100) -> Ratings:
    """`arena.compute_ratings` on the records; the dashboard never rates by itself."""
    from arena import Battles, RatingParams
    from arena import compute_ratings as rate

    return rate(Battles.from_records(records), RatingParams(n_bootstrap=n_bootstrap))


def leaderboard_frame(ratings: Ratings, headlines: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Rank, model, BT with CI, Elo, win rate, battles, static headlines and base model."""
    base = {m: b for m, b in zip(models["model"], models["base_model"]) if isinstance(b, str)}
    rows = []
    for i in ratings.order():
        name = ratings.models[i]
        rows.append(
            {"rank": int(ratings.rank_ub[i]) or None, "model": name, "bt": _num(ratings.bt[i]),
             "ci_low": _num(ratings.ci_low[i]), "ci_high": _num(ratings.ci_high[i]), "elo": float(ratings.elo[i]),
             "win_rate": _num(ratings.win_rate[i]), "battles": int(ratings.battles[i]),
             **{c: _num(headlines[c].get(name, np.nan)) for c in headlines.columns},
             "base_model": base.get(name)}
        )  # fmt: skip
    return pd.DataFrame(rows)


def win_rate_long(ratings: Ratings) -> pd.DataFrame:
    """Pairwise observed win rate (row model beats column model) as model_a, model_b, win_rate, battles."""
    names = ratings.models
    return pd.DataFrame(
        [{"model_a": names[i], "model_b": names[j], "win_rate": _num(ratings.pairwise_win_rate[i, j]),
          "battles": int(ratings.battle_matrix[i, j])}
         for i in range(len(names)) for j in range(len(names)) if i != j]
    )  # fmt: skip


def rating_history(db: Database, method: str = "bt", kind: str = "human") -> pd.DataFrame:
    """Stored rating snapshots: computed_at, model, rating, ci_low, ci_high, n_battles."""
    from db import arena_repo

    with db.session(write=False) as s:
        rows = [
            {"computed_at": r.computed_at, "model": r.model, "rating": r.rating, "ci_low": r.ci_low,
             "ci_high": r.ci_high, "n_battles": r.n_battles}
            for r in arena_repo.snapshot_history(s, method, kind)
        ]  # fmt: skip
    return pd.DataFrame(rows, columns=["computed_at", "model", "rating", "ci_low", "ci_high", "n_battles"])


def _num(x: float) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x
