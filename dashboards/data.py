"""Read-only queries for the dashboard pages, through `db/` repositories and `arena/` functions.

Everything returns plain values or pandas frames; nothing here scores, rates or writes. Reads use
`Database.session(write=False)`, so a page never waits on a writer holding the SQLite lock.
Ratings are never fitted here: the leaderboard reads the newest stored snapshot, and a vote since
then starts `arena.snapshots.refresh_board` in a background thread (`leaderboard`).
"""

from __future__ import annotations

import logging
import os
import threading
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
    """One row per run: id, suite, model, headline (text, e.g. "acc 47.0%"), split, shots, status, items,
    headline metrics."""
    from db import repo

    heads = suite_headlines()
    rows = []
    with db.session(write=False) as s:
        for r in repo.list_runs(s, suite=suite):
            metrics = repo.run_metrics(s, r.id)
            cfg = r.config or {}
            head = heads.get(r.suite)
            value = metrics.get((head.metric, "")) if head is not None else None
            rows.append(
                {
                    "run": r.id, "suite": r.suite, "model": r.model.name,  # headline: as `evals results` prints it
                    "headline": head.format(value) if head is not None and value is not None else None,
                    "split": cfg.get("split"),
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


def percent_suite(suite: str) -> bool:
    """Whether `suite` reports 0-1 fractions that people read as % (C-Eval, CMMLU; not PPL or LongBench)."""
    head = suite_headlines().get(suite)
    return bool(head is not None and head.percent)


def as_percent(metrics: pd.DataFrame) -> pd.DataFrame:
    """The fractions of percent suites (accuracies overall, per category, per subject) times 100, as the CLI
    prints them; counts ("n_items") and other suites' values stay as stored."""
    out = metrics.copy()
    scale = out["suite"].map(percent_suite).astype(bool) & ~out["name"].astype(str).str.startswith("n_")
    out.loc[scale, "value"] = out.loc[scale, "value"] * 100
    return out


def perf_levels(db: Database) -> pd.DataFrame:
    """The closed-loop levels of each model's newest finished perf run, long: one row per (model, latency,
    percentile, concurrency) with its value in ms. Columns run, model, latency, stat, concurrency, ms."""
    metrics = suite_metrics(db, "perf")
    rows = []
    for r in metrics.itertuples():
        parts = str(r.name).split("_")  # "ttft_p99_ms"
        level = str(r.subset)
        if len(parts) != 3 or parts[2] != "ms" or parts[1] not in ("p50", "p99"):
            continue  # counts, throughput, means
        if not (level.startswith("c") and level[1:].isdigit()):
            continue  # an open-loop level ("r2") has no fixed concurrency
        rows.append({"run": r.run, "model": r.model, "latency": parts[0], "stat": parts[1],
                     "concurrency": int(level[1:]), "ms": r.value})  # fmt: skip
    return pd.DataFrame(rows, columns=["run", "model", "latency", "stat", "concurrency", "ms"])


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


def subject_names(suite: str) -> dict[str, str]:
    """handle -> Chinese subject name for C-Eval and CMMLU (the names their papers and tables use); else empty."""
    if suite == "ceval":
        from evals.mc.ceval_subjects import SUBJECTS as CEVAL

        return {handle: zh for handle, (zh, _) in CEVAL.items()}
    if suite == "cmmlu":
        from evals.mc.cmmlu_subjects import SUBJECTS as CMMLU

        return {handle: zh for handle, (zh, _) in CMMLU.items()}
    return {}


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
    from arena.battles import battle_records as records

    return records(db, kind=kind)


def rated_vote_count(db: Any, kind: str = "human") -> int:
    """Non-excluded votes of `kind` (flagged ones included): one COUNT, no rows."""
    from db import arena_repo

    with db.session(write=False) as s:
        return sum(n for *_, n in arena_repo.vote_counts(s, kind))


class BoardSnapshot:
    """The leaderboard as stored by `arena.snapshots.refresh_board`, shaped like `arena.Ratings`
    for the parts the page shows (no fit happens here: ratings come from the newest snapshot,
    win rates from one GROUP BY over the unflagged votes)."""

    def __init__(self, db: Any, kind: str, method: str = "bt", category: str | None = None) -> None:
        from db import arena_repo

        with db.session(write=False) as s:
            bt = {r.model: r for r in arena_repo.latest_rating_snapshots(s, method, kind)}
            elo = {r.model: r for r in arena_repo.latest_rating_snapshots(s, "elo", kind)}
            counts = arena_repo.vote_counts(s, kind, unflagged=True, category=category)
            names = arena_repo.model_names(s, {a for a, *_ in counts} | {b for _, b, *_ in counts})
            self.flagged = arena_repo.flag_counts(s, kind)
        self.computed_at = next(iter(bt.values())).computed_at if bt else None
        self.models = tuple(sorted(set(bt) | set(elo) | set(names.values())))
        m = len(self.models)
        index = {name: i for i, name in enumerate(self.models)}
        wins, ties = np.zeros((m, m)), np.zeros((m, m))
        for a, b, outcome, n in counts:
            i, j = index[names[a]], index[names[b]]
            if outcome == "model_a":
                wins[i, j] += n
            elif outcome == "model_b":
                wins[j, i] += n
            else:
                ties[i, j] += n
                ties[j, i] += n
        self.bt = np.array([bt[x].rating if x in bt else np.nan for x in self.models])
        self.ci_low = np.array([_nan(bt[x].ci_low) if x in bt else np.nan for x in self.models])
        self.ci_high = np.array([_nan(bt[x].ci_high) if x in bt else np.nan for x in self.models])
        self.elo = np.array([elo[x].rating if x in elo else np.nan for x in self.models])
        self.battle_matrix = (wins + wins.T + ties).astype(np.int64)
        self.battles = self.battle_matrix.sum(axis=1)
        won, lost = wins.sum(axis=1), wins.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.win_rate = won / (won + lost)
            self.pairwise_win_rate = np.where(wins + wins.T > 0, wins / (wins + wins.T), np.nan)
        has = ~np.isnan(self.ci_low)
        lo, hi = np.where(has, self.ci_low, self.bt), np.where(has, self.ci_high, self.bt)
        rated = ~np.isnan(self.bt)
        self.rank_ub = np.where(rated, 1 + (lo[None, :] > hi[:, None]).sum(axis=1), 0)
        self.warnings = tuple(
            f"{x}: no BT rating yet (it won or lost all its battles, or joined after the last refresh)"
            for x in self.models
            if x not in bt and self.battles[index[x]] > 0
        )

    def order(self) -> np.ndarray:
        key = np.nan_to_num(self.bt, nan=-np.inf)
        return np.lexsort((-np.nan_to_num(self.elo, nan=-np.inf), -key))


def _nan(x: float | None) -> float:
    return np.nan if x is None else float(x)


_REFRESHING: dict[tuple[str | None, str, str], float] = {}
_REFRESH_LOCK = threading.Lock()
REFRESH_EVERY_S = 10.0
"""At most one background refresh per (store, kind) starts in this many seconds."""


def leaderboard(
    url: str | None, kind: str = "human", style: bool = False, category: str | None = None
) -> BoardSnapshot:
    """The stored board; a vote since the snapshot starts a background refresh (never a fit here).

    Only a store that has never had this board (kind, style control, category) computes its
    first one in the page, once.
    """
    from arena.ratings_board import RatingOptions
    from arena.snapshots import board_method, refresh_board
    from db import arena_repo

    options = RatingOptions(style_control=style, category=category)
    method = board_method(options)
    db = database(url)
    with db.session(write=False) as s:
        newest_vote = arena_repo.newest_vote_time(s, kind)
        has_board = bool(arena_repo.latest_rating_snapshots(s, method, kind))
    if newest_vote is not None and not has_board:
        try:
            refresh_board(db, kind, options)
        except ValueError as exc:  # e.g. a category whose models never met: said on the page
            logging.getLogger(__name__).warning("leaderboard %s: %s", method, exc)
    elif newest_vote is not None:
        _refresh_in_background(url, kind, options)
    return BoardSnapshot(db, kind, method, category)


def voted_categories(db: Any, kind: str = "human") -> dict[str, int]:
    """{category: rated votes}, most votes first."""
    from db import arena_repo

    with db.session(write=False) as s:
        counts = arena_repo.voted_categories(s, kind)
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _refresh_in_background(url: str | None, kind: str, options: Any = None) -> None:
    import time

    from arena.snapshots import board_method

    key = (url, kind, board_method(options) if options is not None else "bt")
    with _REFRESH_LOCK:
        if time.monotonic() - _REFRESHING.get(key, -1e9) < REFRESH_EVERY_S:
            return
        _REFRESHING[key] = time.monotonic()

    def work() -> None:
        from arena.snapshots import refresh_board

        try:
            refresh_board(database(url), kind, options)  # a no-op when the snapshot is current
        except Exception as exc:  # a failed refresh leaves the last board up; the next page load retries
            logging.getLogger(__name__).warning("leaderboard refresh failed: %s", exc)

    threading.Thread(target=work, name=f"board-refresh-{kind}", daemon=True).start()


def leaderboard_frame(ratings: Any, headlines: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Rank, model, BT with CI, Elo, win rate, battles, static headlines and base model (from a `BoardSnapshot`)."""
    base = {m: b for m, b in zip(models["model"], models["base_model"]) if isinstance(b, str)}
    rows = []
    for i in ratings.order():
        name = ratings.models[i]
        rows.append(
            {"rank": int(ratings.rank_ub[i]) or None, "model": name, "bt": _num(ratings.bt[i]),
             "ci_low": _num(ratings.ci_low[i]), "ci_high": _num(ratings.ci_high[i]), "elo": _num(ratings.elo[i]),
             "win_rate": _num(ratings.win_rate[i]), "battles": int(ratings.battles[i]),
             **{c: _num(headlines[c].get(name, np.nan)) for c in headlines.columns},
             "base_model": base.get(name)}
        )  # fmt: skip
    return pd.DataFrame(rows)


def win_rate_long(ratings: Ratings | BoardSnapshot) -> pd.DataFrame:
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


# --- leaderboard page ------------------------------------------------------------------------


def static_suites() -> dict[str, tuple[str, str, bool]]:
    """suite -> (headline metric, leaderboard column, is a 0-1 fraction) for every suite that declares a
    leaderboard column (from the registry); fractions become % with a 95 % binomial CI."""
    return {suite: (h.metric, h.column, h.percent) for suite, h in suite_headlines().items() if h.column}


def static_columns(db: Any) -> tuple[pd.DataFrame, dict[str, tuple[str, str | None, int | None]]]:
    """Static-suite scores per model, one column per (suite, split, shots), newest unquantized run.

    Returns:
        (frame indexed by model with value columns and matching "<col> ±" half-width columns (95 %
        normal-approximation CI of an accuracy over the run's items; None for LongBench/PPL),
        {column: (suite display name, split, shots)} for the page's labels).
    """
    from db import repo

    cells: dict[tuple[str, str], tuple[float, float | None]] = {}
    labels: dict[str, tuple[str, str | None, int | None]] = {}
    seen: set[tuple[str, str]] = set()
    suites = static_suites()
    with db.session(write=False) as s:
        for r in repo.list_runs(s, status="finished"):  # newest first
            cfg = r.config or {}
            if r.suite not in suites or (cfg.get("quant") or "none") != "none":
                continue
            metric, name, fraction = suites[r.suite]
            value = repo.run_metrics(s, r.id).get((metric, ""))
            if value is None:
                continue
            split, shots = cfg.get("split"), cfg.get("shots")
            parts = [str(split)] if split else []
            if shots is not None:
                parts.append(f"{shots}-shot")
            col = f"{name} {' '.join(parts)}".strip()
            if (col, r.model.name) in seen:
                continue
            seen.add((col, r.model.name))
            labels[col] = (name, str(split) if split else None, None if shots is None else int(shots))
            if fraction:
                n = max(int(r.n_items or 0), 1)
                half = 1.96 * float(np.sqrt(value * (1 - value) / n)) * 100
                cells[(col, r.model.name)] = (value * 100, half)
            else:
                cells[(col, r.model.name)] = (float(value), None)
    models = sorted({m for _, m in cells})
    frame = pd.DataFrame(index=pd.Index(models, name="model"))
    for col in sorted(labels):
        frame[col] = [cells.get((col, m), (np.nan, None))[0] for m in models]
        frame[f"{col} ±"] = [cells.get((col, m), (np.nan, None))[1] for m in models]
    return frame, labels


def board_table(ratings: Any, method: str, static: pd.DataFrame, min_votes: int) -> pd.DataFrame:
    """The leaderboard rows, best first: rank, model, rating, CI, votes, provisional, win rate %, static columns.

    `method` "bt" ranks by the BT snapshot (rank = 1 + models whose interval lies entirely above),
    "elo" by online Elo (no interval, rank = position).
    """
    if method == "elo":
        order = np.lexsort((ratings.models, -np.nan_to_num(ratings.elo, nan=-np.inf)))
    else:
        order = ratings.order()
    rows = []
    for pos, i in enumerate(order, start=1):
        name = ratings.models[i]
        bt = _num(ratings.bt[i])
        rating = _num(ratings.elo[i]) if method == "elo" else bt
        lo, hi = (None, None) if method == "elo" else (_num(ratings.ci_low[i]), _num(ratings.ci_high[i]))
        rank = pos if method == "elo" else (int(ratings.rank_ub[i]) or None)
        row = {
            "rank": rank, "model": name, "rating": rating,
            "ci": "—" if rating is None or lo is None or hi is None else f"+{hi - rating:.0f} / −{rating - lo:.0f}",
            "ci_low": lo, "ci_high": hi,
            "votes": int(ratings.battles[i]), "provisional": bool(ratings.battles[i] < min_votes),
            "win_rate": None if _num(ratings.win_rate[i]) is None else 100 * float(ratings.win_rate[i]),
        }  # fmt: skip
        for col in static.columns:
            value = static[col].get(name) if name in static.index else None
            row[col] = None if value is None or (isinstance(value, float) and np.isnan(value)) else value
        rows.append(row)
    return pd.DataFrame(rows)


def rated_votes_json(db: Any, kind: str = "human") -> bytes:
    """Every vote the board rates (unflagged, not excluded) as FastChat clean-battle JSON, with conv_metadata."""
    import json

    from arena.battle_export import with_style_metadata
    from arena.battles import battle_records as records

    rated = [r for r in with_style_metadata(db, records(db, kind=kind)) if not r.get("flags")]
    return json.dumps(rated, ensure_ascii=False, indent=1).encode("utf-8")
