"""What every suite provides to the run engine. Suites are small classes registered with @suite."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class SuiteOptions:
    """The `evals run` options a suite may read (each suite ignores what it does not use)."""

    data: Path | None = None  # None = the embedded sample data
    split: str | None = None  # None = the suite's default split
    shots: int = 0
    subjects: tuple[str, ...] = ()
    limit: int | None = None
    chat: bool = False
    template: str = "llama2"
    scoring: str = "cla2"
    protocol: str = "cla2"
    extra: dict[str, Any] = field(default_factory=dict)  # suite-specific (ppl mode, tasks, ...)


@dataclass(slots=True)
class Plan:
    """A suite's prepared work: the items (each with a unique `.key`) and what identifies them."""

    items: Sequence[Any]
    split: str
    prompt_version: str
    data_fingerprint: str
    identity: dict[str, Any]  # suite-specific settings that change results (go into the run hash)
    context: dict[str, Any] = field(default_factory=dict)  # whatever predict() needs (exemplars, ...)
    labelled: bool = True


class Suite(Protocol):
    name: str

    def plan(self, opts: SuiteOptions) -> Plan:
        """Load and validate the data (official layout); raise UserError on bad input."""
        ...

    def predict(self, runner: Any, plan: Plan, items: Sequence[Any], *, batch_size: int) -> Iterator[list[dict]]:
        """Yield stored rows (item_id, subject, pred, gold, correct, score, extra) chunk by chunk."""
        ...

    def aggregate(self, plan: Plan, rows: Sequence[dict]) -> dict[str, Any]:
        """Headline metrics in the `--json` shape (e.g. accuracy, by_category, by_subject)."""
        ...

    def item_json(self, row: dict) -> dict[str, Any]:
        """One `items[]` entry of the `--json` document."""
        ...
