"""Votes: the only write path of the vote page.

`record_vote` checks, in this order, and refuses with a `VoteRefused` whose `code` is:

    bad_outcome      outcome not in the enum (UI aliases "a", "b", "tie", "bothbad" are accepted)
    bad_voter        empty voter id
    unknown_battle   no such battle
    not_your_battle  the battle was served to another session
    already_voted    the battle has its vote (pre-checked, and enforced by UNIQUE(votes.battle_id))
    rate_limited     more than `max_votes` votes in `window_s` seconds by this voter, or 4x that from
                     the voter's client address (`arena.vote_address`)
    daily_cap        more than `daily_cap` votes in 24 hours by this voter, or 4x that from the address
    not_stored       the database failed (dropped, read-only, file gone): nothing was written, retry

Everything happens in one transaction. Concurrency: on PostgreSQL the battle row is locked
(`SELECT ... FOR UPDATE`) and the voter's votes, then the address's, are serialized by advisory
locks, so neither a double submit nor a burst from one voter or one address can slip between
check and insert; on SQLite the write session holds the database write lock from BEGIN. Should
two inserts still race, the UNIQUE constraint rejects the second and it becomes `already_voted`.

A vote on a battle where either answer names a model or vendor (`arena.leaks`) is stored with
`excluded=True, excluded_reason="identity_leak"` and the battle gets the same reason: counted,
kept for admins, never rated.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from arena.errors import VoteRefused
from arena.leaks import ENV_FILE, ENV_NAMES, LeakChecker, load_checker
from arena.vote_address import check_address, valid_key
from db import DatabaseUnavailable, arena_repo, live_repo
from db.models_arena import VOTE_OUTCOMES

if TYPE_CHECKING:
    from db import Database

ENV_RATE = "EVALS_VOTE_RATE"  # "N/SECONDS", e.g. "10/60"; "off" disables
VOTER_ID_MAX = 128  # the votes.voter_id column
ENV_DAILY_CAP = "EVALS_VOTE_DAILY_CAP"  # votes per voter per 24 h; unset or "off" disables
OUTCOMES: tuple[str, ...] = VOTE_OUTCOMES
OUTCOME_ALIASES: dict[str, str] = {
    **{o: o for o in VOTE_OUTCOMES},
    "a": "model_a",
    "left": "model_a",
    "leftvote": "model_a",
    "b": "model_b",
    "right": "model_b",
    "rightvote": "model_b",
    "tievote": "tie",
    "bothbad": "tie (bothbad)",
    "both_bad": "tie (bothbad)",
    "bothbad_vote": "tie (bothbad)",
}
REFUSAL_CODES: tuple[str, ...] = (
    "bad_outcome", "bad_voter", "unknown_battle", "not_your_battle", "already_voted", "rate_limited", "daily_cap",
    "not_stored",
)  # fmt: skip
IDENTITY_LEAK = "identity_leak"
_DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class VoteLimits:
    """Per-voter limits; None disables a limit.

    Attributes:
        max_votes: Votes allowed per `window_s` seconds (a flood brake; default 10 per minute).
        window_s: Length of the rate window in seconds.
        daily_cap: Votes allowed per rolling 24 hours (off by default).
    """

    max_votes: int | None = 10
    window_s: float = 60.0
    daily_cap: int | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> VoteLimits:
        """Limits from `EVALS_VOTE_RATE` ("10/60", "off") and `EVALS_VOTE_DAILY_CAP` ("200", "off").

        Raises:
            ValueError: A variable is malformed (message names it).
        """
        env = os.environ if environ is None else environ
        limits = cls()
        rate = env.get(ENV_RATE, "").strip().lower()
        if rate in ("off", "none", "0"):
            limits = cls(max_votes=None)
        elif rate:
            n, sep, window = rate.partition("/")
            try:
                limits = cls(max_votes=int(n), window_s=float(window) if sep else 60.0)
                if limits.max_votes is not None and limits.max_votes < 1 or limits.window_s <= 0:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{ENV_RATE}={rate!r}: expected VOTES/SECONDS such as 10/60, or off") from None
        cap = env.get(ENV_DAILY_CAP, "").strip().lower()
        if cap and cap not in ("off", "none", "0"):
            try:
                daily = int(cap)
                if daily < 1:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{ENV_DAILY_CAP}={cap!r}: expected a positive integer, or off") from None
            limits = cls(max_votes=limits.max_votes, window_s=limits.window_s, daily_cap=daily)
        return limits


@dataclass(frozen=True, slots=True)
class VoteResult:
    """A stored vote, with the model names now that they may be revealed.

    Attributes:
        battle_id: The battle voted on.
        outcome: The stored outcome (FastChat spelling).
        excluded: True when the vote is kept but not rated.
        excluded_reason: Why ("identity_leak"), else None.
        leaked_names: Model/vendor names found in the answers (empty unless excluded for a leak).
        model_a: Name of the model shown as A.
        model_b: Name of the model shown as B.
    """

    battle_id: str
    outcome: str
    excluded: bool
    excluded_reason: str | None
    leaked_names: tuple[str, ...]
    model_a: str
    model_b: str


def normalize_outcome(value: str) -> str:
    """Map an outcome or UI alias ("a", "b", "tie", "bothbad", ...) onto FastChat's spelling.

    Raises:
        VoteRefused: code "bad_outcome".
    """
    key = str(value).strip().lower() if value is not None else ""
    if key in OUTCOME_ALIASES:
        return OUTCOME_ALIASES[key]
    raise VoteRefused(
        "bad_outcome",
        f"无效的投票选项“{value}”，请选择：A 更好、B 更好、平局或都不好。",
        f"Invalid vote {value!r}; choose A is better, B is better, tie, or both bad.",
    )


def _told_to_retry(fn: Callable[..., VoteResult]) -> Callable[..., VoteResult]:
    """A database failure while voting becomes `not_stored` (the transaction rolled back: nothing half-written)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> VoteResult:
        try:
            return fn(*args, **kwargs)
        except (DBAPIError, DatabaseUnavailable):
            raise VoteRefused(
                "not_stored", "投票没有保存成功（数据库暂时不可用），请稍后再投一次。",
                "The vote could not be stored (database unavailable); please vote again in a moment.",
            ) from None  # fmt: skip

    return wrapper


@_told_to_retry
def record_vote(
    database: Database,
    battle_id: str,
    session_id: str,
    outcome: str,
    voter_id: str,
    *,
    now: datetime | None = None,
    limits: VoteLimits | None = None,
    checker: LeakChecker | None = None,
    address_key: str | None = None,
) -> VoteResult:
    """Store the vote on a battle, or refuse it with a reason the voter can read.

    Args:
        database: The arena database.
        battle_id: Id from `serve_battle`.
        session_id: The browser session asking; must be the one the battle was served to.
        outcome: "model_a" | "model_b" | "tie" | "tie (bothbad)" or a UI alias.
        voter_id: Who votes (the rate limits count per voter; may equal the session id).
        now: Time of the vote (default: now); tests pass a clock.
        limits: Per-voter limits; None means `VoteLimits.from_env()`.
        checker: Identity-leak checker; None means the configured default (`arena.leaks.load_checker`).
        address_key: The keyed hash of the voter's client address when known (`arena.vote_address.address_key`,
            never the address): the address gets its own budget, counted in the database, and the vote stores it.

    Returns:
        The stored vote, including the model names (they may be shown once the vote is in).

    Raises:
        VoteRefused: see the module docstring for the codes; nothing is stored then.
        ValueError: `address_key` is not a key (e.g. a raw address).
    """
    address_key = valid_key(address_key)
    clean_outcome = normalize_outcome(outcome)
    if not voter_id or not str(voter_id).strip():
        raise VoteRefused("bad_voter", "缺少投票人标识，请刷新页面后重试。", "Missing voter id; reload the page.")
    if len(voter_id) > VOTER_ID_MAX or "\x00" in voter_id:  # refused alike on SQLite and PostgreSQL
        raise VoteRefused("bad_voter", "投票人标识无效，请刷新页面后重试。", "Invalid voter id; reload the page.")
    limits = VoteLimits.from_env() if limits is None else limits
    checker = _default_checker() if checker is None else checker
    at = _utc(now)
    with database.session() as s:
        battle = arena_repo.get_battle(s, battle_id, for_update=True)
        if battle is None:
            raise VoteRefused(
                "unknown_battle", "找不到这场对战，请刷新页面换一场。", "Unknown battle; reload the page for a new one."
            )
        if battle.session_id != session_id:
            raise VoteRefused(
                "not_your_battle",
                "这场对战不是发给当前会话的，不能投票。",
                "This battle was served to another session; you cannot vote on it.",
            )
        _check_not_voted(s, battle_id)
        if limits.max_votes is not None or limits.daily_cap is not None:
            arena_repo.lock_voter(s, voter_id)
            _check_limits(s, voter_id, at, limits)
            check_address(s, address_key, at, limits)
        answer_a, answer_b = arena_repo.battle_answers(s, battle)
        leaked = tuple(checker.leaks(answer_a, answer_b))
        reason = IDENTITY_LEAK if leaked else None
        try:
            # Savepoint: a duplicate insert fails alone and leaves the transaction usable.
            with s.begin_nested():
                arena_repo.add_vote(
                    s, battle_id=battle_id, outcome=clean_outcome, voter_id=voter_id, created_at=at,
                    excluded=bool(leaked), excluded_reason=reason, address_key=address_key,
                )  # fmt: skip
        except IntegrityError:
            raise _already_voted() from None
        if leaked and battle.excluded_reason is None:
            battle.excluded_reason = reason
        names = arena_repo.model_names(s, (battle.model_a_id, battle.model_b_id))
        return VoteResult(
            battle_id=battle_id,
            outcome=clean_outcome,
            excluded=bool(leaked),
            excluded_reason=reason,
            leaked_names=leaked,
            model_a=names[battle.model_a_id],
            model_b=names[battle.model_b_id],
        )


@dataclass(frozen=True, slots=True)
class VoteStats:
    """Counts for the admin view.

    Attributes:
        battles: Battles served.
        votes: Votes stored (rated and excluded).
        rated: Votes that count in ratings.
        excluded: {reason: votes kept but not rated}.
    """

    battles: int
    votes: int
    rated: int
    excluded: dict[str, int]


def vote_stats(database: Database, kind: str | None = None) -> VoteStats:
    """Served battles, stored votes, rated votes and excluded votes by reason."""
    with database.session(write=False) as s:
        totals = arena_repo.vote_totals(s)
        excluded = arena_repo.excluded_vote_counts(s, kind)
    return VoteStats(totals["battles"], totals["votes"], totals["rated"], excluded)


def _check_not_voted(s: Session, battle_id: str) -> None:
    # Friendly early answer for the common double click; the UNIQUE constraint is the real guard.
    if arena_repo.get_vote(s, battle_id) is not None:
        raise _already_voted()


def _already_voted() -> VoteRefused:
    return VoteRefused(
        "already_voted",
        "这场对战已经投过票了，每场对战只能投一次。",
        "This battle already has a vote; each battle takes one vote.",
    )


def _check_limits(s: Session, voter_id: str, at: datetime, limits: VoteLimits) -> None:
    # Bank and live votes (arena.live) share one budget per voter.
    if limits.max_votes is not None:
        window = timedelta(seconds=limits.window_s)
        recent = live_repo.recent_vote_times_all(s, voter_id, at - window, limits.max_votes)
        if len(recent) >= limits.max_votes:
            # The oldest of the last `max_votes` votes must leave the window before the next one fits.
            wait = max(1.0, (_utc(recent[-1]) + window - at).total_seconds())
            raise VoteRefused(
                "rate_limited",
                f"投票太频繁了：每 {limits.window_s:g} 秒最多 {limits.max_votes} 票，请 {wait:.0f} 秒后再试。",
                f"Too many votes: at most {limits.max_votes} per {limits.window_s:g} s; try again in {wait:.0f} s.",
                retry_after_s=wait,
            )
    if limits.daily_cap is not None and live_repo.count_votes_since_all(s, voter_id, at - _DAY) >= limits.daily_cap:
        raise VoteRefused(
            "daily_cap",
            f"已达到 24 小时内的投票上限（{limits.daily_cap} 票），感谢参与，请明天再来。",
            f"Daily limit reached ({limits.daily_cap} votes per 24 hours); thank you, come back tomorrow.",
        )


def _utc(t: datetime | None) -> datetime:
    # SQLite stores naive datetimes; everything is UTC, so naive values are read as UTC.
    if t is None:
        return datetime.now(UTC)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@lru_cache(maxsize=4)
def _checker_for(path: str | None, names: str) -> LeakChecker:
    return load_checker(path, names)


def _default_checker() -> LeakChecker:
    # Keyed on the env values, so changing the config takes effect without a restart.
    return _checker_for(os.environ.get(ENV_FILE) or None, os.environ.get(ENV_NAMES, ""))
