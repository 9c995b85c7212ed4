"""Arena repositories: plain functions over a `Session`. Storage only — rules live in `arena/`.

Like `db.repo`, every function works inside the caller's transaction and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from sqlalchemy import and_, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from db.models import Base, Model, utcnow
from db.models_arena import ArenaAnswer, ArenaPrompt, Battle, RatingSnapshot, Vote

# --- rows crossing the seam to arena/ -----------------------------------------------------


class PromptRow(TypedDict):
    """A new bank question, as `add_prompts` stores it."""

    text: str
    norm_hash: str
    category: str
    lang: str
    source: str
    created_at: NotRequired[datetime]


class AnswerRow(TypedDict):
    """A generated answer, as `add_answers` stores it."""

    prompt_id: int
    model_id: int
    text: str
    gen_params: dict[str, Any]  # JSON: sampling parameters + chat mode and system prompt
    params_hash: str
    created_at: NotRequired[datetime]


class VotedBattleRow(TypedDict):
    """A voted battle with its model names, as `battle_rows` returns it."""

    battle_id: str
    model_a: str
    model_b: str
    outcome: str
    voted_at: datetime
    prompt_id: int
    voter_id: str
    excluded: bool
    excluded_reason: str | None


class SnapshotRow(TypedDict):
    """One model's rating in a snapshot, as `add_rating_snapshot` stores it."""

    model: str
    rating: float
    ci_low: NotRequired[float | None]
    ci_high: NotRequired[float | None]
    n_battles: NotRequired[int]


# --- prompts ------------------------------------------------------------------------------


def existing_prompt_hashes(s: Session, hashes: Iterable[str]) -> set[str]:
    """Return those of `hashes` that are already in the bank."""
    wanted = list(set(hashes))
    found: set[str] = set()
    for lo in range(0, len(wanted), 500):  # stay under bind-parameter limits
        chunk = wanted[lo : lo + 500]
        found.update(s.scalars(select(ArenaPrompt.norm_hash).where(ArenaPrompt.norm_hash.in_(chunk))))
    return found


def add_prompts(s: Session, rows: Sequence[PromptRow]) -> int:
    """Insert prompts, skipping rows whose `norm_hash` is already stored (even by a concurrent import).

    Args:
        s: Session.
        rows: The new questions.

    Returns:
        Number of rows actually inserted.
    """
    if not rows:
        return 0
    before = s.scalar(select(func.count()).select_from(ArenaPrompt)) or 0
    values: list[dict[str, Any]] = [{**r, "created_at": r.get("created_at") or utcnow()} for r in rows]
    _insert_ignoring(s, ArenaPrompt, values, ["norm_hash"])
    after = s.scalar(select(func.count()).select_from(ArenaPrompt)) or 0
    return int(after - before)


def list_prompts(
    s: Session, *, ids: Sequence[int] | None = None, category: str | None = None, limit: int | None = None
) -> list[ArenaPrompt]:
    """Return prompts ordered by id, optionally filtered by ids and category, at most `limit`."""
    query = select(ArenaPrompt)
    if ids is not None:
        query = query.where(ArenaPrompt.id.in_(list(ids)))
    if category is not None:
        query = query.where(ArenaPrompt.category == category)
    query = query.order_by(ArenaPrompt.id)
    if limit is not None:
        query = query.limit(limit)
    return list(s.scalars(query))


def prompt_counts_by_category(s: Session) -> dict[str, int]:
    """Return {category: number of prompts}."""
    rows = s.execute(select(ArenaPrompt.category, func.count()).group_by(ArenaPrompt.category))
    return {c: int(n) for c, n in rows}


# --- answers ------------------------------------------------------------------------------


def answered_prompt_ids(s: Session, model_id: int, params_hash: str) -> set[int]:
    """Prompt ids that already have an answer from `model_id` under `params_hash`."""
    query = select(ArenaAnswer.prompt_id).where(
        ArenaAnswer.model_id == model_id, ArenaAnswer.params_hash == params_hash
    )
    return set(s.scalars(query))


def add_answers(s: Session, rows: Sequence[AnswerRow]) -> None:
    """Insert answers; a row whose (prompt_id, model_id, params_hash) exists is skipped (idempotent).

    Args:
        s: Session.
        rows: The answers.
    """
    if rows:
        values: list[dict[str, Any]] = [{**r, "created_at": r.get("created_at") or utcnow()} for r in rows]
        _insert_ignoring(s, ArenaAnswer, values, ["prompt_id", "model_id", "params_hash"])


def answers_for(s: Session, prompt_id: int, model_id: int) -> list[ArenaAnswer]:
    """All answers of a model to a prompt, newest first (one per generation-params set)."""
    query = (
        select(ArenaAnswer)
        .where(ArenaAnswer.prompt_id == prompt_id, ArenaAnswer.model_id == model_id)
        .order_by(ArenaAnswer.id.desc())
    )
    return list(s.scalars(query))


def pair_common_prompts(s: Session, model_ids: Sequence[int] | None = None) -> dict[tuple[int, int], int]:
    """Number of prompts answered by both models, for every pair (i, j) with i < j.

    Args:
        s: Session.
        model_ids: Restrict to these models (None: every model with answers).
    """
    # Distinct (prompt, model) first: several param sets of one model count once.
    base = select(ArenaAnswer.prompt_id, ArenaAnswer.model_id).distinct()
    if model_ids is not None:
        base = base.where(ArenaAnswer.model_id.in_(list(model_ids)))
    pm = base.subquery()
    x, y = aliased(pm), aliased(pm)
    query = (
        select(x.c.model_id, y.c.model_id, func.count())
        .join(y, and_(x.c.prompt_id == y.c.prompt_id, x.c.model_id < y.c.model_id))
        .group_by(x.c.model_id, y.c.model_id)
    )
    return {(int(i), int(j)): int(n) for i, j, n in s.execute(query)}


def common_prompt_ids(s: Session, model_a_id: int, model_b_id: int) -> list[int]:
    """Prompt ids answered by both models, ascending."""
    a, b = aliased(ArenaAnswer), aliased(ArenaAnswer)
    query = (
        select(a.prompt_id)
        .join(b, and_(a.prompt_id == b.prompt_id, b.model_id == model_b_id))
        .where(a.model_id == model_a_id)
        .distinct()
        .order_by(a.prompt_id)
    )
    return list(s.scalars(query))


# --- battles ------------------------------------------------------------------------------


def add_battle(s: Session, **fields: Any) -> Battle:
    """Insert a battle (all `Battle` columns as keywords) and flush it."""
    battle = Battle(**fields)
    s.add(battle)
    s.flush()
    return battle


def get_battle(s: Session, battle_id: str, *, for_update: bool = False) -> Battle | None:
    """Return the battle, or None. `for_update` row-locks it on PostgreSQL (SQLite locks the file)."""
    return s.get(Battle, battle_id, with_for_update=for_update or None, populate_existing=for_update)


def battle_answers(s: Session, battle: Battle) -> tuple[str, str]:
    """Texts of the answers shown as A and B."""
    query = select(ArenaAnswer.id, ArenaAnswer.text).where(ArenaAnswer.id.in_([battle.answer_a_id, battle.answer_b_id]))
    texts = {i: t for i, t in s.execute(query)}
    return texts[battle.answer_a_id], texts[battle.answer_b_id]


def prompts_seen_by_session(s: Session, session_id: str) -> set[int]:
    """Prompt ids of every battle already served to `session_id`."""
    return set(s.scalars(select(Battle.prompt_id).where(Battle.session_id == session_id)))


def model_names(s: Session, model_ids: Iterable[int]) -> dict[int, str]:
    """Return {model id: name}."""
    ids = list(set(model_ids))
    return {i: n for i, n in s.execute(select(Model.id, Model.name).where(Model.id.in_(ids)))}


def newest_answer_ids(s: Session, model_ids: Sequence[int] | None = None) -> list[tuple[int, int, int]]:
    """(prompt_id, model_id, id of the newest answer) for every answered (prompt, model), by prompt then model.

    "Newest" is the highest answer id, as in `answers_for` (regenerating adds answers).
    """
    query = select(ArenaAnswer.prompt_id, ArenaAnswer.model_id, func.max(ArenaAnswer.id)).group_by(
        ArenaAnswer.prompt_id, ArenaAnswer.model_id
    )
    if model_ids is not None:
        query = query.where(ArenaAnswer.model_id.in_(list(model_ids)))
    rows = s.execute(query.order_by(ArenaAnswer.prompt_id, ArenaAnswer.model_id))
    return [(int(p), int(m), int(a)) for p, m, a in rows]


def answer_texts(s: Session, answer_ids: Iterable[int]) -> dict[int, str]:
    """Return {answer id: text}."""
    ids = list(set(answer_ids))
    texts: dict[int, str] = {}
    for lo in range(0, len(ids), 500):  # stay under bind-parameter limits
        chunk = ids[lo : lo + 500]
        query = select(ArenaAnswer.id, ArenaAnswer.text).where(ArenaAnswer.id.in_(chunk))
        texts.update((int(i), t) for i, t in s.execute(query))
    return texts


def session_battles(s: Session, session_id: str, kind: str) -> list[tuple[Battle, bool]]:
    """Every battle of `kind` served to `session_id`, oldest first, with whether it has a vote."""
    query = (
        select(Battle, Vote.id.is_not(None))
        .outerjoin(Vote, Vote.battle_id == Battle.id)
        .where(Battle.session_id == session_id, Battle.kind == kind)
        .order_by(Battle.served_at, Battle.id)
    )
    return [(b, bool(voted)) for b, voted in s.execute(query)]


def vote_counts(
    s: Session, kind: str = "human", *, unflagged: bool = False, category: str | None = None
) -> list[tuple[int, int, str, int]]:
    """Rated (non-excluded) votes grouped as (model_a_id, model_b_id, outcome, count).

    `unflagged` also leaves out votes with hygiene flags (what the leaderboard rates);
    `category` keeps only battles on prompts of that category.
    """
    query = (
        select(Battle.model_a_id, Battle.model_b_id, Vote.outcome, func.count())
        .join(Vote, Vote.battle_id == Battle.id)
        .where(Battle.kind == kind, Vote.excluded.is_(False))
        .group_by(Battle.model_a_id, Battle.model_b_id, Vote.outcome)
    )
    if unflagged:
        query = query.where(Vote.flags.is_(None))
    if category is not None:
        query = query.join(ArenaPrompt, ArenaPrompt.id == Battle.prompt_id).where(ArenaPrompt.category == category)
    return [(int(a), int(b), str(o), int(n)) for a, b, o, n in s.execute(query)]


# --- votes --------------------------------------------------------------------------------


def get_vote(s: Session, battle_id: str) -> Vote | None:
    """Return the vote on a battle, or None."""
    return s.scalars(select(Vote).where(Vote.battle_id == battle_id)).one_or_none()


def add_vote(s: Session, **fields: Any) -> Vote:
    """Insert a vote and flush. Raises IntegrityError if the battle already has one."""
    vote = Vote(**fields)
    s.add(vote)
    s.flush()
    return vote


def recent_vote_times(s: Session, voter_id: str, since: datetime, limit: int) -> list[datetime]:
    """Times of `voter_id`'s votes at or after `since`, newest first, at most `limit`."""
    query = (
        select(Vote.created_at)
        .where(Vote.voter_id == voter_id, Vote.created_at >= since)
        .order_by(Vote.created_at.desc())
        .limit(limit)
    )
    return list(s.scalars(query))


def count_votes_since(s: Session, voter_id: str, since: datetime) -> int:
    """Votes (rated or not) cast by `voter_id` at or after `since`."""
    query = select(func.count()).select_from(Vote).where(Vote.voter_id == voter_id, Vote.created_at >= since)
    return int(s.scalar(query) or 0)


def lock_voter(s: Session, voter_id: str) -> None:
    """Serialize this transaction with others of the same voter (PostgreSQL advisory lock).

    Without it, two concurrent votes of one voter could both pass a rate-limit count. SQLite
    needs nothing: write transactions there are already serialized by the file lock.
    """
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:v))"), {"ns": _VOTER_LOCK_NS, "v": voter_id})


def lock_address(s: Session, address_key: str) -> None:
    """Serialize this transaction with others from the same client address (its keyed hash), as
    `lock_voter` does per voter. Callers take the voter's lock first, then this one (one order: no deadlock)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:v))"), {"ns": _ADDRESS_LOCK_NS, "v": address_key})


_VOTER_LOCK_NS = 0x4C54  # "LT": keeps our advisory keys apart from the migration lock's
_ADDRESS_LOCK_NS = 0x4C55  # a voter id and an address key never share a lock


def battle_rows(s: Session, kind: str = "human", include_excluded: bool = False) -> list[VotedBattleRow]:
    """Voted battles with model names, oldest vote first."""
    ma, mb = aliased(Model), aliased(Model)
    query = (
        select(
            Battle.id, ma.name, mb.name, Vote.outcome, Vote.created_at, Battle.prompt_id,
            Vote.voter_id, Vote.excluded, Vote.excluded_reason,
        )
        .join(Vote, Vote.battle_id == Battle.id)
        .join(ma, ma.id == Battle.model_a_id)
        .join(mb, mb.id == Battle.model_b_id)
        .where(Battle.kind == kind)
        .order_by(Vote.created_at, Vote.id)
    )  # fmt: skip
    if not include_excluded:
        query = query.where(Vote.excluded.is_(False))
    return [
        VotedBattleRow(
            battle_id=battle_id, model_a=model_a, model_b=model_b, outcome=outcome, voted_at=voted_at,
            prompt_id=prompt_id, voter_id=voter_id, excluded=excluded, excluded_reason=excluded_reason,
        )
        for battle_id, model_a, model_b, outcome, voted_at, prompt_id, voter_id, excluded, excluded_reason
        in s.execute(query)
    ]  # fmt: skip


def excluded_vote_counts(s: Session, kind: str | None = None) -> dict[str, int]:
    """Return {excluded_reason: number of excluded votes}."""
    query = select(Vote.excluded_reason, func.count()).where(Vote.excluded.is_(True)).group_by(Vote.excluded_reason)
    if kind is not None:
        query = query.join(Battle, Battle.id == Vote.battle_id).where(Battle.kind == kind)
    return {str(r or ""): int(n) for r, n in s.execute(query)}


def vote_totals(s: Session) -> dict[str, int]:
    """Return {"battles": served, "votes": all votes, "rated": non-excluded votes}."""
    return {
        "battles": int(s.scalar(select(func.count()).select_from(Battle)) or 0),
        "votes": int(s.scalar(select(func.count()).select_from(Vote)) or 0),
        "rated": int(s.scalar(select(func.count()).select_from(Vote).where(Vote.excluded.is_(False))) or 0),
    }


# --- rating snapshots ---------------------------------------------------------------------


def add_rating_snapshot(
    s: Session, method: str, kind: str, rows: Sequence[SnapshotRow], *, computed_at: datetime | None = None
) -> datetime:
    """Store one computation's ratings; every row gets the same `computed_at`.

    Args:
        s: Session.
        method: Rating method, e.g. "bt" or "elo".
        kind: "human" or "judge".
        rows: Model and rating, optionally ci_low, ci_high (None or NaN when unknown) and n_battles.
        computed_at: Time of the computation (default: now).

    Returns:
        The `computed_at` stored.
    """
    at = computed_at or utcnow()
    s.add_all(
        RatingSnapshot(
            method=method,
            kind=kind,
            computed_at=at,
            model=str(r["model"]),
            rating=float(r["rating"]),
            ci_low=_opt_float(r.get("ci_low")),
            ci_high=_opt_float(r.get("ci_high")),
            n_battles=int(r.get("n_battles") or 0),
        )
        for r in rows
    )
    s.flush()
    return at


def latest_rating_snapshots(s: Session, method: str, kind: str = "human") -> list[RatingSnapshot]:
    """Rows of the newest computation for (method, kind), best rating first; [] if none."""
    newest = (
        select(func.max(RatingSnapshot.computed_at))
        .where(RatingSnapshot.method == method, RatingSnapshot.kind == kind)
        .scalar_subquery()
    )
    query = (
        select(RatingSnapshot)
        .where(RatingSnapshot.method == method, RatingSnapshot.kind == kind, RatingSnapshot.computed_at == newest)
        .order_by(RatingSnapshot.rating.desc(), RatingSnapshot.model)
    )
    return list(s.scalars(query))


def snapshot_history(s: Session, method: str, kind: str = "human") -> list[RatingSnapshot]:
    """Every stored row for (method, kind), oldest computation first, then by model name."""
    query = (
        select(RatingSnapshot)
        .where(RatingSnapshot.method == method, RatingSnapshot.kind == kind)
        .order_by(RatingSnapshot.computed_at, RatingSnapshot.model)
    )
    return list(s.scalars(query))


# --- helpers ------------------------------------------------------------------------------


def _opt_float(x: float | None) -> float | None:
    if x is None:
        return None
    f = float(x)
    return None if f != f else f  # NaN (no CI) is stored as NULL


def _insert_ignoring(s: Session, table: type[Base], values: list[dict[str, Any]], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on `keys`, so concurrent or repeated writers are harmless."""
    dialect = s.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        ins = sqlite.insert if dialect == "sqlite" else postgresql.insert
        s.execute(ins(table).on_conflict_do_nothing(index_elements=keys), values)
    else:  # other backends: plain insert (nothing else is supported for the arena)
        s.execute(insert(table), values)


# --- ratings inputs and vote hygiene ---------------------------------------------------------


def rating_rows(s: Session, kind: str = "human") -> list[dict[str, Any]]:
    """Non-excluded voted battles with what ratings and hygiene need, oldest vote first.

    Returns:
        Dicts with vote_id, battle_id, model_a, model_b, outcome, voted_at, served_at,
        prompt_id, category, voter_id, answer_a_id, answer_b_id, flags (str or None).
    """
    ma, mb = aliased(Model), aliased(Model)
    query = (
        select(
            Vote.id, Battle.id, ma.name, mb.name, Vote.outcome, Vote.created_at, Battle.served_at,
            Battle.prompt_id, ArenaPrompt.category, Vote.voter_id, Battle.answer_a_id, Battle.answer_b_id, Vote.flags,
        )
        .join(Vote, Vote.battle_id == Battle.id)
        .join(ma, ma.id == Battle.model_a_id)
        .join(mb, mb.id == Battle.model_b_id)
        .join(ArenaPrompt, ArenaPrompt.id == Battle.prompt_id)
        .where(Battle.kind == kind, Vote.excluded.is_(False))
        .order_by(Vote.created_at, Vote.id)
    )  # fmt: skip
    keys = (
        "vote_id", "battle_id", "model_a", "model_b", "outcome", "voted_at", "served_at", "prompt_id", "category",
        "voter_id", "answer_a_id", "answer_b_id", "flags",
    )  # fmt: skip
    return [dict(zip(keys, row, strict=True)) for row in s.execute(query)]


def set_vote_flags(s: Session, flags: dict[int, str | None]) -> None:
    """Write `votes.flags` for the given vote ids (None clears)."""
    if flags:  # ORM bulk UPDATE by primary key: one executemany
        s.execute(update(Vote), [{"id": vote_id, "flags": value} for vote_id, value in flags.items()])


def flag_battle_votes(s: Session, battle_ids: list[str], flags: str) -> None:
    """Set `votes.flags` of the votes on these battles (judge votes: their verdict strength)."""
    if battle_ids:
        s.execute(update(Vote).where(Vote.battle_id.in_(battle_ids)).values(flags=flags))


def newest_vote_time(s: Session, kind: str = "human") -> datetime | None:
    """Time of the newest vote on a battle of `kind` (flags and exclusions included), None if none."""
    query = select(func.max(Vote.created_at)).join(Battle, Battle.id == Vote.battle_id).where(Battle.kind == kind)
    return s.scalar(query)


def flag_counts(s: Session, kind: str = "human") -> dict[str, int]:
    """{flags string: non-excluded votes with it} (e.g. {"duplicate": 3, "duplicate,suspect": 1})."""
    query = (
        select(Vote.flags, func.count())
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Battle.kind == kind, Vote.excluded.is_(False), Vote.flags.is_not(None))
        .group_by(Vote.flags)
    )
    return {str(f): int(n) for f, n in s.execute(query)}


def battle_export_details(s: Session, battle_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{battle id: {"category", "answer_a", "answer_b" (texts), "flags"}} for the given battles."""
    out: dict[str, dict[str, Any]] = {}
    aa, ab = aliased(ArenaAnswer), aliased(ArenaAnswer)
    ids = list(battle_ids)
    for lo in range(0, len(ids), 500):  # stay under bind-parameter limits
        query = (
            select(Battle.id, ArenaPrompt.category, aa.text, ab.text, Vote.flags)
            .join(ArenaPrompt, ArenaPrompt.id == Battle.prompt_id)
            .join(aa, aa.id == Battle.answer_a_id)
            .join(ab, ab.id == Battle.answer_b_id)
            .outerjoin(Vote, Vote.battle_id == Battle.id)
            .where(Battle.id.in_(ids[lo : lo + 500]))
        )
        for bid, cat, ta, tb, flags in s.execute(query):
            out[str(bid)] = {"category": cat, "answer_a": ta, "answer_b": tb, "flags": flags}
    return out


def voted_categories(s: Session, kind: str = "human") -> dict[str, int]:
    """{prompt category: rated votes} over battles of `kind`."""
    query = (
        select(ArenaPrompt.category, func.count())
        .join(Battle, Battle.prompt_id == ArenaPrompt.id)
        .join(Vote, Vote.battle_id == Battle.id)
        .where(Battle.kind == kind, Vote.excluded.is_(False))
        .group_by(ArenaPrompt.category)
    )
    return {str(c): int(n) for c, n in s.execute(query)}
