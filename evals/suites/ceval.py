"""C-Eval (PROTOCOLS.md §1): official layout, CLA2 prompts, constrained scoring, micro/macro accuracy."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from core.errors import UserError
from evals.mc.ceval_subjects import CATEGORIES, SUBJECTS
from evals.mc.data import MCItem, fingerprint, read_mc_csv
from evals.mc.prompts import CEVAL_SYSTEM, PROMPT_VERSION
from evals.mc.scoring import MCContext, aggregate_mc, estimate_prompt, mc_item_json, predict_mc
from evals.mc.selection import choose_subjects, load_items
from evals.registry import suite
from evals.resources import resource
from evals.suite_api import Headline, ItemRow, Plan, Suite, SuiteCapabilities, SuiteOptions
from runners import Runner

SPLITS = ("val", "test", "dev")


def _subject_file(data: Path, split: str, subject: str) -> Path:
    return data / split / f"{subject}_{split}.csv"


def discover_subjects(data: Path, split: str) -> list[str]:
    """Subjects present in `data/{split}/`, in C-Eval's canonical order."""
    folder = data / split
    if not folder.is_dir():
        raise UserError(
            f"C-Eval data dir {data} has no {split}/ folder (expected {data}/{split}/{{subject}}_{split}.csv)"
        )
    found = sorted(p.name[: -len(f"_{split}.csv")] for p in folder.glob(f"*_{split}.csv"))
    unknown = [s for s in found if s not in SUBJECTS]
    if unknown:
        raise UserError(f"unknown C-Eval subject {unknown[0]!r} in {folder} (not one of the 52 handles)")
    if not found:
        raise UserError(f"no *_{split}.csv files in {folder}")
    order = list(SUBJECTS)
    return sorted(found, key=order.index)


def read_split(data: Path, split: str, subject: str) -> list[MCItem]:
    path = _subject_file(data, split, subject)
    if not path.is_file():
        raise UserError(f"missing C-Eval file {path}")
    return read_mc_csv(
        path,
        subject=subject,
        id_column="id",
        question_column="question",
        answer_column="answer",
        labelled=split != "test",
    )


@suite("ceval")
class CEval(Suite[MCItem, MCContext]):
    """`evals run --suite ceval`: zero-/few-shot C-Eval with the CLA2 protocol."""

    capabilities = SuiteCapabilities(
        title="C-Eval",
        report="multiple_choice",
        headline=Headline("accuracy", "acc", percent=True, digits=1, column="C-Eval"),
        multiple_choice=True,
    )

    def plan(self, opts: SuiteOptions) -> Plan[MCItem, MCContext]:
        data = opts.data or resource("ceval_sample")
        split = opts.split or "val"
        if split not in SPLITS:
            raise UserError(f"unknown C-Eval split {split!r} (val | test | dev)")
        if not data.is_dir():
            raise UserError(f"C-Eval data dir {data} does not exist")
        if opts.shots < 0:
            raise UserError("--shots must be >= 0")
        if split == "dev" and opts.shots:
            # exemplars are the first dev rows: each would be scored with itself in its prompt
            raise UserError("--split dev with --shots > 0 would test on its own exemplars; use --split val")
        available = discover_subjects(data, split)
        subjects = choose_subjects(
            available, opts.subjects, SUBJECTS, suite="C-Eval", handle="ceval", folder=data / split
        )
        items, exemplars, files = load_items(
            subjects,
            split,
            read=partial(read_split, data),
            path=partial(_subject_file, data),
            limit=opts.limit,
            shots=opts.shots,
        )
        if opts.scoring not in ("cla2", "logprob"):
            raise UserError(f"unknown scoring {opts.scoring!r} (cla2 | logprob)")
        return Plan(
            items=items,
            split=split,
            prompt_version=PROMPT_VERSION,
            data_fingerprint=fingerprint(files),
            identity={"scoring": opts.scoring, "template": opts.template if opts.chat else "none"},
            context=MCContext(exemplars, opts),
            labelled=split != "test",
        )

    def prompt_text(self, plan: Plan[MCItem, MCContext], item: MCItem) -> str:
        return estimate_prompt(plan.context, item, system=CEVAL_SYSTEM)

    def predict(
        self, runner: Runner, plan: Plan[MCItem, MCContext], items: Sequence[MCItem], *, batch_size: int
    ) -> Iterator[list[ItemRow]]:
        opts = plan.context.opts
        yield from predict_mc(
            runner,
            items,
            plan.context.exemplars,
            chat=opts.chat,
            template=opts.template,
            system=CEVAL_SYSTEM,
            scoring=opts.scoring,
            batch_size=batch_size,
        )

    def aggregate(self, plan: Plan[MCItem, MCContext] | None, rows: Sequence[ItemRow]) -> dict[str, Any]:
        return aggregate_mc(rows, {s: (cat,) for s, (_, cat) in SUBJECTS.items()}, CATEGORIES)

    def item_json(self, row: ItemRow) -> dict[str, Any]:
        return mc_item_json(row)

    def subject_label(self, subject: str) -> str:
        return SUBJECTS.get(subject, (subject, ""))[0]

    def subjects(self) -> list[tuple[str, str, str]]:
        return [(handle, zh, cat) for handle, (zh, cat) in SUBJECTS.items()]
