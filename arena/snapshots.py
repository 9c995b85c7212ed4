"""Ratings over the stored battle log, and rating snapshots (the leaderboard's history).

`ratings_from_db` rates the voted battles of one kind ("human" or "judge") exactly as
`evals arena ratings --import` rates a log file; `store_snapshot` writes one computation's
`Ratings.rows()` (methods "elo" and "bt") under a single `computed_at`, so each call adds one
point to the history the leaderboard plots.

`board_from_db` is the same for the LMArena-style board (`arena.ratings_board`): it refreshes
the vote-hygiene flags, leaves flagged votes out (and counts them by flag), takes style counts
from the stored answers and categories from the prompts. `store_board` snapshots it;
`refresh_board` does both only when votes arrived since the newest snapshot, which is what a
background refresher calls, so the leaderboard page only ever reads snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from db.models_arena import BATTLE_KINDS

if TYPE_CHECKING:
    from arena.ratings import RatingParams, RatingRow, Ratings
    from arena.ratings_board import Board, RatingOptions
    from db import Database
    from db.arena_repo import SnapshotRow

DEFAULT_EXCLUDE: frozenset[str] = frozenset({"duplicate", "suggested", "suspect"})
"""Vote flags kept out of ratings unless asked otherwise (see `arena.vote_hygiene`)."""

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

    _check_kind(kind, RATED_KINDS)
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


RATED_KINDS: tuple[str, ...] = (*BATTLE_KINDS, "composite")
"""Kinds a board rates: each battle kind alone, or "composite" (human and judge battles in one fit)."""


def _check_kind(kind: str, kinds: tuple[str, ...] = BATTLE_KINDS) -> None:
    if kind not in kinds:
        raise ValueError(f"kind must be one of {', '.join(kinds)}, got {kind!r}")


@dataclass(frozen=True, slots=True)
class StoredBoard:
    """`board_from_db`'s result: the board, votes rated, and votes left out per flag."""

    board: Board
    n_rated: int
    excluded: dict[str, int]


def board_from_db(
    database: Database,
    kind: str = "human",
    options: RatingOptions | None = None,
    *,
    exclude: frozenset[str] = DEFAULT_EXCLUDE,
    refresh_hygiene: bool = True,
    voter: str | None = None,
) -> StoredBoard:
    """Rate the stored, non-excluded, unflagged votes of `kind` (of one `voter`, e.g. a judge) with
    `arena.ratings_board`; strong judge verdicts count 3 times.

    Raises:
        NoRatedVotes: No votes of `kind`, or every one of them is flagged.
        arena.ratings_board.RatingInputError: The votes cannot be rated as asked.
    """
    import numpy as np

    from arena.battle_log import Battles
    from arena.judge_ratings import repeat_strong
    from arena.ratings_board import RatingOptions, rate_board
    from arena.ratings_style import text_counts
    from arena.vote_hygiene import excluded_counts, parse_flags, refresh_flags
    from db import arena_repo

    _check_kind(kind, RATED_KINDS)
    o = options or RatingOptions()
    kinds = ("human", "judge") if kind == "composite" else (kind,)
    if refresh_hygiene:
        for k in kinds:
            refresh_flags(database, k)
    with database.session(write=False) as s:
        rows = [r for k in kinds for r in arena_repo.rating_rows(s, k) if voter is None or r["voter_id"] == voter]
        if len(kinds) > 1:
            rows.sort(key=lambda r: _epoch(r["voted_at"]))
        texts: dict[int, str] = {}
        if o.style_control:
            ids = {int(r["answer_a_id"]) for r in rows} | {int(r["answer_b_id"]) for r in rows}
            texts = arena_repo.answer_texts(s, ids)
    if not rows:
        raise NoRatedVotes(f"no rated votes yet ({kind} battles) in {database.url}")
    flags = [parse_flags(r["flags"]) for r in rows]
    kept = [r for r, f in zip(rows, flags) if not f & exclude]
    excluded = excluded_counts(flags, set(exclude))
    if not kept:
        why = ", ".join(f"{n} {flag}" for flag, n in excluded.items())
        raise NoRatedVotes(f"all {len(rows)} {kind} votes are flagged ({why}); nothing left to rate")
    records = [
        {"model_a": r["model_a"], "model_b": r["model_b"], "winner": r["outcome"], "tstamp": _epoch(r["voted_at"]),
         "category": r["category"] or "", "flags": sorted(parse_flags(r["flags"]))}
        for r in kept
    ]  # fmt: skip
    battles = Battles.from_records(records, category=True, flags=True)
    if o.style_control:
        per_answer = {i: text_counts(t) for i, t in texts.items()}
        zero = (0, 0, 0, 0)
        style = np.array(
            [per_answer.get(int(r["answer_a_id"]), zero) + per_answer.get(int(r["answer_b_id"]), zero) for r in kept],
            dtype=np.float64,
        )
        battles = Battles(battles.models, battles.model_a, battles.model_b, battles.outcome, battles.tstamp, style,
                          battles.category, battles.flags)  # fmt: skip
    # Strong judge verdicts count 3 times (Arena-Hard-Auto); human votes carry no such flag.
    return StoredBoard(rate_board(repeat_strong(battles), o), len(kept), excluded)


def board_method(options: RatingOptions) -> str:
    """Snapshot method name of a board: "bt", plus "+style", "+reweight", "@category"."""
    name = "bt" + ("+style" if options.style_control else "") + ("+reweight" if options.reweight else "")
    return name + (f"@{options.category}" if options.category else "")


def store_board(
    database: Database, board: Board, kind: str = "human", *, computed_at: datetime | None = None
) -> datetime:
    """Store the board's ratings and CIs (method `board_method`) and online Elo ("elo") as one snapshot."""
    from db import arena_repo
    from db.models import utcnow

    _check_kind(kind, RATED_KINDS)
    at = computed_at or utcnow()
    rated: list[SnapshotRow] = [
        {"model": board.models[i], "rating": float(board.rating[i]), "ci_low": float(board.ci_low[i]),
         "ci_high": float(board.ci_high[i]), "n_battles": int(board.n_battles[i])}
        for i in range(len(board.models)) if board.rating[i] == board.rating[i]
    ]  # fmt: skip
    elo: list[SnapshotRow] = [
        {"model": name, "rating": float(board.base.elo[i]), "n_battles": int(board.n_battles[i])}
        for i, name in enumerate(board.models)
    ]
    with database.session() as s:
        if rated:
            arena_repo.add_rating_snapshot(s, board_method(board.options), kind, rated, computed_at=at)
        if board.options.category is None and not board.options.style_control and not board.options.reweight:
            arena_repo.add_rating_snapshot(s, "elo", kind, elo, computed_at=at)
    return at


def refresh_board(database: Database, kind: str = "human", options: RatingOptions | None = None) -> datetime | None:
    """Recompute and store the board when votes arrived after its newest snapshot.

    Returns:
        The new snapshot's time, or None when it was current (or there is nothing to rate).
    """
    from arena.ratings_board import RatingOptions
    from db import arena_repo

    o = options or RatingOptions()
    with database.session(write=False) as s:
        newest_vote = arena_repo.newest_vote_time(s, kind)
        snap = arena_repo.latest_rating_snapshots(s, board_method(o), kind)
    if newest_vote is None:
        return None
    if snap and _epoch(snap[0].computed_at) >= _epoch(newest_vote):
        return None
    from db.models import utcnow

    started = utcnow()  # a vote that lands during the fit is newer than this, so the next call sees it
    try:
        stored = board_from_db(database, kind, o)
    except NoRatedVotes:
        return None
    return store_board(database, stored.board, kind, computed_at=started)


def _epoch(t: datetime) -> float:
    from datetime import UTC

    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
