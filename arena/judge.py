"""LLM-as-judge: a judge model votes on battles, kept apart from human votes.

What a judge run does (`judge_battles`, CLI `evals arena judge --judge MODEL`):

1. Candidates: for every prompt answered by at least two models, every pair of those models,
   each with its newest answer (as the vote page serves them). With `pairs=N` only N candidates
   are judged, drawn like the vote page draws pairs (`arena.matchmaking`, fed with the judge
   votes so far) and then a prompt uniformly among that pair's unjudged ones.
2. Battles: each candidate becomes a battle of kind "judge", served to the session
   ``judge:<judge name>`` with randomized sides. A battle of that session that already has a
   vote for the same two answers is skipped, so a re-run (or an interrupted run) only judges
   what is missing; a battle created but not yet voted on is reused.
3. Judging: the judge reads a Chinese pairwise prompt (`JUDGE_SYSTEM`, `JUDGE_TEMPLATE`) twice,
   once with the battle's sides and once with the two answers swapped, so a preference for a
   position cancels out. The verdict is not generated text: we score the five labels ``1`` … ``5``
   (Arena-Hard-Auto's A>>B, A>B, A=B, B>A, B>>A; digits, so no label reads like an answer's
   name) as the next token after the prompt (`Runner.choice_logprobs`, scoring "logprob") and
   take the best. Small or weakly tuned models rarely produce a parsable free-form verdict, but
   always give a distribution over these tokens, so every battle gets a verdict and nothing
   depends on output parsing.
4. Combining (`combine`): both orders must prefer the same answer, else the battle is a tie;
   it is strong only when both orders say strong. The vote stores the 3-way outcome, and a
   strong verdict also the vote flag ``strong``, which every BT fit counts as 3 battles
   (`arena.judge_ratings.repeat_strong`); 3-way consumers read the outcome as before.
   With ``baseline`` only battles against that model are judged (Arena-Hard-Auto's setup).
5. The vote goes through `arena.votes.record_vote` with ``voter_id`` = judge name and no rate
   limit, so identity-leak exclusion and the one-vote-per-battle rule apply as for humans.

Judge votes live in the same tables but under battle kind "judge": human ratings
(`battle_records(kind="human")`) never see them, and `evals arena ratings --kind judge` rates
them separately (``--kind composite`` rates both in one fit). `judge_human_agreement` compares
the two where both judged the same prompt and model pair, and adds the judge board's
separability and its pair-rank Brier score against the human board.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import TYPE_CHECKING, Final, TypedDict

import numpy as np

from arena.judge_ratings import STRONG_FLAG
from runners.errors import VerbUnsupported

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.model_spec import ModelSpec
    from db import Database
    from db.arena_repo import VotedBattleRow
    from runners.base import ChoiceScoring, Runner

JUDGE_SYSTEM = (
    "你是一位公正、严谨的评审员，负责比较两个AI助手对同一个用户问题的回答质量。"
    "你只根据回答本身作出判断，不受回答的先后顺序、篇幅长短或助手身份的影响。"
)
JUDGE_TEMPLATE = (
    "请比较下面两个回答，判断哪一个更好地回应了用户的问题。"
    "评判时综合考虑：是否切题、内容是否正确、是否有帮助、是否完整、表达是否清楚通顺；"
    "回答更长不代表更好。\n\n"
    "【用户问题】\n{question}\n\n"
    "【回答A】\n{answer_a}\n【回答A结束】\n\n"
    "【回答B】\n{answer_b}\n【回答B结束】\n\n"
    "请只输出一个数字作为结论，不要输出其他任何内容：\n"
    "1 —— 回答A明显更好\n2 —— 回答A稍好\n3 —— 两者水平相当（平局）\n4 —— 回答B稍好\n5 —— 回答B明显更好"
)
# Plain-text continuation cue for a judge without a chat template.
PLAIN_CUE = "\n\n结论（1–5）："
# The five labels (digits, so no label reads like the name of an answer) and their verdicts in
# Arena-Hard-Auto's notation, always relative to the order shown (回答A first).
JUDGE_LABELS: tuple[str, ...] = ("1", "2", "3", "4", "5")
LEVELS: tuple[str, ...] = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
# Signed strength per level: + for the answer shown first, 2 = strong.
_SIGNED: dict[str, int] = {"A>>B": 2, "A>B": 1, "A=B": 0, "B>A": -1, "B>>A": -2}
SCORING: Final[ChoiceScoring] = "logprob"
TRUNCATION_MARK = "……（回答过长，以下省略）"
SESSION_PREFIX = "judge:"

RunnerFactory = Callable[["ModelSpec"], "Runner"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One judged battle.

    Attributes:
        battle_id: The judge battle.
        prompt_id: Its question.
        model_a: Model shown as A in the battle.
        model_b: Model shown as B.
        first: Level read with the battle's order (回答A = model_a's answer), e.g. "A>>B".
        second: Level read with the answers swapped, mapped back to the battle's sides.
        level: The combined level (`combine`); strong levels are stored as the vote flag
            `STRONG_FLAG` next to the 3-way outcome.
        outcome: The stored vote, "model_a", "model_b" or "tie" (`level_outcome`).
        scores: Label log-probs ({"1" … "5"}) of the first and the second order.
        excluded: The vote was kept out of ratings (identity leak in an answer).
    """

    battle_id: str
    prompt_id: int
    model_a: str
    model_b: str
    first: str
    second: str
    level: str
    outcome: str
    scores: tuple[dict[str, float], dict[str, float]]
    excluded: bool = False

    @property
    def consistent(self) -> bool:
        """Both orders gave the same verdict (no position bias on this battle)."""
        return level_outcome(self.first) == level_outcome(self.second)


@dataclass(frozen=True, slots=True)
class JudgeBattle:
    """A battle about to be judged, with the texts and names the judge's prompt and verdict need."""

    battle_id: str
    prompt_id: int
    question: str
    answer_a: str  # the answer shown as A in the battle
    answer_b: str
    model_a: str
    model_b: str


class PairAgreement(TypedDict):
    """Judge-human agreement on one model pair."""

    compared: int
    agree: int
    agreement: float  # agree / compared (a pair is only listed once compared)


class Agreement(TypedDict):
    """What `judge_human_agreement` returns; agreement values are fractions, None when nothing was compared."""

    judge: str | None
    human_votes: int
    judge_votes: int
    compared: int
    agree: int
    agreement: float | None
    compared_no_ties: int
    agree_no_ties: int
    agreement_no_ties: float | None
    by_pair: dict[str, PairAgreement]  # "<model> vs <model>" (names sorted) -> counts
    # Arena-Hard-Auto's judge measures on the BT boards (sandwich 95% CIs, strong verdicts ×3) of
    # every judge vote and of the human votes; None when a board cannot be fitted.
    separability: float | None  # share of judge-rated model pairs whose CIs do not overlap
    separability_pairs: int
    brier: float | None  # pair-rank Brier score of the judge board against the human board
    brier_pairs: int


@dataclass(slots=True)
class JudgeReport:
    """What `judge_battles` did.

    Attributes:
        judge: Judge model name (the voter id of its votes).
        session_id: Session its battles are served to (``judge:<name>``).
        verdicts: Battles judged now.
        skipped: Candidates already judged by this judge (resume).
        not_sampled: Unjudged candidates left out because of `pairs`.
        refused: Battles whose vote was refused (e.g. another run voted first).
    """

    judge: str
    session_id: str
    verdicts: list[Verdict] = field(default_factory=list)
    skipped: int = 0
    not_sampled: int = 0
    refused: int = 0

    @property
    def judged(self) -> int:
        return len(self.verdicts)

    @property
    def consistent(self) -> int:
        """Judged battles where both orders agreed."""
        return sum(v.consistent for v in self.verdicts)

    def outcome_counts(self) -> dict[str, int]:
        counts = {"model_a": 0, "model_b": 0, "tie": 0}
        for v in self.verdicts:
            counts[v.outcome] = counts.get(v.outcome, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class _Candidate:
    prompt_id: int
    model_1: int  # lower model id
    model_2: int
    answer_1: int
    answer_2: int
    battle_id: str | None = None  # an existing, not yet voted battle of this judge

    @property
    def key(self) -> frozenset[int]:
        return frozenset((self.answer_1, self.answer_2))


def judge_session(judge_name: str) -> str:
    """Session id of a judge's battles."""
    return SESSION_PREFIX + judge_name


def judge_user_prompt(question: str, answer_a: str, answer_b: str) -> str:
    """The user turn the judge reads (Chinese pairwise template)."""
    return JUDGE_TEMPLATE.format(question=question.strip(), answer_a=answer_a.strip(), answer_b=answer_b.strip())


def judge_prompt(runner: Runner, question: str, answer_a: str, answer_b: str) -> str:
    """Full prompt text for `runner.choice_logprobs`: the judge's chat template when it has one.

    With a chat template the labels are scored as the first token of the assistant's reply;
    without one, the system text, the user text and `PLAIN_CUE` are joined as plain text.
    """
    user = judge_user_prompt(question, answer_a, answer_b)
    if runner.info.has_chat_template:
        try:
            return runner.apply_chat_template(
                [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]
            )
        except VerbUnsupported:
            pass  # a server applies its template to chat requests only: score the plain prompt
        except Exception:  # a template without a system role
            return runner.apply_chat_template([{"role": "user", "content": JUDGE_SYSTEM + "\n\n" + user}])
    return JUDGE_SYSTEM + "\n\n" + user + PLAIN_CUE


def fit_answers(runner: Runner, question: str, answer_a: str, answer_b: str) -> tuple[str, str]:
    """Shorten both answers by the same share (keeping their beginnings) until the prompt fits the judge.

    Both orders are built from the same shortened texts, so the swap stays exact.
    """
    limit = max(64, int(runner.info.max_length) - 8)
    a, b = answer_a, answer_b
    na, nb = len(answer_a), len(answer_b)
    for _ in range(6):
        n = runner.count_tokens(judge_prompt(runner, question, a, b))
        if n <= limit or na + nb == 0:
            break
        answer_tokens = runner.count_tokens(a) + runner.count_tokens(b)
        keep = max(0.0, 1.0 - (n - limit + 16) / max(answer_tokens, 1)) * 0.95
        na, nb = int(na * keep), int(nb * keep)
        a, b = _cut(answer_a, na), _cut(answer_b, nb)
    return a, b


def _cut(text: str, n_chars: int) -> str:
    return text if n_chars >= len(text) else text[:n_chars] + TRUNCATION_MARK


def verdict_label(scores: dict[str, float]) -> str:
    """The best-scored label; on an exact tie the earlier label."""
    return max(JUDGE_LABELS, key=lambda label: (scores[label], -JUDGE_LABELS.index(label)))


def verdict_level(scores: dict[str, float]) -> str:
    """The judge's 5-level verdict in the order it was shown (回答A = "A")."""
    return LEVELS[JUDGE_LABELS.index(verdict_label(scores))]


def swap_level(level: str) -> str:
    """The same verdict with the two answers' names exchanged ("A>B" <-> "B>A")."""
    return LEVELS[len(LEVELS) - 1 - LEVELS.index(level)]


def combine(first: str, second: str) -> str:
    """Level of the two orders (both already in the battle's sides).

    Both must prefer the same answer, or the battle is a tie (position-dependent verdicts
    cancel); it is strong only when both orders say strong.
    """
    s1, s2 = _SIGNED[first], _SIGNED[second]
    if s1 * s2 <= 0:
        return "A=B"
    strength = min(abs(s1), abs(s2))
    return next(level for level, v in _SIGNED.items() if v == strength * (1 if s1 > 0 else -1))


def level_outcome(level: str) -> str:
    """The 3-way vote outcome of a level: "model_a", "model_b" or "tie"."""
    v = _SIGNED[level]
    return "model_a" if v > 0 else "model_b" if v < 0 else "tie"


def is_strong(level: str) -> bool:
    return abs(_SIGNED[level]) == 2


def judge_battles(
    database: Database,
    judge: str,
    *,
    models: Sequence[str] | None = None,
    pairs: int | None = None,
    baseline: str | None = None,
    rng: np.random.Generator | None = None,
    runner_factory: RunnerFactory | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> JudgeReport:
    """Let the judge model vote on every unjudged candidate battle (or `pairs` of them).

    Args:
        database: The arena database (answers must exist; `evals arena generate`).
        judge: Judge model: a registered name or a checkpoint directory.
        models: Only battles between these models (None: every model with answers).
        pairs: Judge at most this many new battles, drawn by matchmaking (None: all candidates).
        baseline: Arena-Hard-Auto's setup: only battles between this model and each other model
            (None: every pair).
        rng: Random generator for sampling and sides (seed it for reproducible runs).
        runner_factory: Builds the judge's Runner (tests wrap the real one); default
            `runners.open_runner(spec)` (LoRA adapters included). Not called when
            nothing is left to judge.
        batch_size: Battles per scoring call (each battle is scored twice) and per commit.
        progress: Show a progress bar.

    Returns:
        The report (verdicts, skipped, not sampled).

    Raises:
        UserError: Unknown judge or model name, bad `pairs`, or fewer than two models with answers.
    """
    from core.errors import UserError
    from db.model_lookup import resolve_model

    if pairs is not None and pairs < 1:
        raise UserError("--pairs must be at least 1")
    spec = resolve_model(judge, database=database)
    session_id = judge_session(spec.name)
    if len(session_id) > 128:
        raise UserError(f"judge name {spec.name!r} is too long (at most {128 - len(SESSION_PREFIX)} characters)")
    rng = rng if rng is not None else np.random.default_rng()
    report = JudgeReport(judge=spec.name, session_id=session_id)

    todo, report.skipped = _candidates(database, session_id, models, baseline)
    if pairs is not None and len(todo) > pairs:
        chosen = _sample(database, todo, pairs, rng)
        report.not_sampled = len(todo) - len(chosen)
        todo = chosen
    if not todo:
        return report

    factory = runner_factory or _load
    runner = factory(spec)
    from core.progress import item_progress

    with item_progress(len(todo), f"judge {spec.name}", enabled=progress, unit="battles") as advance:
        for lo in range(0, len(todo), batch_size):
            batch = todo[lo : lo + batch_size]
            battles = _open_battles(database, batch, session_id, rng)
            _judge_batch(database, runner, battles, report, batch_size)
            advance(len(batch))
    return report


def _candidates(
    database: Database, session_id: str, models: Sequence[str] | None, baseline: str | None = None
) -> tuple[list[_Candidate], int]:
    """Unjudged candidates (reusing unvoted battles of this judge) and the number already judged."""
    from core.errors import UserError
    from db import arena_repo

    with database.session(write=False) as s:
        model_ids = _model_ids(s, models) if models is not None else None
        baseline_id = _model_ids(s, [baseline])[0] if baseline is not None else None
        if model_ids is not None and baseline_id is not None and baseline_id not in model_ids:
            model_ids.append(baseline_id)
        newest = arena_repo.newest_answer_ids(s, model_ids)
        existing = arena_repo.session_battles(s, session_id, "judge")
    judged: set[frozenset[int]] = set()
    open_battles: dict[frozenset[int], str] = {}
    for battle, voted in existing:
        key = frozenset((battle.answer_a_id, battle.answer_b_id))
        if voted:
            judged.add(key)
        else:
            open_battles.setdefault(key, battle.id)
    by_prompt: dict[int, dict[int, int]] = {}
    for prompt_id, model_id, answer_id in newest:
        by_prompt.setdefault(prompt_id, {})[model_id] = answer_id
    if not any(len(answers) >= 2 for answers in by_prompt.values()):
        raise UserError("no two models have answered a common prompt; run `evals arena generate` first")
    if baseline_id is not None and not any(
        baseline_id in answers and len(answers) >= 2 for answers in by_prompt.values()
    ):
        raise UserError(f"baseline {baseline!r} shares no answered prompt with another model")
    todo: list[_Candidate] = []
    skipped = 0
    for prompt_id in sorted(by_prompt):
        answers = by_prompt[prompt_id]
        for m1, m2 in combinations(sorted(answers), 2):
            if baseline_id is not None and baseline_id not in (m1, m2):
                continue
            cand = _Candidate(prompt_id, m1, m2, answers[m1], answers[m2])
            if cand.key in judged:
                skipped += 1
            else:
                todo.append(replace(cand, battle_id=open_battles.get(cand.key)))
    return todo, skipped


def _sample(database: Database, todo: list[_Candidate], n: int, rng: np.random.Generator) -> list[_Candidate]:
    """Draw `n` candidates: pair by matchmaking on the judge votes so far, then a prompt uniformly."""
    from arena import matchmaking
    from arena.battles import _win_matrix
    from db import arena_repo

    with database.session(write=False) as s:
        counts = arena_repo.vote_counts(s, "judge")
    ids = sorted({c.model_1 for c in todo} | {c.model_2 for c in todo})
    index = {mid: k for k, mid in enumerate(ids)}
    wins = _win_matrix(counts, index)
    left: dict[tuple[int, int], list[_Candidate]] = {}
    for c in todo:
        left.setdefault((index[c.model_1], index[c.model_2]), []).append(c)
    chosen: list[_Candidate] = []
    while len(chosen) < n and left:
        eligible = np.zeros((len(ids), len(ids)), dtype=bool)
        for i, j in left:
            eligible[i, j] = eligible[j, i] = True
        i, j = matchmaking.choose_pair(wins, eligible, rng)
        group = left[(i, j)]
        chosen.append(group.pop(int(rng.integers(len(group)))))
        if not group:
            del left[(i, j)]
        # A planned, not yet judged battle counts as half a win each way: the pair's count grows
        # (so its information gain shrinks) while the strength estimates stay where they are.
        wins[i, j] += 0.5
        wins[j, i] += 0.5
    return chosen


def _open_battles(
    database: Database, batch: list[_Candidate], session_id: str, rng: np.random.Generator
) -> list[JudgeBattle]:
    """Create the batch's new battles (random sides) and return every battle with its texts."""
    from db import arena_repo
    from db.models import utcnow
    from db.models_arena import Battle

    opened: list[Battle] = []
    with database.session() as s:
        for c in batch:
            if c.battle_id is not None:
                battle = arena_repo.get_battle(s, c.battle_id)
                assert battle is not None
            else:
                (ma, aa), (mb, ab) = (c.model_1, c.answer_1), (c.model_2, c.answer_2)
                if rng.random() < 0.5:
                    (ma, aa), (mb, ab) = (mb, ab), (ma, aa)
                battle = arena_repo.add_battle(
                    s, id=secrets.token_urlsafe(16), prompt_id=c.prompt_id, model_a_id=ma, model_b_id=mb,
                    answer_a_id=aa, answer_b_id=ab, session_id=session_id, served_at=utcnow(), kind="judge",
                )  # fmt: skip
            opened.append(battle)
        texts = arena_repo.answer_texts(s, [x for b in opened for x in (b.answer_a_id, b.answer_b_id)])
        questions = {p.id: p.text for p in arena_repo.list_prompts(s, ids=sorted({b.prompt_id for b in opened}))}
        names = arena_repo.model_names(s, [x for b in opened for x in (b.model_a_id, b.model_b_id)])
    return [
        JudgeBattle(
            battle_id=b.id, prompt_id=b.prompt_id, question=questions[b.prompt_id], answer_a=texts[b.answer_a_id],
            answer_b=texts[b.answer_b_id], model_a=names[b.model_a_id], model_b=names[b.model_b_id],
        )
        for b in opened
    ]  # fmt: skip


def _judge_batch(
    database: Database, runner: Runner, battles: list[JudgeBattle], report: JudgeReport, batch_size: int
) -> None:
    """Score both orders of every battle in one call, then record each combined vote."""
    from arena.errors import VoteRefused
    from arena.votes import VoteLimits, record_vote

    prompts: list[str] = []
    for b in battles:
        a, c = fit_answers(runner, b.question, b.answer_a, b.answer_b)
        prompts.append(judge_prompt(runner, b.question, a, c))  # battle order
        prompts.append(judge_prompt(runner, b.question, c, a))  # swapped
    scores = runner.choice_logprobs(prompts, JUDGE_LABELS, scoring=SCORING, batch_size=batch_size)
    no_limits = VoteLimits(max_votes=None, daily_cap=None)
    strong: list[str] = []
    for k, b in enumerate(battles):
        s1, s2 = scores[2 * k], scores[2 * k + 1]
        first = verdict_level(s1)
        second = swap_level(verdict_level(s2))  # 回答A was the battle's B answer
        level = combine(first, second)
        outcome = level_outcome(level)
        try:
            result = record_vote(database, b.battle_id, report.session_id, outcome, report.judge, limits=no_limits)
        except VoteRefused:
            report.refused += 1  # e.g. a concurrent run of the same judge voted first
            continue
        if is_strong(level):
            strong.append(b.battle_id)
        report.verdicts.append(
            Verdict(
                battle_id=b.battle_id,
                prompt_id=b.prompt_id,
                model_a=b.model_a,
                model_b=b.model_b,
                first=first,
                second=second,
                level=level,
                outcome=outcome,
                scores=(dict(s1), dict(s2)),
                excluded=result.excluded,
            )  # fmt: skip
        )
    if strong:
        from db import arena_repo

        with database.session() as s:
            arena_repo.flag_battle_votes(s, strong, STRONG_FLAG)


def judge_human_agreement(database: Database, judge: str | None = None) -> Agreement:
    """How often the judge agrees with human voters on the same prompt and model pair.

    Every rated human vote is compared with every rated judge vote on the same prompt between
    the same two models (sides do not matter). A comparison agrees when both name the same
    winner or both say tie (either tie kind). `agreement_no_ties` only counts comparisons where
    neither side voted a tie.

    Args:
        database: The arena database.
        judge: Only this judge's votes (its name, i.e. the voter id); None: every judge.

    Returns:
        The counts and agreement fractions (0–1, None when nothing was compared), overall and
        per model pair.
    """
    from db import arena_repo

    with database.session(write=False) as s:
        human = arena_repo.battle_rows(s, "human")
        judged = arena_repo.battle_rows(s, "judge")
    if judge is not None:
        judged = [r for r in judged if r["voter_id"] == judge]
    by_key: dict[tuple[int, frozenset[str]], list[str | None]] = {}
    for r in judged:
        by_key.setdefault(_pair_key(r), []).append(_winner(r))
    compared = agree = compared_nt = agree_nt = 0
    pair_counts: dict[str, list[int]] = {}  # label -> [compared, agree]
    for r in human:
        key = _pair_key(r)
        hw = _winner(r)
        for jw in by_key.get(key, ()):
            same = hw == jw
            compared += 1
            agree += same
            if hw is not None and jw is not None:
                compared_nt += 1
                agree_nt += same
            counts = pair_counts.setdefault(" vs ".join(sorted(key[1])), [0, 0])
            counts[0] += 1
            counts[1] += same
    separable, n_sep, brier, n_brier = _board_measures(database, judge)
    return Agreement(
        separability=separable,
        separability_pairs=n_sep,
        brier=brier,
        brier_pairs=n_brier,
        judge=judge,
        human_votes=len(human),
        judge_votes=len(judged),
        compared=compared,
        agree=agree,
        agreement=agree / compared if compared else None,
        compared_no_ties=compared_nt,
        agree_no_ties=agree_nt,
        agreement_no_ties=agree_nt / compared_nt if compared_nt else None,
        by_pair={
            label: PairAgreement(compared=n, agree=k, agreement=k / n) for label, (n, k) in sorted(pair_counts.items())
        },
    )


def _board_measures(database: Database, judge: str | None) -> tuple[float | None, int, float | None, int]:
    """Separability of the judge board (`judge`'s votes, or every judge's) and its pair-rank Brier
    score against the human board."""
    from arena.judge_ratings import pair_rank_brier, separability
    from arena.snapshots import board_from_db

    boards = {}
    for kind in ("judge", "human"):
        try:
            boards[kind] = board_from_db(database, kind, voter=judge if kind == "judge" else None).board
        except ValueError:  # NoRatedVotes, RatingInputError (one model, disconnected)
            pass
    if "judge" not in boards:
        return None, 0, None, 0
    sep, n_sep = separability(boards["judge"])
    brier, n_brier = pair_rank_brier(boards["judge"], boards["human"]) if "human" in boards else (None, 0)
    return sep, n_sep, brier, n_brier


def _pair_key(row: VotedBattleRow) -> tuple[int, frozenset[str]]:
    return int(row["prompt_id"]), frozenset((row["model_a"], row["model_b"]))


def _winner(row: VotedBattleRow) -> str | None:
    """Winning model name, or None for either tie kind."""
    if row["outcome"] == "model_a":
        return str(row["model_a"])
    if row["outcome"] == "model_b":
        return str(row["model_b"])
    return None


def _model_ids(s: Session, names: Sequence[str]) -> list[int]:
    from core.errors import UserError
    from db import repo

    ids = []
    for name in names:
        model = repo.get_model(s, name)
        if model is None:
            raise UserError(f"unknown model {name!r} (see `evals models list`)")
        ids.append(model.id)
    return ids


def _load(spec: ModelSpec) -> Runner:
    from runners import open_runner

    return open_runner(spec)
