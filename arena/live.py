"""Live mode: a voter asks their own question, two anonymous pool models answer side by side.

    view = start_battle(db, voter_id, session_id, prompt_origin="typed")   # no names
    turn = begin_turn(db, view.battle_id, session_id, question)          # both sides stream at once
    while not turn.done(): show(turn.texts())
    result = turn.finish()          # stored; result.failed_reason set -> battle never rated
    ... follow-ups: begin_turn again (both models get the whole conversation) ...
    vote = record_live_vote(db, view.battle_id, session_id, "a", voter_id, tags_a=["有用"], comment="")

Matchmaking uses `arena.matchmaking.choose_pair` over the enabled pool (wins from rated live
votes), then a fair coin picks the sides. A timeout, a server error or an empty answer ends the
battle: it is stored with `failed_reason` and refuses votes, so it is never rated.

Refusals (`LiveRefused.code`): empty_question, question_too_long, question_html, models_down,
unknown_battle, not_your_battle, battle_failed, already_voted, too_many_turns, no_answer,
bad_tag, comment_too_long, plus the vote limits of `arena.votes` (rate_limited, daily_cap).
Input is checked before anything is written: a refused question stores nothing.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.exc import IntegrityError

from arena import matchmaking
from arena.errors import ArenaRefusal, NoBattleAvailable, VoteRefused
from arena.leaks import LeakChecker
from arena.live_pool import PoolEntry, available, list_pool, mark_down, params_record, streamer_for
from arena.vote_address import check_address, valid_key
from arena.votes import IDENTITY_LEAK, VoteLimits, VoteResult, _check_limits, _default_checker, _utc, normalize_outcome
from db import arena_repo, live_repo, repo
from db.models_live import PROMPT_ORIGINS

if TYPE_CHECKING:
    from db import Database

MAX_QUESTION_CHARS = 2000
MAX_TURNS = 6
MAX_COMMENT_CHARS = 500
TAGS: tuple[str, ...] = ("有用", "错误", "肤浅", "未遵循指令", "格式清晰")
SUGGESTED_PROMPTS: tuple[str, ...] = (
    "用三句话解释什么是光合作用。",
    "帮我写一首关于秋天的五言绝句。",
    "小明有 5 个苹果，给了小红 2 个，又买了 3 个，现在有几个？",
    "请把“知之为知之，不知为不知”翻译成英文并解释含义。",
)
FAILURE_REASONS: tuple[str, ...] = ("timeout", "server_error", "empty_answer", "model_unavailable")
# Tags that would be rendered as markup or script by a browser; a question carrying them is refused.
_HTML = re.compile(
    r"<\s*/?\s*(script|iframe|img|svg|style|object|embed|link|meta|form|input|button|a|html|body|div|span|b|i|p|br)"
    r"""(\s+[a-z-]+(\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?)*\s*/?\s*>|javascript\s*:""",
    re.IGNORECASE,
)  # a well-formed tag (so "a<b 和 b>c" stays a question) or a javascript: URL


class LiveRefused(ArenaRefusal):
    """A live-mode request turned down; `code` says why (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class LiveBattleView:
    """What the page may know before the vote: ids only, never a model name."""

    battle_id: str
    conversation_id: str


@dataclass(frozen=True, slots=True)
class TurnResult:
    """A finished turn. `failed_reason` set: the battle is over, stored as failed, never rated."""

    text_a: str
    text_b: str
    failed_reason: str | None
    leaked_names: tuple[str, ...] = ()
    failed_models: tuple[str, ...] = ()  # server side only: pass as `start_battle(avoid=...)` for the next round


def validate_question(text: str | None) -> str:
    """The question, stripped; refused when empty, over-long, or carrying HTML/script."""
    q = (text or "").strip()
    if not q:
        raise LiveRefused("empty_question", "请输入问题后再发送。", "Type a question first.")
    if len(q) > MAX_QUESTION_CHARS:
        raise LiveRefused(
            "question_too_long",
            f"问题太长了（{len(q)} 字），最多 {MAX_QUESTION_CHARS} 字。",
            f"The question is too long ({len(q)} characters, at most {MAX_QUESTION_CHARS}).",
        )
    if _HTML.search(q):
        raise LiveRefused(
            "question_html",
            "问题里不能包含 HTML 标签或脚本，请用纯文本提问。",
            "Questions cannot contain HTML tags or scripts; ask in plain text.",
        )
    return q


def start_battle(
    database: Database,
    voter_id: str,
    session_id: str,
    *,
    prompt_origin: str = "typed",
    rng: np.random.Generator | None = None,
    avoid: Sequence[str] = (),
    check_health: bool = True,
) -> LiveBattleView:
    """Pick two pool models and open a conversation between them and the voter.

    Args:
        avoid: Pool names to leave out (e.g. a model that just failed), as long as two remain.
        check_health: Leave out models that are down (`arena.live_pool.available`: a failed ping
            or a recent failed answer) before matchmaking.

    Raises:
        NoBattleAvailable: fewer than two models in the live pool.
        LiveRefused: bad prompt origin, or fewer than two pool models up ("models_down").
    """
    if prompt_origin not in PROMPT_ORIGINS:
        raise LiveRefused("bad_origin", "无效的问题来源。", f"Bad prompt origin {prompt_origin!r}.")
    entries = list_pool(database, enabled_only=True)
    if len(entries) < 2:
        raise NoBattleAvailable("the live pool needs at least two models (evals arena pool add)")
    pool = [e.name for e in (available(entries) if check_health else entries)]
    if len(pool) < 2:  # the page says so; the models stay in the pool and come back when they answer again
        raise LiveRefused(
            "models_down",
            "目前能正常回答的模型不足两个（有模型暂时无法连接），请稍后再试。",
            "Fewer than two models can answer right now (some are unreachable); try again in a minute.",
        )
    if len(pool) - len(set(avoid) & set(pool)) >= 2:
        pool = [n for n in pool if n not in set(avoid)]
    rng = rng or np.random.default_rng(secrets.randbits(64))
    with database.session() as s:
        ids = {n: repo.get_model(s, n) for n in pool}
        models = [(n, m.id) for n, m in ids.items() if m is not None]
        index = {mid: k for k, (_, mid) in enumerate(models)}
        wins = np.zeros((len(models), len(models)))
        for a, b, outcome, n in live_repo.live_vote_counts(s):
            if a in index and b in index:
                i, j = index[a], index[b]
                if outcome == "model_a":
                    wins[i, j] += n
                elif outcome == "model_b":
                    wins[j, i] += n
                else:  # ties count half to each side
                    wins[i, j] += n / 2
                    wins[j, i] += n / 2
        eligible = ~np.eye(len(models), dtype=bool)
        i, j = matchmaking.choose_pair(wins, eligible, rng)
        if rng.random() < 0.5:
            i, j = j, i
        conv = live_repo.add_conversation(
            s, id=secrets.token_urlsafe(24), voter_id=voter_id, session_id=session_id, prompt_origin=prompt_origin
        )
        battle = live_repo.add_live_battle(
            s, id=secrets.token_urlsafe(24), conversation_id=conv.id, model_a_id=models[i][1],
            model_b_id=models[j][1], session_id=session_id,
        )  # fmt: skip
        return LiveBattleView(battle.id, conv.id)


@dataclass
class _Side:
    entry: PoolEntry | None
    model_id: int
    history: list[dict[str, str]]
    text: str = ""
    error: str | None = None
    reason: str | None = None
    ttft_s: float | None = None
    latency_s: float | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    done: threading.Event = field(default_factory=threading.Event)


class LiveTurn:
    """One question answered by both sides at once (two worker threads); poll `texts()` to stream."""

    def __init__(self, database: Database, battle_id: str, conversation_id: str, turn: int, sides: dict[str, _Side],
                 timeout_s: float) -> None:  # fmt: skip
        self._db = database
        self.battle_id = battle_id
        self.conversation_id = conversation_id
        self.turn = turn
        self._sides = sides
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._finished: TurnResult | None = None
        self._threads = [threading.Thread(target=self._run, args=(side,), daemon=True) for side in sides.values()]
        for t in self._threads:
            t.start()

    def _run(self, side: _Side) -> None:
        from runners.errors import RemoteError

        try:
            if side.entry is None:
                side.reason, side.error = "model_unavailable", "model removed from the live pool"
                return
            streamer = streamer_for(side.entry, timeout_s=self._timeout_s)
            t0 = time.perf_counter()
            for event in streamer.stream_chat(side.history, side.entry.params, system=side.entry.system_prompt or None):
                if isinstance(event, str):
                    if side.ttft_s is None:
                        side.ttft_s = time.perf_counter() - t0
                    with self._lock:
                        side.text += event
                else:
                    side.finish_reason = event.finish_reason
                    side.prompt_tokens, side.completion_tokens = event.prompt_tokens, event.completion_tokens
            side.latency_s = time.perf_counter() - t0
            if not side.text.strip():
                side.reason, side.error = "empty_answer", "the model returned an empty answer"
        except RemoteError as exc:
            msg = str(exc)
            side.reason = "timeout" if ("timed out" in msg or "no output within" in msg) else "server_error"
            side.error = msg[:500]
        except Exception as exc:  # a model that cannot load or crashes: the battle fails, the page lives
            side.reason, side.error = "server_error", f"{type(exc).__name__}: {exc}"[:500]
        finally:
            side.done.set()

    def texts(self) -> tuple[str, str]:
        """The text of each side so far (A, B)."""
        with self._lock:
            return self._sides["a"].text, self._sides["b"].text

    def done(self) -> bool:
        return all(s.done.is_set() for s in self._sides.values())

    def finish(self, checker: LeakChecker | None = None) -> TurnResult:
        """Wait for both sides, store both answers; a failed side fails the battle (stored with its reason)."""
        if self._finished is not None:
            return self._finished
        deadline = time.monotonic() + 2 * self._timeout_s + 5
        for waiting in self._sides.values():
            if not waiting.done.wait(max(0.0, deadline - time.monotonic())):
                waiting.reason, waiting.error = "timeout", f"no complete answer within {2 * self._timeout_s:g} s"
        a, b = self._sides["a"], self._sides["b"]
        failed = a.reason or b.reason
        with self._db.session() as s:
            for name, side in (("a", a), ("b", b)):
                entry = side.entry
                live_repo.add_message(
                    s, conversation_id=self.conversation_id, turn=self.turn, side=name, role="assistant",
                    model_id=side.model_id, text=side.text, prompt_tokens=side.prompt_tokens,
                    completion_tokens=side.completion_tokens, ttft_s=side.ttft_s, latency_s=side.latency_s,
                    finish_reason=side.finish_reason, gen_params=params_record(entry.params) if entry else {},
                    system_prompt=entry.system_prompt if entry else None, error=side.error,
                )  # fmt: skip
            if failed:
                battle = live_repo.get_live_battle(s, self.battle_id, for_update=True)
                if battle is not None and battle.failed_reason is None:
                    battle.failed_reason = failed
        leaked = tuple((checker or _default_checker()).leaks(a.text, b.text))
        down = tuple(x.entry.name for x in (a, b) if x.reason and x.entry is not None)
        for x in (a, b):  # unreachable or crashing (not merely an empty answer): every voter's next pair skips it
            if x.entry is not None and x.reason in ("timeout", "server_error"):
                mark_down(x.entry, x.error or x.reason)
        self._finished = TurnResult(a.text, b.text, failed, leaked, down)
        return self._finished


def begin_turn(database: Database, battle_id: str, session_id: str, question: str, *,
               timeout_s: float = 60.0) -> LiveTurn:  # fmt: skip
    """Store the voter's question and start both models answering it (with the conversation so far).

    Raises:
        LiveRefused: bad question, unknown/foreign/failed/voted battle, or too many turns (nothing stored).
    """
    q = validate_question(question)
    pool = {e.name: e for e in list_pool(database, enabled_only=False)}
    with database.session() as s:
        battle = _own_battle(s, battle_id, session_id)
        if battle.failed_reason is not None:
            raise _failed()
        if live_repo.get_live_vote(s, battle_id) is not None:
            raise LiveRefused(
                "already_voted", "这场对战已经投过票了，请开始新一轮。", "Already voted; start a new round."
            )
        turn = live_repo.next_turn(s, battle.conversation_id)
        if turn >= MAX_TURNS:
            raise LiveRefused(
                "too_many_turns",
                f"每场对战最多 {MAX_TURNS} 轮对话，请投票后开始新一轮。",
                f"At most {MAX_TURNS} turns per battle; vote and start a new round.",
            )
        history = live_repo.conversation_messages(s, battle.conversation_id)
        names = arena_repo.model_names(s, (battle.model_a_id, battle.model_b_id))
        live_repo.add_message(s, conversation_id=battle.conversation_id, turn=turn, side="user", role="user",
                              text=q, gen_params={})  # fmt: skip
        sides = {}
        for side, model_id in (("a", battle.model_a_id), ("b", battle.model_b_id)):
            chat = [{"role": m.role, "content": m.text} for m in history if m.side in ("user", side)]
            chat.append({"role": "user", "content": q})
            sides[side] = _Side(entry=pool.get(names[model_id]), model_id=model_id, history=chat)
        conversation_id = battle.conversation_id
    return LiveTurn(database, battle_id, conversation_id, turn, sides, timeout_s)


def record_live_vote(
    database: Database,
    battle_id: str,
    session_id: str,
    outcome: str,
    voter_id: str,
    *,
    tags_a: Sequence[str] = (),
    tags_b: Sequence[str] = (),
    comment: str = "",
    now: datetime | None = None,
    limits: VoteLimits | None = None,
    checker: LeakChecker | None = None,
    address_key: str | None = None,
) -> VoteResult:
    """Store the vote on a live battle (same rules and limits as `arena.votes.record_vote`, the client
    address's budget included: `address_key` is its keyed hash, stored with the vote).

    The leak filter reads every answer of the conversation as rendered; a leak keeps the vote but
    excludes it from ratings.

    Raises:
        LiveRefused / VoteRefused: see the module docstring; nothing is stored then.
        ValueError: `address_key` is not a key (e.g. a raw address).
    """
    address_key = valid_key(address_key)
    clean = normalize_outcome(outcome)
    if not voter_id or not str(voter_id).strip():
        raise VoteRefused("bad_voter", "缺少投票人标识，请刷新页面后重试。", "Missing voter id; reload the page.")
    for tags in (tags_a, tags_b):
        bad = [t for t in tags if t not in TAGS]
        if bad:
            raise LiveRefused("bad_tag", f"无效的标签：{'、'.join(bad)}", f"Unknown tags: {', '.join(bad)}")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise LiveRefused(
            "comment_too_long",
            f"评论最多 {MAX_COMMENT_CHARS} 字。",
            f"Comments take at most {MAX_COMMENT_CHARS} characters.",
        )
    limits = VoteLimits.from_env() if limits is None else limits
    checker = _default_checker() if checker is None else checker
    at = _utc(now)
    with database.session() as s:
        battle = _own_battle(s, battle_id, session_id, for_update=True)
        if battle.failed_reason is not None:
            raise _failed()
        if live_repo.get_live_vote(s, battle_id) is not None:
            raise _already_voted()
        answers = [m.text for m in live_repo.conversation_messages(s, battle.conversation_id) if m.role == "assistant"]
        if not answers:
            raise LiveRefused(
                "no_answer", "请先提问，看完两边的回答再投票。", "Ask a question and read both answers first."
            )
        if limits.max_votes is not None or limits.daily_cap is not None:
            arena_repo.lock_voter(s, voter_id)
            _check_limits(s, voter_id, at, limits)
            check_address(s, address_key, at, limits)
        leaked = tuple(checker.leaks(*answers))
        try:
            with s.begin_nested():
                live_repo.add_live_vote(
                    s, battle_id=battle_id, conversation_id=battle.conversation_id, outcome=clean, voter_id=voter_id,
                    tags_a=list(tags_a), tags_b=list(tags_b), comment=comment, created_at=at, excluded=bool(leaked),
                    excluded_reason=IDENTITY_LEAK if leaked else None, address_key=address_key,
                )  # fmt: skip
        except IntegrityError:
            raise _already_voted() from None
        names = arena_repo.model_names(s, (battle.model_a_id, battle.model_b_id))
        return VoteResult(battle_id, clean, bool(leaked), IDENTITY_LEAK if leaked else None, leaked,
                          names[battle.model_a_id], names[battle.model_b_id])  # fmt: skip


def reveal_live(database: Database, battle_id: str, session_id: str) -> tuple[str, str]:
    """(model A, model B) of a battle this session voted on or that failed; refused before that."""
    with database.session(write=False) as s:
        battle = _own_battle(s, battle_id, session_id)
        if battle.failed_reason is None and live_repo.get_live_vote(s, battle_id) is None:
            raise LiveRefused("not_voted", "投票后才会揭晓模型名称。", "Names are revealed after the vote.")
        names = arena_repo.model_names(s, (battle.model_a_id, battle.model_b_id))
        return names[battle.model_a_id], names[battle.model_b_id]


def _own_battle(s: Any, battle_id: str, session_id: str, *, for_update: bool = False) -> Any:
    battle = live_repo.get_live_battle(s, battle_id, for_update=for_update)
    if battle is None:
        raise LiveRefused("unknown_battle", "找不到这场对战，请开始新一轮。", "Unknown battle; start a new round.")
    if battle.session_id != session_id:
        raise LiveRefused("not_your_battle", "这场对战不属于当前会话。", "This battle belongs to another session.")
    return battle


def _failed() -> LiveRefused:
    return LiveRefused(
        "battle_failed",
        "这一轮有模型没能回答（超时、出错或空回答），本轮不计分，请开始新一轮。",
        "A model failed to answer (timeout, error or empty answer); this round is not rated. Start a new round.",
    )


def _already_voted() -> LiveRefused:
    return LiveRefused("already_voted", "这场对战已经投过票了，每场只能投一次。", "This battle already has a vote.")
