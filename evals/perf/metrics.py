"""One streamed request's timings, and the summary of a level's requests.

Definitions follow `vllm bench serve` so the two tools' numbers compare (benchmarks/RESULTS.md):
- TTFT: request sent -> first piece of text received.
- TPOT (per request): (latency - TTFT) / (output tokens - 1); requests with one output token have none.
- ITL: every gap between two consecutive text pieces, pooled over requests.
- E2E latency: request sent -> last piece of text (the usage chunk and `[DONE]` after it carry no token),
  so latency - TTFT is the sum of the request's ITL gaps.
- Throughput over the level's wall time (first send -> last finish): requests/s, output tokens/s,
  and total (prompt + output) tokens/s.
Percentiles interpolate linearly between order statistics (numpy's default, as vLLM's report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (50, 90, 99)


@dataclass(slots=True)
class RequestTiming:
    """One request of a load level (times in seconds; `start_s` is relative to the level's start)."""

    seq: int
    start_s: float
    ok: bool = False
    ttft_s: float | None = None
    latency_s: float | None = None
    itl_s: list[float] = field(default_factory=list)  # gaps between consecutive pieces of text
    prompt_tokens: int | None = None
    output_tokens: int | None = None  # the server's usage count; the number of pieces when it sends none
    error: str | None = None

    @property
    def tpot_s(self) -> float | None:
        if not self.ok or self.ttft_s is None or self.latency_s is None or not self.output_tokens:
            return None
        return (self.latency_s - self.ttft_s) / (self.output_tokens - 1) if self.output_tokens > 1 else None


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between order statistics."""
    if not values:
        raise ValueError("percentile of no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _stats(name: str, values: Sequence[float], out: dict[str, Any]) -> None:
    """`{name}_mean_ms`, `{name}_p50_ms`, ... (milliseconds); absent when there are no values."""
    if not values:
        return
    out[f"{name}_mean_ms"] = 1000 * sum(values) / len(values)
    for q in PERCENTILES:
        out[f"{name}_p{q}_ms"] = 1000 * percentile(values, q)


def summarize(rows: Sequence[RequestTiming], duration_s: float) -> dict[str, Any]:
    """The level's numbers: counts, throughput and latency statistics (flat, numbers only)."""
    ok = [r for r in rows if r.ok]
    out: dict[str, Any] = {
        "requests": len(rows),
        "completed": len(ok),
        "failed": len(rows) - len(ok),
        "duration_s": duration_s,
    }
    prompt = sum(r.prompt_tokens or 0 for r in ok)
    output = sum(r.output_tokens or 0 for r in ok)
    out["input_tokens"], out["output_tokens"] = prompt, output
    if duration_s > 0:
        out["request_throughput"] = len(ok) / duration_s
        out["output_throughput"] = output / duration_s
        out["total_token_throughput"] = (prompt + output) / duration_s
    _stats("ttft", [r.ttft_s for r in ok if r.ttft_s is not None], out)
    _stats("tpot", [t for r in ok if (t := r.tpot_s) is not None], out)
    _stats("itl", [g for r in ok for g in r.itl_s], out)
    _stats("e2el", [r.latency_s for r in ok if r.latency_s is not None], out)
    return out
