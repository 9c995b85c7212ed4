"""Ratings over the stored battle log, and rating snapshots (the leaderboard's history).

`ratings_from_db` rates the voted battles of one kind ("human" or "judge") exactly as
`evals arena ratings --import` rates a log file; `store_snapshot` writes one computation's
`Ratings.rows()` (methods "elo" and "bt") under a single `computed_at`, so each call adds one
point to the history the leaderboard plots.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from db.models_arena import BATTLE_KINDS

if TYPE_CHECKING:
    from arena.ratings import RatingParams, RatingRow, Ratings
    from db import Database
    from db.arena_repo import SnapshotRow

SNAPSHOT_METHODS: tuple[str, ...] = ("elo", "bt")


class NoRatedVotes(ValueError):
    """The database has no rated (non-excluded) votes of the requested kind."""


def ratings_from_db(database: Database, kind: str = "human", params: RatingParams | None = None) -> tuple[Ratings, int]:
    """Rate the stored, non-excluded votes of `kind`.

    Args:
        database: The arena database.
        kind: "human" or "judge"; the two are never mixed.
        params: Rating parameters (default `RatingParams()`).

    Returns:
        (ratings, number of battles rated).

    Raises:
        ValueError: Unknown `kind`.
        NoRatedVotes: Nothing to rate yet.
    """
    from arena.battle_log import Battles
    from arena.battles import battle_records
    from arena.ratings import compute_ratings

    _check_kind(kind)
    records = battle_records(database, kind=kind, include_excluded=False)
    if not records:
        raise NoRatedVotes(f"no rated votes yet ({kind} battles) in {database.url}")
    battles = Battles.from_records(records)
    return compute_ratings(battles, params), len(battles)


def store_snapshot(
    database: Database, ratings: Ratings, kind: str = "human", *, computed_at: datetime | None = None
) -> datetime:
    """Store `ratings.rows()` as one snapshot per method ("elo", "bt"), in one transaction.

    Models left out of the BT fit (unbounded rating) have no BT row; their Elo row is stored.

    Returns:
        The `computed_at` shared by every stored row.
    """
    from db import arena_repo
    from db.models import utcnow

    _check_kind(kind)
    at = computed_at or utcnow()
    rows = ratings.rows()
    with database.session() as s:
        for method in SNAPSHOT_METHODS:
            picked = [_snapshot_row(r, r.rating) for r in rows if r.method == method and r.rating is not None]
            if picked:
                arena_repo.add_rating_snapshot(s, method, kind, picked, computed_at=at)
    return at


def _snapshot_row(row: RatingRow, rating: float) -> SnapshotRow:
    """The stored form of a rated row (`rating` is its rating, known not to be None)."""
    from db.arena_repo import SnapshotRow

    return SnapshotRow(model=row.model, rating=rating, ci_low=row.ci_low, ci_high=row.ci_high, n_battles=row.n_battles)


def _check_kind(kind: str) -> None:
    if kind not in BATTLE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(BATTLE_KINDS)}, got {kind!r}")
