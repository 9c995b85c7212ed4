"""`--sla "p99_ttft<1s,p50_tpot<50ms"`: parse the objectives and search the highest concurrency meeting them.

The search doubles the concurrency from the start level until a level misses the SLA (or the ceiling
is reached), then bisects between the last level that met it and the first that missed. It assumes
latency does not fall as concurrency grows; every level tried is kept, so the table shows the evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import UserError
from evals.perf.metrics import PERCENTILES

LATENCIES = ("ttft", "tpot", "itl", "e2el")
_TERM = re.compile(r"^\s*(mean|p(\d{1,2}))_(\w+?)\s*(<=|<)\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*$")


@dataclass(frozen=True, slots=True)
class Objective:
    metric: str  # the summary key, e.g. "ttft_p99_ms"
    limit_ms: float
    inclusive: bool  # "<=" rather than "<"
    text: str  # as the user wrote it

    def met(self, summary: Mapping[str, Any]) -> bool:
        value = summary.get(self.metric)
        if value is None:  # nothing measured (every request failed): not met
            return False
        return bool(value <= self.limit_ms if self.inclusive else value < self.limit_ms)


def parse_sla(text: str) -> list[Objective]:
    """'p99_ttft<1s' (comma-separated terms, all must hold; units s or ms, default ms) -> objectives.

    Raises:
        UserError: a term does not parse or names an unknown statistic.
    """
    out = []
    for term in (t for t in text.split(",") if t.strip()):
        m = _TERM.match(term)
        usage = "write e.g. --sla 'p99_ttft<1s' or 'p50_tpot<=40ms,p99_ttft<2s'"
        if not m:
            raise UserError(f"--sla: cannot read {term.strip()!r}; {usage}")
        stat, q, latency, op, number, unit = m.groups()
        if latency not in LATENCIES:
            raise UserError(f"--sla: unknown latency {latency!r} in {term.strip()!r} ({', '.join(LATENCIES)})")
        if q is not None and int(q) not in PERCENTILES:
            known = ", ".join(f"p{p}" for p in PERCENTILES)
            raise UserError(f"--sla: p{q} is not reported; use mean or {known}")
        limit = float(number) * (1000.0 if unit == "s" else 1.0)
        if limit <= 0:
            raise UserError(f"--sla: the limit in {term.strip()!r} must be above zero")
        out.append(Objective(f"{latency}_{stat}_ms", limit, op == "<=", term.strip()))
    if not out:
        raise UserError("--sla is empty; write e.g. --sla 'p99_ttft<1s'")
    return out


def meets(objectives: list[Objective], summary: Mapping[str, Any]) -> bool:
    return bool(summary.get("completed")) and not summary.get("failed") and all(o.met(summary) for o in objectives)


def search(try_level: Callable[[int], bool], *, start: int = 1, ceiling: int = 256) -> int | None:
    """The highest concurrency in [start, ceiling] for which `try_level` holds (None: not even `start`).

    `try_level(c)` runs and records level c; it is called once per level at most."""
    seen: dict[int, bool] = {}

    def ok(c: int) -> bool:
        if c not in seen:
            seen[c] = try_level(c)
        return seen[c]

    if not ok(start):
        return None
    good, bad = start, None
    while bad is None and good < ceiling:
        nxt = min(good * 2, ceiling)
        if ok(nxt):
            good = nxt
        else:
            bad = nxt
    if bad is None:
        return good
    while bad - good > 1:
        mid = (good + bad) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good
