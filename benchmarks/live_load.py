"""Live arena load: N concurrent voters playing full live rounds, on SQLite and PostgreSQL.

Each voter is a thread with its own voter id and session. A round goes through the arena library
exactly as the vote page does: `start_battle` (matchmaking over the live pool) -> `begin_turn`
(both answers stream at once from a real OpenAI-compatible server on loopback) -> poll `texts()`
until done -> `finish()` (both answers stored) -> `record_live_vote` with a tag on each side.
All voters start together. Checks after the run:

* every vote stored exactly once: votes stored == distinct battles == votes accepted, none lost,
  each stored with the outcome and tags its voter sent;
* every answer stored with its time to first token and total latency (p50/p99 of both reported,
  read back from the stored messages, so queueing at the server is in the numbers);
* rounds/s over the wall time of the whole run.

By default the server is `tests/arena/sse_server.py` serving the project's tiny model (built on first
use); `--server vllm` starts vLLM's own server (`vllm serve`, e.g. the CPU build in .venv-vllm) on the
same checkpoint; `--base-url URL --served-model-name M` points the pool at a server already running.
Rate limiting stays on (with a limit no voter reaches) so its per-voter lock is on the measured path.
Run::

    PYTHONPATH=. python benchmarks/live_load.py [--voters 8] [--rounds 5] [--max-new-tokens 16]
        [--backends sqlite,postgresql] [--pg-url URL] [--server loopback|vllm | --base-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from db import Database

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUTCOMES = ("a", "b", "tie", "bothbad")
QUESTIONS = ("你好，介绍一下长城。", "用一句话解释光合作用。", "推荐一本书。", "今天适合做什么？")
POOL = ("load-a", "load-b", "load-c")  # three pool models on the one server, so matchmaking varies the pair


@dataclass(frozen=True)
class LiveLoadResult:
    """Outcome of one live load run on one backend."""

    backend: str
    voters: int
    rounds: int
    accepted: int
    failed_rounds: int
    errors: tuple[str, ...]
    stored_votes: int
    distinct_battles: int
    lost: int
    mismatched: int
    answers: int
    answers_timed: int
    wall_s: float
    ttft_p50_s: float
    ttft_p99_s: float
    latency_p50_s: float
    latency_p99_s: float

    @property
    def rounds_per_s(self) -> float:
        return self.accepted / self.wall_s if self.wall_s else 0.0

    @property
    def ok(self) -> bool:
        n = self.voters * self.rounds
        return (
            self.accepted == n and self.failed_rounds == 0 and not self.errors and self.stored_votes == n
            and self.distinct_battles == n and self.lost == 0 and self.mismatched == 0
            and self.answers == self.answers_timed == 2 * n
        )  # fmt: skip


@dataclass
class _Tally:
    accepted: dict[str, tuple[str, list[str], list[str]]] = field(default_factory=dict)  # battle -> what was sent
    conversations: list[str] = field(default_factory=list)
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _voter(
    database: Database, v: int, rounds: int, start: threading.Barrier, tally: _Tally, lock: threading.Lock
) -> None:
    from arena.live import TAGS, begin_turn, record_live_vote, start_battle
    from arena.votes import VoteLimits

    limits = VoteLimits(max_votes=1_000_000, window_s=60.0)  # on, but never reached
    voter, session = f"load-voter-{v}", f"load-sess-{v}"
    start.wait()
    for r in range(rounds):
        try:
            view = start_battle(database, voter, session, prompt_origin="typed")
            with lock:
                tally.conversations.append(view.conversation_id)
            turn = begin_turn(database, view.battle_id, session, QUESTIONS[(v + r) % len(QUESTIONS)])
            while not turn.done():
                turn.texts()  # what the page does while it streams
                time.sleep(0.02)
            result = turn.finish()
            if result.failed_reason is not None:
                with lock:
                    tally.failed += 1
                continue
            outcome = OUTCOMES[(v + r) % len(OUTCOMES)]
            tags_a, tags_b = [TAGS[v % len(TAGS)]], [TAGS[(v + r + 1) % len(TAGS)]]
            vote = record_live_vote(database, view.battle_id, session, outcome, voter, tags_a=tags_a, tags_b=tags_b,
                                    limits=limits)  # fmt: skip
            with lock:
                tally.accepted[view.battle_id] = (vote.outcome, tags_a, tags_b)
        except Exception as exc:  # counted, reported; the run goes on
            with lock:
                tally.errors.append(f"voter {v} round {r}: {type(exc).__name__}: {exc}"[:300])


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else float("nan")


def run_live_load(url: str, backend: str, voters: int, rounds: int, *, base_url: str, served_model_name: str = "tiny",
                  max_new_tokens: int = 16, min_new_tokens: int = 0,
                  timeout_s: float = 120.0) -> LiveLoadResult:  # fmt: skip
    """Fill a fresh database's live pool with `base_url`, run the voters, verify. See the module docstring."""
    from sqlalchemy import select

    from arena.live_pool import add_pool_model
    from db import Database
    from db.models_live import LiveVote, Message
    from runners.base import GenParams

    database = Database(url)
    params = GenParams(max_new_tokens=max_new_tokens, temperature=0.0, min_new_tokens=min_new_tokens)
    for name in POOL:
        add_pool_model(database, name, base_url=base_url, served_model_name=served_model_name, params=params)
    tally, lock = _Tally(), threading.Lock()
    start = threading.Barrier(voters + 1)
    threads = [threading.Thread(target=_voter, args=(database, v, rounds, start, tally, lock), name=f"voter-{v}")
               for v in range(voters)]  # fmt: skip
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=timeout_s * rounds * 4)
    wall = time.perf_counter() - t0

    with database.session(write=False) as s:
        votes = s.execute(select(LiveVote.battle_id, LiveVote.outcome, LiveVote.tags_a, LiveVote.tags_b)).all()
        msgs = s.execute(
            select(Message.ttft_s, Message.latency_s).where(
                Message.role == "assistant", Message.conversation_id.in_(tally.conversations)
            )
        ).all()
    database.dispose()
    stored = {b: (o, list(ta or []), list(tb or [])) for b, o, ta, tb in votes}
    lost = sum(1 for b in tally.accepted if b not in stored)
    mismatched = sum(1 for b, sent in tally.accepted.items() if b in stored and stored[b] != sent)
    timed = [(ttft, lat) for ttft, lat in msgs if ttft is not None and lat is not None and 0 < ttft <= lat]
    ttfts, lats = [x for x, _ in timed], [y for _, y in timed]
    return LiveLoadResult(
        backend=backend, voters=voters, rounds=rounds, accepted=len(tally.accepted), failed_rounds=tally.failed,
        errors=tuple(tally.errors), stored_votes=len(votes), distinct_battles=len(stored), lost=lost,
        mismatched=mismatched, answers=len(msgs), answers_timed=len(timed), wall_s=wall,
        ttft_p50_s=statistics.median(ttfts) if ttfts else float("nan"), ttft_p99_s=_quantile(ttfts, 0.99),
        latency_p50_s=statistics.median(lats) if lats else float("nan"), latency_p99_s=_quantile(lats, 0.99),
    )  # fmt: skip


@contextmanager
def tiny_server(model_dir: str | None = None) -> Iterator[str]:
    """The loopback OpenAI-compatible server of the tests, serving the tiny model as "tiny"; yields its base URL."""
    from core.model_spec import ModelSpec
    from runners import open_runner
    from runners.chat_stream import HFChatStreamer
    from tests.arena.sse_server import serve_chat

    if model_dir is None:
        from training.tiny import default_tiny_dir

        model_dir = str(default_tiny_dir(progress=False))
    streamer = HFChatStreamer(open_runner(ModelSpec(name="tiny", path=model_dir)), timeout_s=120)
    with serve_chat(streamer) as srv:
        yield srv.url


@contextmanager
def vllm_server(model_dir: str | None = None) -> Iterator[str]:
    """vLLM's own server on loopback serving the tiny model as "tiny"; yields its base URL."""
    import tempfile

    from tests.vllm_server import serve_vllm, vllm_unusable

    if reason := vllm_unusable():
        sys.exit(f"--server vllm: {reason} (make install-vllm, then run with .venv-vllm/bin/python)")
    if model_dir is None:
        from training.tiny import default_tiny_dir

        model_dir = str(default_tiny_dir(progress=False))
    with tempfile.TemporaryDirectory() as tmp, serve_vllm(Path(model_dir), "tiny", Path(tmp) / "vllm.log") as url:
        yield url


def print_table(results: list[LiveLoadResult]) -> None:
    head = (
        "| backend | voters × rounds | votes accepted | stored | duplicated | lost | failed rounds | errors | "
        "answers timed | wall | rounds/s | TTFT p50 / p99 | latency p50 / p99 |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in results:
        print(
            f"| {r.backend} | {r.voters} × {r.rounds} | {r.accepted} | {r.stored_votes} | "
            f"{r.stored_votes - r.distinct_battles} | {r.lost} | {r.failed_rounds} | {len(r.errors)} | "
            f"{r.answers_timed}/{r.answers} | {r.wall_s:.1f} s | {r.rounds_per_s:.2f} | "
            f"{r.ttft_p50_s:.2f} / {r.ttft_p99_s:.2f} s | {r.latency_p50_s:.2f} / {r.latency_p99_s:.2f} s |"
        )
    for r in results:
        for e in r.errors[:5]:
            print(f"  {r.backend} error: {e}", file=sys.stderr)


def main() -> None:
    from benchmarks.vote_load import backend_url

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--voters", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5, help="rounds per voter")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--min-new-tokens", type=int, default=0, help="hold off the end: answers of a known length")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", "--db", dest="pg_url", default=os.environ.get("EVALS_TEST_PG_URL"))
    ap.add_argument("--server", choices=("loopback", "vllm"), default="loopback",
                    help="which server to start for the tiny model (ignored with --base-url)")  # fmt: skip
    ap.add_argument("--base-url", help="an OpenAI-compatible server already running")
    ap.add_argument("--served-model-name", default="tiny")
    ap.add_argument("--model", help="checkpoint for the loopback server (default: the project's tiny model)")
    args = ap.parse_args()
    results = []
    if args.base_url is not None:
        server = _given(args.base_url)
    else:
        server = vllm_server(args.model) if args.server == "vllm" else tiny_server(args.model)
    print(f"server: {args.base_url or args.server}", file=sys.stderr)
    with server as base_url:
        for backend in args.backends.split(","):
            with backend_url(backend, args.pg_url) as url:
                if url is None:
                    print(f"skipping {backend}: no --pg-url / EVALS_TEST_PG_URL", file=sys.stderr)
                    continue
                print(f"{backend}: {args.voters} voters × {args.rounds} live rounds ...", file=sys.stderr)
                results.append(run_live_load(url, backend, args.voters, args.rounds, base_url=base_url,
                                             served_model_name=args.served_model_name,
                                             max_new_tokens=args.max_new_tokens,
                                             min_new_tokens=args.min_new_tokens))  # fmt: skip
    print_table(results)
    if not all(r.ok for r in results):
        sys.exit(1)


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
