"""CMMLU (PROTOCOLS.md §2): official layout, protocol `cla2` (default) or `official`.

- `cla2`: C-Eval's CLA2 prompts with the subject handle and SYS `你是一个乐于助人的助手。`, constrained
  scoring (`--scoring`), disjoint categories, micro accuracy as the headline.
- `official`: CMMLU's own prompt (Chinese subject name, `题目：…答案是：`), plain text, raw logits of the
  bare letters, 2048-token exemplar length control, overlapping categories, macro accuracy as the headline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from core.errors import UserError
from evals.mc.cmmlu_prompts import MAX_LENGTH, OFFICIAL_PROMPT_VERSION, build_official_prompt
from evals.mc.cmmlu_subjects import CATEGORIES, CLA2_CATEGORY, SUBJECTS
from evals.mc.data import MCItem, fingerprint, read_mc_csv
from evals.mc.prompts import CMMLU_SYSTEM, PROMPT_VERSION
from evals.mc.scoring import MCContext, aggregate_mc, estimate_prompt, mc_item_json, predict_mc
from evals.mc.selection import choose_subjects, load_items
from evals.registry import suite
from evals.resources import resource
from evals.suite_api import Headline, ItemRow, Plan, Suite, SuiteCapabilities, SuiteOptions
from runners import Runner

SPLITS = ("test", "dev")
PROTOCOLS = ("cla2", "official")


def _subject_file(data: Path, split: str, subject: str) -> Path:
    return data / split / f"{subject}.csv"


def discover_subjects(data: Path, split: str) -> list[str]:
    """Subjects with a file in `data/{split}/`, sorted by handle.

    Raises:
        UserError: no such folder, no CSV files, or a file named after no CMMLU subject.
    """
    folder = data / split
    if not folder.is_dir():
        raise UserError(f"CMMLU data dir {data} has no {split}/ folder (expected {data}/{split}/{{subject}}.csv)")
    found = sorted(p.stem for p in folder.glob("*.csv"))
    unknown = [s for s in found if s not in SUBJECTS]
    if unknown:
        raise UserError(f"unknown CMMLU subject {unknown[0]!r} in {folder} (not one of the 67 handles)")
    if not found:
        raise UserError(f"no *.csv files in {folder}")
    return found


def read_split(data: Path, split: str, subject: str) -> list[MCItem]:
    """One subject file; ids are the first (unnamed index) column, every row must have an answer."""
    path = _subject_file(data, split, subject)
    if not path.is_file():
        raise UserError(f"missing CMMLU file {path}")
    return read_mc_csv(
        path, subject=subject, id_column=None, question_column="Question", answer_column="Answer", labelled=True
    )


def aggregate_cmmlu(rows: Sequence[Mapping[str, Any]], protocol: str) -> dict[str, Any]:
    """Per-subject, per-category and overall accuracy (0–1) as the protocol defines them.

    `cla2`: disjoint categories, category = micro over its questions, `accuracy` = micro.
    `official`: overlapping categories, category = mean of its subjects' accuracies, `accuracy` = macro
    over subjects. Both report `accuracy_micro` and `accuracy_macro` so either can be compared.
    """
    if protocol == "cla2":
        metrics = aggregate_mc(rows, {s: (cat,) for s, cat in CLA2_CATEGORY.items()})
        if "accuracy" in metrics:
            metrics["accuracy_micro"] = metrics["accuracy"]
            metrics["by_category"] = _in_category_order(metrics["by_category"])
        return metrics
    # official: start from the per-subject numbers, then average subjects (not questions).
    metrics = aggregate_mc(rows, {})
    if "accuracy" not in metrics:
        return metrics
    by_subject: dict[str, float] = metrics["by_subject"]
    per_category: dict[str, list[float]] = defaultdict(list)
    for subject, acc in by_subject.items():
        for cat in SUBJECTS[subject][1]:
            per_category[cat].append(acc)
    metrics["accuracy_micro"] = metrics["accuracy"]
    metrics["accuracy"] = metrics["accuracy_macro"]
    metrics["by_category"] = _in_category_order({c: sum(v) / len(v) for c, v in per_category.items()})
    return metrics


def _in_category_order(by_category: Mapping[str, float]) -> dict[str, float]:
    return {c: by_category[c] for c in CATEGORIES if c in by_category}


def _validate(opts: SuiteOptions, split: str) -> None:
    if opts.protocol not in PROTOCOLS:
        raise UserError(f"unknown CMMLU protocol {opts.protocol!r} (cla2 | official)")
    if split not in SPLITS:
        raise UserError(f"unknown CMMLU split {split!r} (test | dev)")
    if opts.shots < 0:
        raise UserError("--shots must be >= 0")
    if split == "dev" and opts.shots:
        raise UserError("--split dev with --shots > 0 would test on its own exemplars; use --split test")
    if opts.protocol == "official":
        if opts.chat:
            raise UserError("--protocol official uses plain prompts; drop --chat (or use --protocol cla2)")
        if opts.scoring not in ("cla2", "bare_logit"):  # "cla2" is only the CLI default here
            raise UserError("--protocol official scores raw logits of the bare letters; --scoring does not apply")
    elif opts.scoring not in ("cla2", "logprob"):
        raise UserError(f"unknown scoring {opts.scoring!r} (cla2 | logprob)")


@suite("cmmlu")
class CMMLU(Suite[MCItem, MCContext]):
    """`evals run --suite cmmlu`: zero-/few-shot CMMLU, protocol cla2 (default) or official."""

    capabilities = SuiteCapabilities(
        title="CMMLU",
        report="multiple_choice",
        headline=Headline("accuracy", "acc", percent=True, digits=1, column="CMMLU"),
        multiple_choice=True,
    )

    def choice_scoring(self, opts: SuiteOptions) -> str:
        """The official protocol reads raw logits of the bare letters whatever --scoring says."""
        return "bare_logit" if opts.protocol == "official" else opts.scoring

    def plan(self, opts: SuiteOptions) -> Plan[MCItem, MCContext]:
        data = opts.data or resource("cmmlu_sample")
        split = opts.split or "test"
        _validate(opts, split)
        if not data.is_dir():
            raise UserError(f"CMMLU data dir {data} does not exist")
        available = discover_subjects(data, split)
        subjects = choose_subjects(
            available, opts.subjects, SUBJECTS, suite="CMMLU", handle="cmmlu", folder=data / split
        )
        items, exemplars, files = load_items(
            subjects,
            split,
            read=partial(read_split, data),
            path=partial(_subject_file, data),
            limit=opts.limit,
            shots=opts.shots,
        )
        official = opts.protocol == "official"
        # Length control runs in predict() (it needs the model's tokenizer); the model fingerprint is
        # already in the run hash, so the protocol and budget here are all the identity it needs.
        identity: dict[str, Any] = {
            "protocol": opts.protocol,
            "scoring": self.choice_scoring(opts),
            "template": "none" if official or not opts.chat else opts.template,
        }
        if official:
            identity["max_length"] = MAX_LENGTH
        return Plan(
            items=items,
            split=split,
            prompt_version=OFFICIAL_PROMPT_VERSION if official else PROMPT_VERSION,
            data_fingerprint=fingerprint(files),
            identity=identity,
            context=MCContext(exemplars, opts),
        )

    def prompt_text(self, plan: Plan[MCItem, MCContext], item: MCItem) -> str:
        return estimate_prompt(plan.context, item, system=CMMLU_SYSTEM)

    def predict(
        self, runner: Runner, plan: Plan[MCItem, MCContext], items: Sequence[MCItem], *, batch_size: int
    ) -> Iterator[list[ItemRow]]:
        opts = plan.context.opts
        if opts.protocol == "official":
            # Header and exemplars are counted again for every item of a subject: cache them.
            count = lru_cache(maxsize=256)(runner.count_tokens)
            yield from predict_mc(
                runner,
                items,
                plan.context.exemplars,
                chat=False,
                template="none",
                system="",
                scoring="bare_logit",
                batch_size=batch_size,
                build=partial(build_official_prompt, count_tokens=count, max_length=MAX_LENGTH),
            )
            return
        yield from predict_mc(
            runner,
            items,
            plan.context.exemplars,
            chat=opts.chat,
            template=opts.template,
            system=CMMLU_SYSTEM,
            scoring=opts.scoring,
            batch_size=batch_size,
        )

    def aggregate(self, plan: Plan[MCItem, MCContext] | None, rows: Sequence[ItemRow]) -> dict[str, Any]:
        if plan is None:
            raise ValueError("CMMLU aggregates with its plan (the protocol decides the averages)")
        return aggregate_cmmlu(rows, plan.context.opts.protocol)

    def item_json(self, row: ItemRow) -> dict[str, Any]:
        return mc_item_json(row)

    def subject_label(self, subject: str) -> str:
        return SUBJECTS[subject][0] if subject in SUBJECTS else subject

    def subjects(self) -> list[tuple[str, str, str]]:
        return [(handle, zh, ", ".join(cats)) for handle, (zh, cats) in SUBJECTS.items()]
