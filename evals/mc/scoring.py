"""Scoring and aggregation shared by the multiple-choice suites (C-Eval, CMMLU)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast, get_args

from evals.mc.data import LETTERS, MCItem
from evals.mc.prompts import build_prompt
from evals.suite_api import ItemRow, SuiteOptions, item_row
from runners import ChoiceScoring, Runner

# Items per runner call: large enough for full batches and shared-prefix reuse,
# small enough that an interrupted run loses little (rows are stored after each chunk).
CHUNK_BATCHES = 4

# (test item, its subject's exemplars) -> (prompt, shared prefix); replaces the CLA2 prompt when given.
PromptBuilder = Callable[[MCItem, Sequence[MCItem]], tuple[str, str]]


@dataclass(frozen=True, slots=True)
class MCContext:
    """What a multiple-choice plan carries to predict(): each subject's few-shot exemplars and the options."""

    exemplars: Mapping[str, Sequence[MCItem]]
    opts: SuiteOptions


def estimate_prompt(context: MCContext, item: MCItem, *, system: str) -> str:
    """The CLA2 prompt of `item` with its subject's exemplars, for token estimates (`evals sweep --plan`);
    a model's own chat template (`--template auto`) is estimated by the llama2 wrapper."""
    opts = context.opts
    shots = context.exemplars.get(item.subject, ())
    return build_prompt(item, shots, chat=opts.chat, template="llama2", system=system)[0]


def argmax_letter(scores: Mapping[str, float]) -> str:
    """First maximum over A, B, C, D (numpy's argmax tie rule, as the protocol uses)."""
    best = LETTERS[0]
    for letter in LETTERS[1:]:
        if scores[letter] > scores[best]:
            best = letter
    return best


def predict_mc(
    runner: Runner,
    items: Sequence[MCItem],
    exemplars: Mapping[str, Sequence[MCItem]],
    *,
    chat: bool,
    template: str,
    system: str,
    scoring: str,
    batch_size: int,
    build: PromptBuilder | None = None,
) -> Iterator[list[ItemRow]]:
    """Score items subject by subject; yield the stored rows of each chunk.

    `build` overrides the CLA2 prompt (CMMLU's official protocol); `chat`/`template`/`system` are then unused.
    """
    if scoring not in get_args(ChoiceScoring):
        raise ValueError(f"unknown choice scoring {scoring!r} ({', '.join(get_args(ChoiceScoring))})")
    how = cast(ChoiceScoring, scoring)
    render = runner.apply_chat_template  # called only for template "auto"
    by_subject: dict[str, list[MCItem]] = defaultdict(list)
    for item in items:
        by_subject[item.subject].append(item)
    chunk = max(1, batch_size * CHUNK_BATCHES)
    for subject, subject_items in by_subject.items():
        shots = exemplars.get(subject, ())
        for start in range(0, len(subject_items), chunk):
            part = subject_items[start : start + chunk]
            built = [
                build(it, shots)
                if build is not None
                else build_prompt(it, shots, chat=chat, template=template, system=system, render_chat=render)
                for it in part
            ]
            prompts = [p for p, _ in built]
            prefixes = [pre or None for _, pre in built]
            all_scores = runner.choice_logprobs(prompts, LETTERS, scoring=how, prefixes=prefixes, batch_size=batch_size)
            rows = []
            for item, raw in zip(part, all_scores, strict=True):
                scores = {k: float(raw[k]) for k in LETTERS}
                pred = argmax_letter(scores)
                rows.append(
                    item_row(
                        item.key,
                        subject=item.subject,
                        pred=pred,
                        gold=item.answer,
                        correct=None if item.answer is None else pred == item.answer,
                        score=scores[pred],
                        extra={"id": item.id, "scores": scores},
                    )
                )
            yield rows


def aggregate_mc(
    rows: Sequence[Mapping[str, Any]],
    category_of: Mapping[str, Sequence[str]],
    category_order: Sequence[str] = (),
) -> dict[str, Any]:
    """Micro accuracy overall and per category, macro over subjects, per-subject accuracy (0–1).

    `category_of` maps a subject to its categories (one for disjoint schemes, several for CMMLU's official
    overlapping one). Unlabelled rows (test split) are counted but not scored.
    """
    labelled = [r for r in rows if r.get("correct") is not None]
    metrics: dict[str, Any] = {"n_items": len(rows), "n_scored": len(labelled)}
    if not labelled:
        return metrics
    per_subject: dict[str, list[bool]] = defaultdict(list)
    per_category: dict[str, list[bool]] = defaultdict(list)
    for r in labelled:
        per_subject[r["subject"]].append(bool(r["correct"]))
        for cat in category_of.get(r["subject"], ("Other",)):
            per_category[cat].append(bool(r["correct"]))
    by_subject = {s: sum(v) / len(v) for s, v in sorted(per_subject.items())}
    metrics.update(
        accuracy=sum(bool(r["correct"]) for r in labelled) / len(labelled),
        accuracy_macro=sum(by_subject.values()) / len(by_subject),
        by_category={
            c: sum(per_category[c]) / len(per_category[c])
            for c in [
                *[c for c in category_order if c in per_category],
                *sorted(set(per_category) - set(category_order)),
            ]
        },
        by_subject=by_subject,
    )
    return metrics


def mc_item_json(row: Mapping[str, Any]) -> dict[str, Any]:
    extra = row.get("extra") or {}
    return {
        "subject": row["subject"],
        "id": str(extra.get("id", row["item_id"])),
        "pred": row["pred"],
        "gold": row["gold"],
        "correct": row["correct"],
        "scores": extra.get("scores", {}),
    }
