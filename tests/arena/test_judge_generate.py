"""`--verdict generate`: the judge writes a judgment ending in [[A>>B]] … [[B>>A]].

The API path runs the real `OpenAIRunner` against the loopback OpenAI-compatible server of
`tests/arena/sse_server.py`, with a scripted judge behind it whose judgments depend on markers in
the answers it reads, so every stored outcome, strong flag and no-verdict count is known exactly.
The local path runs the real tiny model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from arena.battles import battle_records
from arena.judge import JUDGE_SYSTEM, NoVerdict, judge_battles
from arena.judge_verdict import generate_user_prompt, parse_verdict, verdict_marks
from core.errors import UserError
from db import Database, arena_repo, exchange_repo, repo
from runners.base import GenParams
from runners.chat_stream import StreamEnd, StreamEvent
from runners.openai_backend import OpenAIRunner
from tests.arena.sse_server import ChatServer, serve_chat
from tests.arena.store_fixtures import add_models_with_answers, chat_model_dir, database, db_url
from tests.arena.test_judge import judge_battle_count, section, seed_real
from tests.evals.cli_helpers import run_cli

SERVED = "judge-served"

# ----------------------------------------------------------------------------- the parser

PARSE_CASES = [
    ("两个回答都正确，A更详细。\n最终结论：[[A>B]]", "A>B"),
    ("[[A>>B]]", "A>>B"),
    ("B明显更好。[[B>>A]]", "B>>A"),
    ("平局 [[A=B]]", "A=B"),
    ("[[B=A]]", "A=B"),  # the same tie written the other way round
    ("结论：[[B>A]]。", "B>A"),
    ("结论：[[A > B]]", "A>B"),  # spaces inside
    ("结论：[[ B >> A ]]", "B>>A"),
    ("结论：[[A> >B]]", "A>>B"),
    ("结论：［［Ａ＞＞Ｂ］］", "A>>B"),  # full-width brackets, letters and signs
    ("结论：［［B　＞　A］］", "B>A"),  # full-width spaces
    ("结论：【A>B】", None),  # not a verdict mark
    ("两个回答都不错，难分高下。", None),  # no verdict
    ("", None),
    ("[[A<B]] [[C>A]] [[A>A]]", None),  # not among the five forms
    ("起初我认为[[A>B]]，再看细节后：[[B>A]]", None),  # two different verdicts: undecided, not the last
    ("[[A>B]] 或者 [[A>>B]]", None),  # strength differs: still two verdicts
    ("初看[[B>>A]]。复核后维持：[[B>>A]]", "B>>A"),  # the same verdict twice is one verdict
    ("[[A>B]]\n[[A > B]]\n［［A＞B］］", "A>B"),
]


@pytest.mark.parametrize(("text", "level"), PARSE_CASES)
def test_parse_verdict(text: str, level: str | None) -> None:
    assert parse_verdict(text) == level


def test_verdict_marks_in_order() -> None:
    assert verdict_marks("先[[A>B]]，后［［B＞＞A］］，再[[A=B]]") == ["A>B", "B>>A", "A=B"]


# ----------------------------------------------------------------------------- a scripted judge


class ScriptedJudge:
    """A `ChatStreamer` that judges by markers in the answers it reads (served over HTTP by `serve_chat`).

    GOOD: that answer is better (strongly; MILD makes it slight); REPEAT names the verdict in the
    analysis too; WIDE writes it in full-width characters. BIAS (in both): always [[A>B]], whatever
    the order. NONE: no verdict. HALF: no verdict while the HALF answer is shown first. TWICE: two
    different verdicts. With `decided`, NONE, HALF and TWICE judge like GOOD (the re-run).
    """

    def __init__(self) -> None:
        self.decided = False
        self.seen: list[tuple[str | None, str, GenParams]] = []

    def stream_chat(
        self, messages: Sequence[Mapping[str, str]], params: GenParams, *, system: str | None = None
    ) -> Iterator[StreamEvent]:
        user = messages[-1]["content"]
        self.seen.append((system, user, params))
        text = self.judgment(section(user, "A"), section(user, "B"))
        yield from (text[:5], text[5:])
        yield StreamEnd("stop", prompt_tokens=len(user), completion_tokens=len(text))

    def judgment(self, a: str, b: str) -> str:
        both = a + b
        undecided = any(m in both for m in ("NONE", "HALF", "TWICE"))
        if "BIAS" in both:
            return "回答A写得更好。\n[[A>B]]"
        if undecided and not self.decided:
            if "NONE" in both:
                return "两个回答各有长处，难以取舍。"
            if "HALF" in a:
                return "回答A看起来更好，但我不确定。"
            if "TWICE" in both:
                return "起初我认为[[A>B]]，仔细比较后改变看法。\n[[B>A]]"
        winner = "A" if ("GOOD" in a or ("NONE" in a or "HALF" in a or "TWICE" in a)) else "B"
        loser = "B" if winner == "A" else "A"
        mark = f"[[{winner}{'>' if 'MILD' in both else '>>'}{loser}]]"
        if "WIDE" in both:
            mark = mark.translate(str.maketrans("[]>AB", "［］＞ＡＢ"))
        analysis = f"回答{winner}更准确、更完整。" + (f"初步判断{mark}。" if "REPEAT" in both else "")
        return analysis + "\n最终结论：" + mark


# k -> (m1's answer, m2's answer); the expected winner, strength and order readings follow from the markers.
TEXTS = {
    0: ("GOOD 北京是首都。", "普通回答。"),  # m1, strong
    1: ("GOOD MILD 长城很长。", "普通回答。"),  # m1, slight
    2: ("BIAS 回答一。", "BIAS 回答二。"),  # position bias: [[A>B]] both orders -> tie
    3: ("普通回答。", "GOOD REPEAT WIDE 四季。"),  # m2, strong (full-width, named twice)
    4: ("NONE 回答。", "普通回答。"),  # no verdict in either order
    5: ("HALF 回答。", "普通回答。"),  # no verdict in one order
    6: ("普通回答。", "TWICE 回答。"),  # contradictory
}


def seed_scripted(database: Database) -> list[int]:
    texts = {(m, k): pair[i] for k, pair in TEXTS.items() for i, m in enumerate(("m1", "m2"))}
    _, prompt_ids = add_models_with_answers(database, ("m1", "m2"), len(TEXTS), texts=texts)
    with database.session() as s:
        repo.upsert_model(s, "api-judge", SERVED, backend="openai")
    return prompt_ids


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedJudge, ChatServer]]:
    judge = ScriptedJudge()
    with serve_chat(judge, SERVED) as srv:
        yield judge, srv


def api_factory(srv: ChatServer, calls: list[str]) -> Any:
    def factory(spec):  # type: ignore[no-untyped-def]
        calls.append(spec.name)
        return OpenAIRunner(spec.path, base_url=srv.url, name=spec.name, max_length=4096)

    return factory


def side(v: Any, model: str) -> str:
    """ "A" or "B": where `model` sits in the battle."""
    return "A" if v.model_a == model else "B"


def test_api_judge_generates_judgments(database: Database, scripted: tuple[ScriptedJudge, ChatServer]) -> None:
    judge, srv = scripted
    prompt_ids = seed_scripted(database)
    k_of = {pid: k for k, pid in enumerate(prompt_ids)}
    calls: list[str] = []
    report = judge_battles(
        database, "api-judge", runner_factory=api_factory(srv, calls), rng=np.random.default_rng(5), batch_size=3,
        progress=False, verdict="generate", max_tokens=200,
    )  # fmt: skip
    assert calls == ["api-judge"] and report.verdict_mode == "generate"
    assert (report.judged, report.no_verdict, report.skipped, report.refused) == (4, 3, 0, 0)

    # Every battle was asked twice, through the chat endpoint, greedy, with our system text and token budget.
    chats = [r["body"] for r in srv.requests if "messages" in r["body"]]
    assert len(chats) == 2 * len(TEXTS)
    # One try to count tokens on /completions (the server has none): then characters, not 13 more tries.
    assert [sorted(r["body"]) for r in srv.requests if "messages" not in r["body"]] == [
        ["max_tokens", "model", "prompt", "temperature"]
    ]
    for body in chats:
        assert body["model"] == SERVED and body["temperature"] == 0.0 and body["max_tokens"] == 200
        assert body["messages"][0] == {"role": "system", "content": JUDGE_SYSTEM}
        assert body["messages"][1]["content"].endswith("[[B>>A]] —— 回答B明显更好")
    # ... the second time with the answers swapped (requests of a batch run concurrently: match by text).
    asked = {m["messages"][1]["content"] for m in chats}
    with database.session(write=False) as s:
        for v in [*report.verdicts, *report.undecided]:
            battle = arena_repo.get_battle(s, v.battle_id)
            assert battle is not None
            a, b = arena_repo.battle_answers(s, battle)
            question = arena_repo.list_prompts(s, ids=[battle.prompt_id])[0].text
            assert generate_user_prompt(question, a, b) in asked and generate_user_prompt(question, b, a) in asked

    by_k = {k_of[v.prompt_id]: v for v in report.verdicts}
    assert sorted(by_k) == [0, 1, 2, 3]
    strong_m1 = "A>>B" if side(by_k[0], "m1") == "A" else "B>>A"
    assert (by_k[0].first, by_k[0].second, by_k[0].level) == (strong_m1, strong_m1, strong_m1)
    slight_m1 = "A>B" if side(by_k[1], "m1") == "A" else "B>A"
    assert (by_k[1].first, by_k[1].second, by_k[1].level) == (slight_m1, slight_m1, slight_m1)
    # [[A>B]] in both orders: the swapped one maps back to B>A, so the battle is a tie.
    assert (by_k[2].first, by_k[2].second, by_k[2].level, by_k[2].outcome) == ("A>B", "B>A", "A=B", "tie")
    strong_m2 = "A>>B" if side(by_k[3], "m2") == "A" else "B>>A"
    assert (by_k[3].first, by_k[3].second, by_k[3].level) == (strong_m2, strong_m2, strong_m2)
    winners = {k: (v.model_a if v.outcome == "model_a" else v.model_b if v.outcome == "model_b" else None)
               for k, v in by_k.items()}  # fmt: skip
    assert winners == {0: "m1", 1: "m1", 2: None, 3: "m2"}
    assert report.consistent == 3
    for v in report.verdicts:
        assert v.scores is None and v.judgments is not None and all("结论" in t or "[[" in t for t in v.judgments)
    assert "［［" in by_k[3].judgments[0]  # type: ignore[index]

    undecided = {k_of[u.prompt_id]: u for u in report.undecided}
    assert sorted(undecided) == [4, 5, 6]
    assert (undecided[4].first, undecided[4].second) == (None, None)
    assert (undecided[6].first, undecided[6].second) == (None, None)
    half = undecided[5]  # a verdict only in the order that shows m1's HALF answer second
    assert (half.first, half.second) == ((None, "A>>B") if side(half, "m1") == "A" else ("B>>A", None))
    assert isinstance(half, NoVerdict) and len(half.judgments) == 2

    # Stored: four votes, strong flags on the two strong ones; the undecided battles stay open.
    stored = {r["question_id"]: r for r in battle_records(database, "judge")}
    assert len(stored) == 4
    with database.session(write=False) as s:
        flags = {r["battle_id"]: r["flags"] for r in arena_repo.rating_rows(s, "judge")}
    assert {k_of[v.prompt_id] for v in report.verdicts if flags[v.battle_id] == "strong"} == {0, 3}
    assert judge_battle_count(database) == 7

    # Re-run: only the three undecided battles are judged again, in their existing battles.
    judge.decided = True
    before = len(srv.requests)
    again = judge_battles(
        database, "api-judge", runner_factory=api_factory(srv, calls), progress=False, verdict="generate",
        max_tokens=200,
    )  # fmt: skip
    assert (again.judged, again.no_verdict, again.skipped) == (3, 0, 4)
    assert len(srv.requests) - before == 7 and judge_battle_count(database) == 7  # 1 count try + 6 chats
    assert {v.battle_id for v in again.verdicts} == {u.battle_id for u in report.undecided}
    assert {v.model_a if v.outcome == "model_a" else v.model_b for v in again.verdicts} == {"m1", "m2"}
    # Everything judged: the judge is not even opened.
    last = judge_battles(database, "api-judge", runner_factory=api_factory(srv, calls), progress=False,
                         verdict="generate")  # fmt: skip
    assert (last.judged, last.skipped) == (0, 7) and calls == ["api-judge", "api-judge"]


def test_generate_prompt_fits_beside_the_judgment(
    database: Database, scripted: tuple[ScriptedJudge, ChatServer]
) -> None:
    """A long answer is cut so that prompt + `max_tokens` fit the judge's context (server tokens
    estimated from characters: the loopback server has no /completions to count them)."""
    judge, srv = scripted
    texts = {("m1", 0): "GOOD " + "很" * 3000, ("m2", 0): "普通回答。"}
    add_models_with_answers(database, ("m1", "m2"), 1, texts=texts)
    with database.session() as s:
        repo.upsert_model(s, "api-judge", SERVED, backend="openai")

    def factory(spec):  # type: ignore[no-untyped-def]
        return OpenAIRunner(spec.path, base_url=srv.url, name=spec.name, max_length=1500)

    with pytest.raises(UserError, match="--judge-max-tokens 1400 leaves 92 of the judge's 1500 context tokens"):
        judge_battles(database, "api-judge", runner_factory=factory, progress=False, verdict="generate",
                      max_tokens=1400)  # fmt: skip
    assert judge_battle_count(database) == 0 and judge.seen == []
    report = judge_battles(database, "api-judge", runner_factory=factory, progress=False, verdict="generate",
                           max_tokens=500)  # fmt: skip
    assert report.judged == 1 and len(judge.seen) == 2
    for system, user, params in judge.seen:
        assert system == JUDGE_SYSTEM and params.max_new_tokens == 500
        assert len(JUDGE_SYSTEM) + 2 + len(user) + 32 <= 1500 - 8 - 500
        assert "（回答过长，以下省略）" in user and "很很很" in user
    with pytest.raises(UserError, match="--verdict must be labels or generate"):
        judge_battles(database, "api-judge", verdict="words", progress=False)


# ----------------------------------------------------------------------------- the real tiny model


def test_tiny_judge_generate_mode(database: Database, chat_model_dir: Path) -> None:
    """The tiny model writes no verdict mark: nothing is voted, every battle is counted and stays open."""
    seed_real(database, chat_model_dir)
    from runners import load_runner

    def factory(spec):  # type: ignore[no-untyped-def]
        return load_runner(spec.backend, spec.path, name=spec.name, device="cpu")

    report = judge_battles(database, "tiny-judge", runner_factory=factory, rng=np.random.default_rng(0),
                           progress=False, verdict="generate", max_tokens=24)  # fmt: skip
    assert (report.judged, report.no_verdict, report.refused) == (0, 3, 0)
    assert all(len(u.judgments) == 2 and (u.first, u.second) == (None, None) for u in report.undecided)
    assert battle_records(database, "judge") == [] and judge_battle_count(database) == 3
    again = judge_battles(database, "tiny-judge", runner_factory=factory, progress=False, verdict="generate",
                          max_tokens=24)  # fmt: skip
    assert (again.no_verdict, again.skipped) == (3, 0) and judge_battle_count(database) == 3


# ----------------------------------------------------------------------------- CLI


def test_cli_generate_json(tmp_path: Path, scripted: tuple[ScriptedJudge, ChatServer]) -> None:
    judge, srv = scripted
    db = f"sqlite:///{tmp_path / 'gen.db'}"
    database = Database(db)
    seed_scripted(database)
    database.dispose()
    key = "sk-judge-secret-4242"
    env = {"EVALS_BASE_URL": srv.url, "EVALS_API_KEY": key}
    out = tmp_path / "out" / "judge.json"
    base = ("arena", "judge", "--judge", "api-judge", "--verdict", "generate", "--no-progress", "--db", db)

    res = run_cli(*base, "--json", str(tmp_path), env=env)  # a directory: refused before any request
    assert res.returncode == 2 and "is a directory" in res.stderr and srv.requests == []
    res = run_cli(*base, "--verdict", "words", env=env)
    assert res.returncode == 2 and "--verdict must be labels or generate" in res.stderr
    res = run_cli(*base, "--judge-max-tokens", "0", env=env)
    assert res.returncode == 2

    res = run_cli(*base, "--judge-max-tokens", "300", "--seed", "2", "--json", str(out), env=env)
    assert res.returncode == 0, res.stderr
    assert "judge api-judge: judged 4 battles" in res.stdout
    assert "ties 1, strong 2)" in res.stdout and "no verdict 3 (left open for the next run)" in res.stdout
    assert {r["auth"] for r in srv.requests} == {f"Bearer {key}"} and len(srv.requests) == 1 + 14
    assert all(r["body"]["max_tokens"] == 300 for r in srv.requests if "messages" in r["body"])
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert (doc["judge"], doc["verdict"], doc["judged"], doc["no_verdict"]) == ("api-judge", "generate", 4, 3)
    assert len(doc["battles"]) == 7 and {b["voted"] for b in doc["battles"]} == {True, False}
    for b in doc["battles"]:
        assert set(b) >= {"battle_id", "prompt_id", "model_a", "model_b", "first", "second", "level", "outcome"}
        assert len(b["judgments"]) == 2 and "scores" not in b
        assert (b["level"] is None) == (not b["voted"])
    assert sum(b["strong"] for b in doc["battles"]) == 2
    assert key not in out.read_text(encoding="utf-8") and key not in res.stdout + res.stderr
    with Database(db).session(write=False) as s:  # every judge request is audited like the answers'
        logged = exchange_repo.recent_exchanges(s, "api-judge", limit=100)
        assert len(logged) == len(srv.requests) and not any(key in json.dumps(e.request) for e in logged)

    res = run_cli(*base, "--json", str(out), env=env)  # re-run: the three open battles only
    assert res.returncode == 0, res.stderr
    assert "judged 0 battles, no verdict 3 (left open for the next run), already judged 4" in res.stdout
    assert len(srv.requests) == 15 + 7 and len(json.loads(out.read_text(encoding="utf-8"))["battles"]) == 3


def test_cli_labels_json(chat_model_dir: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    database = Database(db)
    seed_real(database, chat_model_dir)
    database.dispose()
    out = tmp_path / "labels.json"
    res = run_cli("arena", "judge", "--judge", "tiny-judge", "--no-progress", "--json", str(out), "--db", db)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert (doc["verdict"], doc["judged"], doc["no_verdict"]) == ("labels", 3, 0)
    for b in doc["battles"]:
        assert b["voted"] and "judgments" not in b and b["level"] in ("A>>B", "A>B", "A=B", "B>A", "B>>A")
        assert [sorted(s) for s in b["scores"]] == [["1", "2", "3", "4", "5"]] * 2
        assert re.fullmatch(r"model_a|model_b|tie", b["outcome"])
