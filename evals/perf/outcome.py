"""A perf run's result: one summary per level tried, the SLA verdicts, and how it renders."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evals.perf.load import Level

if TYPE_CHECKING:
    from rich.console import Console

# The per-level numbers kept as the run's metrics ({metric: {level label: value}}).
LEVEL_METRICS = (
    "completed", "failed", "duration_s", "client_cpu_s", "request_throughput", "output_throughput", "total_token_throughput",
    *(f"{n}_{s}_ms" for n in ("ttft", "tpot", "itl", "e2el") for s in ("mean", "p50", "p90", "p99")),
)  # fmt: skip


@dataclass(slots=True)
class LevelResult:
    level: Level
    summary: dict[str, Any]
    met: bool | None = None  # SLA verdict (None: no SLA)


@dataclass(slots=True)
class PerfOutcome:
    suite: str
    model: str
    backend: str
    run_id: str
    settings: dict[str, Any]
    levels: list[LevelResult] = field(default_factory=list)
    sla: str | None = None
    sla_concurrency: int | None = None  # the highest concurrency that met the SLA (None: none did)
    elapsed_s: float = 0.0
    db_url: str = ""

    def metrics(self) -> dict[str, Any]:
        """What the run stores as metrics: the headline peak throughput, the SLA answer, every level's numbers."""
        out: dict[str, Any] = {}
        tput = [r.summary["output_throughput"] for r in self.levels if "output_throughput" in r.summary]
        if tput:
            out["peak_output_throughput"] = max(tput)
        if self.sla is not None:
            out["sla_concurrency"] = self.sla_concurrency or 0
        for key in LEVEL_METRICS:
            by_level = {r.level.label: r.summary[key] for r in self.levels if r.summary.get(key) is not None}
            if by_level:
                out[key] = by_level
        return out

    def document(self) -> dict[str, Any]:
        def level_doc(r: LevelResult) -> dict[str, Any]:
            rate = r.level.rate
            return {
                "level": r.level.label, "concurrency": r.level.concurrency,
                "rate": None if rate is None else ("inf" if math.isinf(rate) else rate),
                **({"sla_met": r.met} if r.met is not None else {}), **r.summary,
            }  # fmt: skip

        return {
            "suite": self.suite, "run_id": self.run_id, "model": self.model, "backend": self.backend,
            "settings": self.settings, "levels": [level_doc(r) for r in self.levels],
            "sla": None if self.sla is None else {"objective": self.sla, "max_concurrency": self.sla_concurrency},
            "metrics": self.metrics(), "elapsed_s": round(self.elapsed_s, 3),
        }  # fmt: skip

    def render(self, console: Console) -> None:
        from rich.table import Table

        def ms(s: dict[str, Any], key: str) -> str:
            v = s.get(key)
            return "–" if v is None else f"{v:.1f}"

        table = Table(title=f"perf · {self.model} · {self.backend}")
        heads = ["level", "ok/sent", "req/s", "out tok/s", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99",
                 "ITL p50", "E2E p50"]  # fmt: skip
        for h in heads:
            table.add_column(h, justify="left" if h == "level" else "right")
        if self.sla is not None:
            table.add_column("SLA")
        for r in self.levels:
            s = r.summary
            cells = [
                r.level.label, f"{s['completed']}/{s['requests']}", f"{s.get('request_throughput', 0):.2f}",
                f"{s.get('output_throughput', 0):.1f}", ms(s, "ttft_p50_ms"), ms(s, "ttft_p99_ms"),
                ms(s, "tpot_p50_ms"), ms(s, "tpot_p99_ms"), ms(s, "itl_p50_ms"), ms(s, "e2el_p50_ms"),
            ]  # fmt: skip
            if self.sla is not None:
                cells.append("met" if r.met else "missed")
            table.add_row(*cells)
        console.print(table)
        console.print("[dim]latencies in ms; TPOT = (latency − TTFT) / (output tokens − 1), as vllm bench serve[/]")
        if self.sla is not None:
            found = f"concurrency {self.sla_concurrency}" if self.sla_concurrency else "no concurrency tried"
            console.print(f"SLA {self.sla}: highest level meeting it: [bold]{found}[/]")
        console.print(f"[dim]run {self.run_id} · {self.elapsed_s:.1f} s · {self.db_url}[/]")
