"""The options of a perf run, checked once (a bad value is a one-line UserError before anything is sent)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import UserError
from evals.perf.load import Level
from evals.perf.prompts import SOURCES
from evals.perf.sla import Objective, parse_sla

DEFAULT_INPUT_LEN = 256
DEFAULT_OUTPUT_LEN = 128
SLA_CEILING = 256  # the SLA search's highest concurrency unless --concurrency names one


@dataclass(frozen=True, slots=True)
class PerfSettings:
    concurrency: tuple[int, ...]
    rates: tuple[float, ...]
    sla: str | None
    num_prompts: int | None  # per level; None = 4 x concurrency (at least 8), or 32 per open-loop level
    input_len: int
    output_len: int
    prompts: str
    duration_s: float | None
    warmup: int
    tokenizer: str | None
    ignore_eos: bool
    seed: int = 0

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> PerfSettings:
        conc = tuple(extra.get("concurrency") or ())
        for c in conc:
            if not isinstance(c, int) or c < 1:
                raise UserError(f"--concurrency: {c} is not a whole number of at least 1")
        rates = tuple(float(r) for r in extra.get("rate") or ())
        for r in rates:
            if not r > 0 or math.isnan(r):
                raise UserError(f"--rate: {r:g} requests/s must be above zero (inf sends all at once)")
        sla = extra.get("sla")
        if sla is not None:
            parse_sla(sla)
            if rates:
                raise UserError("--sla searches over concurrency; leave out --rate")
        prompts = extra.get("prompts") or "fixed"
        if prompts not in SOURCES:
            raise UserError(f"--prompts: {prompts!r} is not one of {', '.join(SOURCES)}")
        positive = {"num_prompts": "--num-prompts", "input_len": "--input-len", "output_len": "--output-len"}
        for key, flag in positive.items():
            v = extra.get(key)
            if v is not None and v < 1:
                raise UserError(f"{flag} must be at least 1, got {v}")
        duration = extra.get("duration")
        if duration is not None and not duration > 0:
            raise UserError(f"--duration must be above zero seconds, got {duration:g}")
        warmup = int(extra.get("warmup") or 0)
        if warmup < 0:
            raise UserError(f"--warmup must be 0 or more, got {warmup}")
        return cls(
            concurrency=conc, rates=rates, sla=sla, num_prompts=extra.get("num_prompts"),
            input_len=extra.get("input_len") or DEFAULT_INPUT_LEN, output_len=extra.get("output_len") or DEFAULT_OUTPUT_LEN,
            prompts=prompts, duration_s=duration, warmup=warmup, tokenizer=extra.get("tokenizer"),
            ignore_eos=bool(extra.get("ignore_eos")),
        )  # fmt: skip

    @property
    def objectives(self) -> list[Objective]:
        return parse_sla(self.sla) if self.sla else []

    def sweep(self) -> list[Level]:
        """The levels of a sweep (an SLA search picks its own)."""
        if self.rates:
            cap = max(self.concurrency) if self.concurrency else None
            return [Level(concurrency=cap, rate=r) for r in self.rates]
        return [Level(concurrency=c) for c in (self.concurrency or (1,))]

    def search_range(self) -> tuple[int, int]:
        """(start, ceiling) of the SLA search: two or more --concurrency values bound it, one is the ceiling."""
        if len(self.concurrency) >= 2:
            return min(self.concurrency), max(self.concurrency)
        return 1, (self.concurrency[0] if self.concurrency else SLA_CEILING)

    def n_requests(self, level: Level) -> int:
        if self.num_prompts is not None:
            return self.num_prompts
        return 32 if level.rate is not None else max(8, 4 * (level.concurrency or 1))

    def identity(self) -> dict[str, Any]:
        d = asdict(self)
        d["rates"] = ["inf" if math.isinf(r) else r for r in self.rates]
        return d
