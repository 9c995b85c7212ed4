"""Arena vote load: many processes voting at once through `arena.record_vote`, on SQLite and PostgreSQL.

Setup (not timed): a fresh database with 6 models and stored answers; `procs × votes` battles
served with `arena.serve_battle`, each to its own session. Then `procs` worker processes start
together. Worker p owns battles [p·V, (p+1)·V) and, for each i:

1. votes on its own battle i (the voter's normal vote), then
2. replays the vote on battle i of worker p+1 with *that* battle's session and voter — a double
   submit (second tab, network retry) racing the owner's vote on the same battle.

So every battle receives exactly two attempts at about the same time and exactly one may win.
Checks after the run:

* zero lost: every accepted vote is in the database with the outcome the winner sent;
* zero duplicated: votes == distinct battle ids == procs × votes;
* refused doubles counted: refusals with code "already_voted" == procs × votes, no other errors.

Rate limiting stays on (with a limit no voter reaches) so its query and per-voter lock are part of
the measured path. Run::

    PYTHONPATH=. python benchmarks/vote_load.py [--procs 8] [--votes 500] [--backends sqlite,postgresql]

PostgreSQL comes from `--pg-url` or `EVALS_TEST_PG_URL` (a throw-away schema is created and dropped).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N_MODELS = 6
N_PROMPTS = 12
OUTCOMES = ("a", "b", "tie", "bothbad")


@dataclass(frozen=True)
class LoadResult:
    """Outcome of one load run on one backend."""

    backend: str
    procs: int
    votes_per_proc: int
    attempts: int
    accepted: int
    refused_double: int
    other_errors: int
    stored: int
    distinct_battles: int
    lost: int
    mismatched: int
    wall_s: float
    p50_ms: float
    p99_ms: float
    serve_ms: float

    @property
    def ok(self) -> bool:
        n = self.procs * self.votes_per_proc
        return (
            self.accepted == n and self.refused_double == n and self.other_errors == 0 and self.stored == n
            and self.distinct_battles == n and self.lost == 0 and self.mismatched == 0
        )  # fmt: skip


def setup(url: str, n_battles: int, seed: int = 0) -> tuple[list[tuple[str, str]], float]:
    """Create models, prompts and answers, then serve `n_battles` battles.

    Returns:
        ([(battle_id, session_id)] in serving order, mean serve_battle latency in ms).
    """
    import numpy as np

    from arena.battles import serve_battle
    from db import Database, arena_repo, repo

    database = Database(url)
    with database.session() as s:
        model_ids = [repo.upsert_model(s, f"load-model-{k}", "/nonexistent").id for k in range(N_MODELS)]
        arena_repo.add_prompts(
            s, [{"text": f"压测问题 {k}", "norm_hash": f"load-{k}", "category": "通用知识", "lang": "zh",
                 "source": "vote_load"} for k in range(N_PROMPTS)],
        )  # fmt: skip
        prompts = arena_repo.list_prompts(s)
        arena_repo.add_answers(
            s, [{"prompt_id": p.id, "model_id": m, "text": f"回答 {m}-{p.id}", "gen_params": {}, "params_hash": "load"}
                for p in prompts for m in model_ids],
        )  # fmt: skip
    rng = np.random.default_rng(seed)
    battles = []
    t0 = time.perf_counter()
    for k in range(n_battles):
        session = f"sess-{k}"
        battles.append((serve_battle(database, session, rng=rng).battle_id, session))
    serve_ms = (time.perf_counter() - t0) * 1000 / max(1, n_battles)
    database.dispose()
    return battles, serve_ms


def _worker(args: tuple[str, int, int, list[tuple[str, str]], list[tuple[str, str]], Any]) -> dict[str, Any]:
    """One process: vote own battle i, then replay the neighbour's battle i. Returns tallies."""
    url, p, procs, own, neighbour, start = args
    from arena.errors import VoteRefused
    from arena.votes import VoteLimits, record_vote
    from db import Database

    database = Database(url)
    limits = VoteLimits(max_votes=1_000_000, window_s=60.0)  # on, but never reached
    accepted: list[tuple[str, str]] = []
    refused: dict[str, int] = {}
    errors: list[str] = []
    latencies: list[float] = []
    start.wait()  # all workers begin together
    for i in range(len(own)):
        for (battle_id, session), voter_of in ((own[i], p), (neighbour[i], (p + 1) % procs)):
            outcome = OUTCOMES[(i + voter_of) % len(OUTCOMES)]
            t0 = time.perf_counter()
            try:
                r = record_vote(database, battle_id, session, outcome, f"voter-{voter_of}", limits=limits)
                accepted.append((battle_id, r.outcome))
            except VoteRefused as exc:
                refused[exc.code] = refused.get(exc.code, 0) + 1
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            latencies.append(time.perf_counter() - t0)
    database.dispose()
    return {"accepted": accepted, "refused": refused, "errors": errors, "latencies": latencies}


def run_load(url: str, backend: str, procs: int, votes: int, *, seed: int = 0) -> LoadResult:
    """Set up a fresh database at `url`, run the load, verify it. See the module docstring."""
    from sqlalchemy import func, select

    from db import Database
    from db.models_arena import Vote

    battles, serve_ms = setup(url, procs * votes, seed)
    chunks = [battles[p * votes : (p + 1) * votes] for p in range(procs)]
    ctx = mp.get_context("spawn")  # fresh interpreters: no connection or lock inherited by fork
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(procs) as pool:
            pending = pool.map_async(
                _worker, [(url, p, procs, chunks[p], chunks[(p + 1) % procs], start) for p in range(procs)]
            )
            time.sleep(min(30.0, 1.0 + 0.5 * procs))  # let every worker import and connect
            t0 = time.perf_counter()
            start.set()
            results = pending.get()
            wall = time.perf_counter() - t0

    accepted = [a for r in results for a in r["accepted"]]
    refused: dict[str, int] = {}
    for r in results:
        for code, n in r["refused"].items():
            refused[code] = refused.get(code, 0) + n
    errors = [e for r in results for e in r["errors"]]
    for e in errors[:5]:
        print(f"  error: {e}", file=sys.stderr)
    latencies = sorted(x for r in results for x in r["latencies"])

    database = Database(url)
    with database.session(write=False) as s:
        stored = dict(s.execute(select(Vote.battle_id, Vote.outcome)).all())
        n_votes = int(s.scalar(select(func.count()).select_from(Vote)) or 0)
    database.dispose()
    lost = sum(1 for b, _ in accepted if b not in stored)
    mismatched = sum(1 for b, o in accepted if b in stored and stored[b] != o)
    return LoadResult(
        backend=backend, procs=procs, votes_per_proc=votes, attempts=2 * procs * votes, accepted=len(accepted),
        refused_double=refused.pop("already_voted", 0), other_errors=len(errors) + sum(refused.values()),
        stored=n_votes, distinct_battles=len(stored), lost=lost, mismatched=mismatched, wall_s=wall,
        p50_ms=1000 * statistics.median(latencies), p99_ms=1000 * latencies[int(0.99 * (len(latencies) - 1))],
        serve_ms=serve_ms,
    )  # fmt: skip


@contextmanager
def backend_url(backend: str, pg_url: str | None) -> Iterator[str | None]:
    """A fresh database URL: a temp SQLite file, or a throw-away schema on `pg_url` (None if unset)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/vote_load.db"
        return
    if not pg_url:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"vote_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def print_table(results: list[LoadResult]) -> None:
    head = (
        "| backend | procs × votes | attempts | accepted | refused doubles | other errors | stored | lost | "
        "duplicated | wall | votes/s (attempts/s) | p50 / p99 latency | serve_battle |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in results:
        dup = r.stored - r.distinct_battles
        print(
            f"| {r.backend} | {r.procs} × {r.votes_per_proc} | {r.attempts} | {r.accepted} | {r.refused_double} | "
            f"{r.other_errors} | {r.stored} | {r.lost} | {dup} | {r.wall_s:.1f} s | "
            f"{r.accepted / r.wall_s:.0f} ({r.attempts / r.wall_s:.0f}) | {r.p50_ms:.1f} / {r.p99_ms:.1f} ms | "
            f"{r.serve_ms:.1f} ms |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--votes", type=int, default=500, help="votes per process (each also replays as many doubles)")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", default=os.environ.get("EVALS_TEST_PG_URL"))
    args = ap.parse_args()
    results = []
    for backend in args.backends.split(","):
        with backend_url(backend, args.pg_url) as url:
            if url is None:
                print(f"skipping {backend}: no --pg-url / EVALS_TEST_PG_URL", file=sys.stderr)
                continue
            print(f"{backend}: serving {args.procs * args.votes} battles, then {args.procs} processes vote ...",
                  file=sys.stderr)  # fmt: skip
            results.append(run_load(url, backend, args.procs, args.votes))
    print_table(results)
    if not all(r.ok for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
