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
3. Judging: the judge reads a Chinese pairwise prompt (`JUDGE_SYSTEM` and a user turn) twice,
   once with the battle's sides and once with the two answers swapped, so a preference for a
   position cancels out. Both orders are built from the same answers, shortened alike when the
   prompt would not fit the judge's context (`fit_answers`). The verdict is read in one of two
   ways (``verdict``, CLI ``--verdict``):

   - ``labels`` (default): the verdict is not generated text: we score the five labels ``1`` …
     ``5`` of `JUDGE_TEMPLATE` (Arena-Hard-Auto's A>>B, A>B, A=B, B>A, B>>A; digits, so no label
     reads like an answer's name) as the next token after the prompt (`Runner.choice_logprobs`,
     scoring "logprob") and take the best. Small or weakly tuned models rarely produce a parsable
     free-form verdict, but always give a distribution over these tokens, so every battle gets a
     verdict and nothing depends on output parsing. It needs prompt log-probs, which many chat
     APIs do not give.
   - ``generate``: Arena-Hard-Auto's way. The judge writes a judgment through its chat template
     (`Runner.generate`, greedy, up to ``max_tokens``, which the prompt fitting keeps free): a
     short analysis of both answers ending in one mark, ``[[A>>B]]`` … ``[[B>>A]]``
     (`arena.judge_verdict`: template and parser; a text counts only when it names exactly one
     distinct verdict). Any chat model can judge this way, API judges included; a server that
     cannot count tokens gets a character estimate for the fitting. When an order's judgment has
     no verdict, the battle gets no vote in this run: it stays open, the next run judges it
     again, and the report counts it (`JudgeReport.no_verdict`, `NoVerdict`). The judgments are
     kept in the report (`Verdict.judgments`, ``--json``).
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
from typing import TYPE_CHECKING, Any, Final, TypedDict

import numpy as np

from arena.judge_ratings import STRONG_FLAG
from arena.judge_verdict import COMPARISON
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
JUDGE_TEMPLATE = COMPARISON + (
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
# How the verdict is read: "labels" scores the five digit labels as the next token (default);
# "generate" lets the judge write a judgment ending in a verdict mark (`arena.judge_verdict`).
VERDICT_MODES: tuple[str, ...] = ("labels", "generate")
DEFAULT_JUDGE_MAX_TOKENS = 1024
MAX_JUDGE_MAX_TOKENS = 8192
# Generate mode, server-side chat template: tokens its role markers may add around our text.
TEMPLATE_MARGIN = 32
# At least this many prompt tokens must fit beside the judgment (else the answers are cut to nothing).
MIN_PROMPT_ROOM = 256

RunnerFactory = Callable[["ModelSpec"], "Runner"]
PromptBuilder = Callable[["Runner", str, str, str], str]  # (runner, question, answer A, answer B) -> prompt


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
        scores: Label log-probs ({"1" … "5"}) of the first and the second order (labels mode;
            None in generate mode).
        excluded: The vote was kept out of ratings (identity leak in an answer).
        judgments: The judge's texts of the first and the second order (generate mode; None in
            labels mode).
    """

    battle_id: str
    prompt_id: int
    model_a: str
    model_b: str
    first: str
    second: str
    level: str
    outcome: str
    scores: tuple[dict[str, float], dict[str, float]] | None
    excluded: bool = False
    judgments: tuple[str, str] | None = None

    @property
    def consistent(self) -> bool:
        """Both orders gave the same verdict (no position bias on this battle)."""
        return level_outcome(self.first) == level_outcome(self.second)


@dataclass(frozen=True, slots=True)
class NoVerdict:
    """A battle of a generate-mode run where an order's judgment had no verdict (`parse_verdict`).

    It gets no vote: the battle stays open and the next run judges it again.

    Attributes:
        battle_id, prompt_id, model_a, model_b: As in `Verdict`.
        first: Level of the battle's order, None when that judgment had none.
        second: Level of the swapped order (mapped back to the battle's sides), or None.
        judgments: The judge's texts of the two orders.
    """

    battle_id: str
    prompt_id: int
    model_a: str
    model_b: str
    first: str | None
    second: str | None
    judgments: tuple[str, str]


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
        undecided: Generate mode: battles where at least one order's judgment had no verdict
            (no vote; judged again by the next run).
        verdict_mode: "labels" or "generate" (`VERDICT_MODES`).
    """

    judge: str
    session_id: str
    verdicts: list[Verdict] = field(default_factory=list)
    skipped: int = 0
    not_sampled: int = 0
    refused: int = 0
    undecided: list[NoVerdict] = field(default_factory=list)
    verdict_mode: str = "labels"

    @property
    def judged(self) -> int:
        return len(self.verdicts)

    @property
    def no_verdict(self) -> int:
        """Battles left without a vote because a judgment named no single verdict."""
        return len(self.undecided)

    @property
    def consistent(self) -> int:
        """Judged battles where both orders agreed."""
        return sum(v.consistent for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        """The run as a JSON document (`evals arena judge --json`): counts, then one entry per battle
        judged now, voted or not: sides, both orders' levels, the combined level and outcome, and
        the judge's judgments (generate mode) or label scores (labels mode)."""
        battles: list[dict[str, Any]] = []
        for v in self.verdicts:
            battles.append({
                "battle_id": v.battle_id, "prompt_id": v.prompt_id, "model_a": v.model_a, "model_b": v.model_b,
                "first": v.first, "second": v.second, "level": v.level, "outcome": v.outcome,
                "strong": is_strong(v.level), "voted": True, "excluded": v.excluded,
                **({"judgments": list(v.judgments)} if v.judgments is not None else {}),
                **({"scores": [dict(x) for x in v.scores]} if v.scores is not None else {}),
            })  # fmt: skip
        for u in self.undecided:
            battles.append({
                "battle_id": u.battle_id, "prompt_id": u.prompt_id, "model_a": u.model_a, "model_b": u.model_b,
                "first": u.first, "second": u.second, "level": None, "outcome": None, "strong": False,
                "voted": False, "excluded": False, "judgments": list(u.judgments),
            })  # fmt: skip
        return {
            "judge": self.judge, "verdict": self.verdict_mode, "judged": self.judged, "no_verdict": self.no_verdict,
            "already_judged": self.skipped, "not_sampled": self.not_sampled, "refused": self.refused,
            "consistent": self.consistent, "battles": battles,
        }  # fmt: skip

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


def generate_prompt_text(runner: Runner, question: str, answer_a: str, answer_b: str) -> str:
    """What a generate-mode judge reads, for counting tokens: the chat-rendered system and user turns,
    or (a server renders its own template) the two joined as plain text."""
    from arena.judge_verdict import generate_user_prompt

    user = generate_user_prompt(question, answer_a, answer_b)
    try:
        return runner.apply_chat_template(
            [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]
        )
    except VerbUnsupported:
        return JUDGE_SYSTEM + "\n\n" + user
    except Exception:  # a template without a system role
        return runner.apply_chat_template([{"role": "user", "content": JUDGE_SYSTEM + "\n\n" + user}])


def fit_answers(
    runner: Runner,
    question: str,
    answer_a: str,
    answer_b: str,
    *,
    prompt: PromptBuilder | None = None,
    reserve: int = 0,
    count: Callable[[str], int] | None = None,
) -> tuple[str, str]:
    """Shorten both answers by the same share (keeping their beginnings) until the prompt fits the judge.

    Both orders are built from the same shortened texts, so the swap stays exact.

    Args:
        prompt: Builds the prompt text that is counted (default `judge_prompt`, the labels mode's).
        reserve: Tokens kept free after the prompt (generate mode: the judgment's `max_tokens`).
        count: Counts a text's tokens (default `runner.count_tokens`).
    """
    build = prompt or judge_prompt
    tokens = count or runner.count_tokens
    limit = max(64, int(runner.info.max_length) - 8 - reserve)
    a, b = answer_a, answer_b
    na, nb = len(answer_a), len(answer_b)
    for _ in range(6):
        n = tokens(build(runner, question, a, b))
        if n <= limit or na + nb == 0:
            break
        answer_tokens = tokens(a) + tokens(b)
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
    verdict: str = "labels",
    max_tokens: int = DEFAULT_JUDGE_MAX_TOKENS,
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
        batch_size: Battles per scoring or generate call (each battle is read twice) and per commit.
        progress: Show a progress bar.
        verdict: "labels" (score the five digit labels) or "generate" (the judge writes a judgment
            ending in a verdict mark; greedy, through its chat template).
        max_tokens: Generate mode: new tokens per judgment (kept free of the prompt when fitting).

    Returns:
        The report (verdicts, skipped, not sampled, no verdict).

    Raises:
        UserError: Unknown judge or model name, bad `pairs`, `verdict` or `max_tokens`, fewer than
            two models with answers, or (generate mode) a judge without a chat template or whose
            context has no room for a prompt beside `max_tokens`.
    """
    from core.errors import UserError
    from db.model_lookup import resolve_model

    if pairs is not None and pairs < 1:
        raise UserError("--pairs must be at least 1")
    if verdict not in VERDICT_MODES:
        raise UserError(f"--verdict must be {' or '.join(VERDICT_MODES)}, got {verdict!r}")
    if not 1 <= max_tokens <= MAX_JUDGE_MAX_TOKENS:
        raise UserError(f"--judge-max-tokens must be 1 to {MAX_JUDGE_MAX_TOKENS}, got {max_tokens}")
    spec = resolve_model(judge, database=database)
    session_id = judge_session(spec.name)
    if len(session_id) > 128:
        raise UserError(f"judge name {spec.name!r} is too long (at most {128 - len(SESSION_PREFIX)} characters)")
    rng = rng if rng is not None else np.random.default_rng()
    report = JudgeReport(judge=spec.name, session_id=session_id, verdict_mode=verdict)

    todo, report.skipped = _candidates(database, session_id, models, baseline)
    if pairs is not None and len(todo) > pairs:
        chosen = _sample(database, todo, pairs, rng)
        report.not_sampled = len(todo) - len(chosen)
        todo = chosen
    if not todo:
        return report

    runner = runner_factory(spec) if runner_factory else _load(spec, database)
    if verdict == "generate":
        _check_generate(runner, spec.name, max_tokens)
        read: _Reader = _GenerateReader(runner, max_tokens, batch_size)
    else:
        read = _LabelReader(runner, batch_size)
    from core.progress import item_progress

    with item_progress(len(todo), f"judge {spec.name}", enabled=progress, unit="battles") as advance:
        for lo in range(0, len(todo), batch_size):
            batch = todo[lo : lo + batch_size]
            battles = _open_battles(database, batch, session_id, rng)
            _judge_batch(database, read, battles, report)
            advance(len(batch))
    return report


def _check_generate(runner: Runner, name: str, max_tokens: int) -> None:
    from core.errors import UserError

    if not runner.info.has_chat_template:
        raise UserError(f"judge {name} has no chat template; --verdict generate needs a chat model")
    room = int(runner.info.max_length) - max_tokens - 8
    if room < MIN_PROMPT_ROOM:
        raise UserError(
            f"--judge-max-tokens {max_tokens} leaves {max(room, 0)} of the judge's {runner.info.max_length} "
            f"context tokens for the prompt (at least {MIN_PROMPT_ROOM} needed); lower it"
        )


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


# One order's reading of a battle: (level in the order shown, label scores or None, judgment text or None).
_Reading = tuple[str | None, dict[str, float] | None, str | None]
_Reader = Callable[[list[JudgeBattle]], list[tuple[_Reading, _Reading]]]


class _LabelReader:
    """Labels mode: score the five digit labels after both orders' prompts, in one call."""

    def __init__(self, runner: Runner, batch_size: int) -> None:
        self.runner, self.batch_size = runner, batch_size

    def __call__(self, battles: list[JudgeBattle]) -> list[tuple[_Reading, _Reading]]:
        prompts: list[str] = []
        for b in battles:
            a, c = fit_answers(self.runner, b.question, b.answer_a, b.answer_b)
            prompts.append(judge_prompt(self.runner, b.question, a, c))  # battle order
            prompts.append(judge_prompt(self.runner, b.question, c, a))  # swapped
        scores = self.runner.choice_logprobs(prompts, JUDGE_LABELS, scoring=SCORING, batch_size=self.batch_size)
        readings = [(verdict_level(sc), dict(sc), None) for sc in scores]
        return [(readings[2 * k], readings[2 * k + 1]) for k in range(len(battles))]


class _GenerateReader:
    """Generate mode: the judge writes a judgment per order (greedy, chat), parsed by `parse_verdict`."""

    def __init__(self, runner: Runner, max_tokens: int, batch_size: int) -> None:
        from runners.base import GenParams

        self.runner, self.batch_size = runner, batch_size
        self.params = GenParams(max_new_tokens=max_tokens, temperature=0.0)
        self._count_ok = True

    def _count(self, text: str) -> int:
        """The judge's token count; a server that cannot count (no `/completions`, e.g. a chat-only
        API) gets a character count plus the template margin instead: about one token per Chinese
        character, more than enough for English text."""
        from runners.errors import RemoteError

        if self._count_ok:
            try:
                return self.runner.count_tokens(text)
            except RemoteError:  # VerbUnsupported included
                self._count_ok = False
        return len(text) + TEMPLATE_MARGIN

    def __call__(self, battles: list[JudgeBattle]) -> list[tuple[_Reading, _Reading]]:
        from arena.judge_verdict import generate_user_prompt, parse_verdict

        prompts: list[str] = []
        for b in battles:
            a, c = fit_answers(
                self.runner,
                b.question,
                b.answer_a,
                b.answer_b,
                prompt=generate_prompt_text,
                reserve=self.params.max_new_tokens,
                count=self._count,
            )
            prompts.append(generate_user_prompt(b.question, a, c))  # battle order
            prompts.append(generate_user_prompt(b.question, c, a))  # swapped
        texts = self.runner.generate(prompts, self.params, chat=True, system=JUDGE_SYSTEM, batch_size=self.batch_size)
        readings = [(parse_verdict(t), None, t) for t in texts]
        return [(readings[2 * k], readings[2 * k + 1]) for k in range(len(battles))]


def _judge_batch(database: Database, read: _Reader, battles: list[JudgeBattle], report: JudgeReport) -> None:
    """Read both orders of every battle, then record each combined vote (none without two verdicts)."""
    from arena.errors import VoteRefused
    from arena.votes import VoteLimits, record_vote

    no_limits = VoteLimits(max_votes=None, daily_cap=None)
    strong: list[str] = []
    for b, ((l1, s1, t1), (l2, s2, t2)) in zip(battles, read(battles), strict=True):
        first = l1
        second = swap_level(l2) if l2 is not None else None  # 回答A was the battle's B answer
        judgments = (t1, t2) if t1 is not None and t2 is not None else None
        if first is None or second is None:
            assert judgments is not None  # only a generated judgment can lack a verdict
            report.undecided.append(NoVerdict(b.battle_id, b.prompt_id, b.model_a, b.model_b, first, second, judgments))
            continue  # no vote: the battle stays open for the next run
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
                scores=(s1, s2) if s1 is not None and s2 is not None else None,
                excluded=result.excluded,
                judgments=judgments,
            )
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


def _load(spec: ModelSpec, database: Database) -> Runner:
    from arena.answers import open_logged_runner  # an API judge's requests are audited like answers'

    return open_logged_runner(spec, database)
