"""What every suite provides to the run engine, and what it declares to the rest of the product.

A suite is one class in `evals/suites/<file>.py`, registered with `@suite("name")` (evals/registry.py).
It subclasses `Suite[Item, Context]` and declares `capabilities = SuiteCapabilities(...)`: which
`evals run` options it reads, whether its items shard, whether stored rows can be rescored, its headline
metric and how the report renders it. The CLI, the report and the dashboards read only this declaration
(never probe a suite or compare its name), so a new suite is one new file plus its tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypedDict, get_args

from typing_extensions import TypeVar

from runners import Runner

if TYPE_CHECKING:
    from rich.console import Console

    from core.model_spec import ModelSpec
    from db import Database


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
    extra: dict[str, Any] = field(default_factory=dict)  # the suite-specific options it declares (EXTRA_OPTIONS)


# The suite-specific `evals run` options, by their key in `SuiteOptions.extra` -> the CLI flag. A suite
# lists the keys it reads in `SuiteCapabilities.options`; the CLI passes a suite only those.
EXTRA_OPTIONS: dict[str, str] = {
    "tasks": "--tasks",
    "sampling": "--sampling",
    "max_length": "--max-length",
    "max_new_tokens": "--max-new-tokens",
    "by_length": "--by-length",
    "mode": "--mode",
    "context": "--context",
    "stride": "--stride",
    "precisions": "--precisions",
    "suites": "--suites",
    "ceval_data": "--ceval-data",
    "variants": "--variants",
    "lmeval_include": "--lmeval-include",
    "concurrency": "--concurrency",
    "rate": "--rate",
    "sla": "--sla",
    "num_prompts": "--num-prompts",
    "input_len": "--input-len",
    "output_len": "--output-len",
    "prompts": "--prompts",
    "duration": "--duration",
    "warmup": "--warmup",
    "tokenizer": "--tokenizer",
    "ignore_eos": "--ignore-eos",
}

# Choice scorings that read raw logits (a vLLM engine must be started for them; servers never return them).
RAW_LOGIT_SCORINGS = frozenset({"cla2", "bare_logit"})

# How `evals.report` renders a run of the suite.
ReportKind = Literal["multiple_choice", "longbench", "perplexity", "quantization", "perf", "metrics"]
REPORT_KINDS: tuple[str, ...] = get_args(ReportKind)


class ItemRow(TypedDict):
    """One stored item result: what `predict` yields, the db stores and `aggregate` reads back."""

    item_id: str
    subject: str
    pred: str | None
    gold: str | None
    correct: bool | None
    score: float | None
    extra: dict[str, Any]


def item_row(
    item_id: str,
    *,
    subject: str = "",
    pred: str | None = None,
    gold: str | None = None,
    correct: bool | None = None,
    score: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ItemRow:
    """The one place item rows are built (suites and the engine's read-back alike)."""
    return ItemRow(
        item_id=str(item_id), subject=subject or "", pred=pred, gold=gold, correct=correct, score=score,
        extra=dict(extra or {}),
    )  # fmt: skip


class StoredItem(Protocol):
    """An item result as `db.repo.item_results` returns it (read-only here)."""

    @property
    def item_id(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def pred(self) -> str | None: ...
    @property
    def gold(self) -> str | None: ...
    @property
    def correct(self) -> bool | None: ...
    @property
    def score(self) -> float | None: ...
    @property
    def extra(self) -> Mapping[str, Any] | None: ...


def stored_row(r: StoredItem) -> ItemRow:
    return item_row(
        r.item_id, subject=r.subject, pred=r.pred, gold=r.gold, correct=r.correct, score=r.score, extra=r.extra
    )


@dataclass(frozen=True, slots=True)
class Headline:
    """A suite's headline number: the `evals results` column and, with `column`, the leaderboard's."""

    metric: str  # top-level key of aggregate()'s metrics
    short: str  # label in `evals results` ("acc")
    percent: bool = False  # a 0-1 fraction shown as a percentage
    digits: int = 2
    column: str | None = None  # leaderboard column title next to arena ratings; None = not shown there

    def format(self, value: float) -> str:
        return f"{self.short} {value:.{self.digits}{'%' if self.percent else 'f'}}"


@dataclass(frozen=True, slots=True)
class SuiteCapabilities:
    """What a suite declares about itself; checked by `@suite` when its module is imported."""

    title: str  # display name ("C-Eval")
    report: ReportKind = "metrics"
    headline: Headline | None = None
    options: frozenset[str] = frozenset()  # keys of EXTRA_OPTIONS it reads from SuiteOptions.extra
    multiple_choice: bool = False  # items are questions with lettered options, scored by `choice_scoring`
    quantizable: bool = True  # `evals run --quant` applies
    shardable: bool = True  # `--data-parallel` may split its items over workers
    rescorable: bool = False  # `rescore_rows` recomputes item scores from stored rows (`evals rescore`)
    loads_model: bool = False  # `external_runner` describes the model; the suite's own harness loads it
    composite: bool = False  # `orchestrate` runs the whole thing (other suites, a load test); no items of its own
    scores_files: bool = False  # `score_files` scores prediction files in the benchmark's layout (`evals score`)

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when it is well-formed)."""
        out = []
        if not self.title:
            out.append("capabilities.title is empty")
        if self.report not in REPORT_KINDS:
            out.append(f"capabilities.report {self.report!r} is not one of {', '.join(REPORT_KINDS)}")
        if not isinstance(self.options, frozenset):
            out.append("capabilities.options must be a frozenset of option keys")
        else:
            unknown = sorted(self.options - set(EXTRA_OPTIONS))
            if unknown:
                out.append(f"capabilities.options {unknown} are not `evals run` options ({', '.join(EXTRA_OPTIONS)})")
        if self.headline is not None and not isinstance(self.headline, Headline):
            out.append("capabilities.headline must be a Headline")
        elif self.headline is not None and not (self.headline.metric and self.headline.short):
            out.append("capabilities.headline needs a metric name and a short label")
        if self.composite and (self.shardable or self.loads_model or self.rescorable):
            out.append("a composite suite runs other suites: it cannot shard, rescore or load a model itself")
        return out


class PlanItem(Protocol):
    @property
    def key(self) -> str: ...


ItemT = TypeVar("ItemT", bound=PlanItem, default=Any)
ContextT = TypeVar("ContextT", default=Any)
RunnerT = TypeVar("RunnerT", default=Runner)


@dataclass(slots=True)
class Plan(Generic[ItemT, ContextT]):
    """A suite's prepared work: the items (each with a unique `.key`) and what identifies them."""

    items: Sequence[ItemT]
    split: str
    prompt_version: str
    data_fingerprint: str
    identity: dict[str, Any]  # suite-specific settings that change results (go into the run hash)
    context: ContextT  # the suite's own dataclass of what predict() needs (exemplars, settings, ...)
    labelled: bool = True


class Outcome(Protocol):
    """What `evals run` renders and writes as `--json`: an engine RunOutcome or a composite suite's own."""

    suite: str
    model: str

    def document(self) -> dict[str, Any]: ...


class Suite(Generic[ItemT, ContextT, RunnerT]):
    """Base of every suite. Item suites override plan/predict/aggregate/item_json; a composite suite
    overrides `orchestrate`; the optional verbs match the capabilities declared (checked by `@suite`)."""

    name: str = ""  # set by @suite (by the constructor for a family member: "lmeval:arc_easy")
    capabilities: ClassVar[SuiteCapabilities]

    def plan(self, opts: SuiteOptions) -> Plan[ItemT, ContextT]:
        """Load and validate the data (official layout); raise UserError on bad input."""
        raise NotImplementedError

    def predict(
        self, runner: RunnerT, plan: Plan[ItemT, ContextT], items: Sequence[ItemT], *, batch_size: int
    ) -> Iterator[list[ItemRow]]:
        """Yield stored rows chunk by chunk (each chunk is committed before the next is computed)."""
        raise NotImplementedError

    def aggregate(self, plan: Plan[ItemT, ContextT] | None, rows: Sequence[ItemRow]) -> dict[str, Any]:
        """Headline metrics in the `--json` shape (e.g. accuracy, by_category, by_subject); `plan` is None
        when rescoring stored rows."""
        raise NotImplementedError

    def item_json(self, row: ItemRow) -> dict[str, Any]:
        """One `items[]` entry of the `--json` document."""
        raise NotImplementedError

    def subject_label(self, subject: str) -> str:
        """A subject handle's display name (the report's weakest/strongest table)."""
        return subject

    def subjects(self) -> list[tuple[str, str, str]]:
        """(handle, name, category) of every subject the suite knows (`evals suites --subjects`)."""
        return []

    def prompt_text(self, plan: Plan[ItemT, ContextT], item: ItemT) -> str:
        """About the text the model reads for `item` (`evals sweep --plan` estimates prompt tokens from it).
        By default the item's own text fields; a suite that adds exemplars or a template says so itself."""
        values = vars(item).values() if hasattr(item, "__dict__") else _slot_values(item)
        return "\n".join(v for v in values if isinstance(v, str))

    def choice_scoring(self, opts: SuiteOptions) -> str | None:
        """The choice scoring these options select (None: the suite scores no lettered choices)."""
        return opts.scoring if self.capabilities.multiple_choice else None

    # --- verbs behind a capability -------------------------------------------------------

    def rescore_rows(self, rows: Sequence[ItemRow]) -> list[ItemRow]:
        """`rescorable`: rows with `score` recomputed from the stored prediction."""
        raise NotImplementedError

    def rescored_metrics(self, rows: Sequence[ItemRow], *, by_length: bool = False) -> dict[str, Any]:
        """Metrics of rescored rows (no plan); `by_length` asks for length buckets where the benchmark has them."""
        return self.aggregate(None, rows)

    def external_runner(
        self, model: ModelSpec, *, backend: str, dtype: str, quant: str, runner_kwargs: Mapping[str, Any] | None
    ) -> RunnerT:
        """`loads_model`: the stand-in the engine passes to predict() instead of a loaded runner."""
        raise NotImplementedError

    def score_files(
        self, pred: Path, tasks: tuple[str, ...], console: Console, *, by_length: bool = False
    ) -> dict[str, Any]:
        """`scores_files`: score a folder of prediction files (no model), print the tables, return the `--json`
        document (`by_length`: also the LongBench-E length buckets, where the benchmark has them)."""
        raise NotImplementedError

    def orchestrate(
        self,
        opts: SuiteOptions,
        model: ModelSpec | None,
        *,
        database: Database,
        backend: str,
        dtype: str,
        batch_size: int,
        progress: bool,
        console: Console | None,
        runner_kwargs: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """`composite`: run the whole measurement itself (the suites it is made of, or a load test) and
        return its own outcome; `runner_kwargs` are the backend's connection settings (base_url, ...)."""
        raise NotImplementedError


def _slot_values(obj: object) -> list[object]:
    """The attribute values of a slotted object (frozen slotted dataclasses have no __dict__)."""
    names = [n for cls in type(obj).__mro__ for n in getattr(cls, "__slots__", ())]
    return [getattr(obj, n, None) for n in names]


# capability -> the verb a suite declaring it must define (and a suite not declaring it must not)
CAPABILITY_VERBS = {
    "rescorable": "rescore_rows",
    "loads_model": "external_runner",
    "composite": "orchestrate",
    "scores_files": "score_files",
}
ITEM_VERBS = ("plan", "predict", "aggregate", "item_json")


def check_suite_class(cls: type, name: str) -> None:
    """Raise TypeError with every problem of a suite class's declaration (run by `@suite` at import)."""
    where = f"suite {name!r} ({cls.__module__}.{cls.__qualname__})"
    if not isinstance(cls, type) or not issubclass(cls, Suite):
        raise TypeError(f"{where} must subclass evals.suite_api.Suite")
    caps = cls.__dict__.get("capabilities")
    if not isinstance(caps, SuiteCapabilities):
        raise TypeError(f"{where} must declare `capabilities = SuiteCapabilities(...)` in its class body")
    problems = caps.problems()

    def defines(verb: str) -> bool:
        return getattr(cls, verb) is not getattr(Suite, verb)

    for flag, verb in CAPABILITY_VERBS.items():
        if getattr(caps, flag) and not defines(verb):
            problems.append(f"declares {flag} but defines no {verb}()")
        if not getattr(caps, flag) and defines(verb):
            problems.append(f"defines {verb}() but does not declare {flag}=True")
    if not caps.composite:
        missing = [v for v in ITEM_VERBS if not defines(v)]
        if missing:
            problems.append(f"defines no {', '.join(v + '()' for v in missing)}")
    if not (cls.__doc__ or "").strip():
        problems.append("has no docstring (its first line is what `evals suites` lists)")
    if problems:
        raise TypeError(f"{where}: " + "; ".join(problems))
