"""`make candidates`: train the four candidates (training/candidates.py), then measure them all.

    tiny base -> continued pre-training -> LoRA SFT and full SFT
    then held-out PPL (direct), the C-Eval and PPL suites, and arena answers for each

This is application code: it wires training, the evals suites library and the arena together,
calling each library directly (no CLI subprocesses). Run: `python -m evals.cli.candidates [--db URL] [--quick]`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from training.candidates import RES, Candidate, build, heldout_nll

if TYPE_CHECKING:
    from db import Database


def evaluate(
    cands: list[Candidate], database: Any, *, quick: bool = False, log: Callable[..., None] = print
) -> dict[str, dict[str, float]]:
    """Held-out PPL (direct), then stored C-Eval and PPL runs for every candidate."""
    from db.model_lookup import resolve_model
    from evals.engine import execute
    from evals.suite_api import SuiteOptions
    from training.tiny import heldout_text

    table: dict[str, dict[str, float]] = {}
    text = heldout_text()
    for c in cands:
        nll, n = heldout_nll(c["path"], text, adapter_path=c["adapter_path"])
        table[c["name"]] = {"heldout_nll": nll, "heldout_ppl": math.exp(nll), "tokens": n}
    for c in cands:
        spec = resolve_model(c["name"], database=database)
        ceval = execute("ceval", SuiteOptions(limit=1 if quick else None), spec, database=database, progress=not quick)
        # --context 128: the tiny models are trained on 128-token blocks only
        ppl_opts = SuiteOptions(data=RES / "heldout_zh.txt", extra={"mode": "chunks", "context": 128, "stride": None})
        ppl = execute("ppl", ppl_opts, spec, database=database, progress=not quick)
        table[c["name"]].update(ceval=ceval.metrics["accuracy"], ppl=ppl.metrics["ppl"])
        log(f"  {c['name']:32s} C-Eval {ceval.metrics['accuracy']:.1%}  PPL suite {ppl.metrics['ppl']:.1f}")
    log("\nheld-out PPL (training/resources/heldout_zh.txt, 128-token rolling windows):")
    for name, row in table.items():
        log(f"  {name:32s} NLL {row['heldout_nll']:.4f}  PPL {row['heldout_ppl']:8.1f}  ({row['tokens']:.0f} tokens)")
    return table


def answer(names: list[str], database: Database, *, limit: int | None, quick: bool = False) -> None:
    """Arena answers of every candidate to the first `limit` starter-bank prompts (imported if missing)."""
    from arena.answers import DEFAULT_PARAMS, generate_answers
    from arena.bank import import_bank, starter_bank_path

    import_bank(database, starter_bank_path())  # idempotent: duplicates are counted, not stored twice
    params = replace(DEFAULT_PARAMS, max_new_tokens=64)
    generate_answers(database, names, None, params, limit=limit, progress=not quick)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: EVALS_DB_URL or the user SQLite file)")
    ap.add_argument("--quick", action="store_true", help="a few steps each (smoke test)")
    ap.add_argument("--no-arena", action="store_true", help="skip arena answer generation")
    ap.add_argument(
        "--arena-prompts",
        type=int,
        default=16,
        help="answer the first N bank prompts (0 = all; default 16 keeps the loop to minutes on CPU)",
    )
    a = ap.parse_args(argv)
    from evals.cli.options import open_database

    t0 = time.perf_counter()
    database = open_database(a.db)
    cands = build(database, quick=a.quick)
    evaluate(cands, database, quick=a.quick)
    names = [c["name"] for c in cands]
    if not a.no_arena:
        answer(names, database, limit=4 if a.quick else (a.arena_prompts or None), quick=a.quick)
    print(f"candidates: {','.join(names)}  ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
