"""`evals contamination`: n-gram overlap between a training corpus and a suite's questions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from evals.cli.app import app
from evals.cli.options import JsonOpt, path_value
from evals.registry import all_capabilities

# The multiple-choice suites: their items are questions with lettered options.
MC_SUITES = [name for name, caps in all_capabilities().items() if caps.multiple_choice]


@app.command("contamination")
def contamination(
    corpus: Annotated[
        Path,
        typer.Option(
            "--corpus",
            parser=path_value,
            help="Training corpus: .txt/.jsonl file or dir (SFT .csv/.json also accepted).",
        ),
    ],
    suite: Annotated[str, typer.Option("--suite", "-s", help=" | ".join(MC_SUITES) + ".")] = "ceval",
    data: Annotated[
        Optional[Path], typer.Option("--data", parser=path_value, help="Suite data dir (default: embedded sample).")
    ] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Split (default: the suite's).")] = None,
    n: Annotated[int, typer.Option("--n", min=3, help="Character n-gram length.")] = 13,
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=1.0, help="Overlap fraction that counts as contaminated.")
    ] = 0.5,
    show: Annotated[int, typer.Option("--show", min=0, help="List at most this many overlapping items.")] = 20,
    json_out: JsonOpt = None,
) -> None:
    """List suite items whose character n-grams occur in the corpus; exit 1 if any is contaminated."""
    from rich.console import Console
    from rich.table import Table

    from evals.cli.options import write_json_atomic
    from training import contamination as C

    texts = _corpus_texts(corpus)
    items = suite_items(suite, data, split)
    rows = C.check(texts, items, n=n, threshold=threshold)
    bad = [r for r in rows if r.contaminated]
    touched = [r for r in rows if r.matched]
    console = Console()
    console.print(f"{suite}: {len(items)} items, {len(touched)} with any {n}-gram overlap, "
                  f"[bold]{len(bad)} contaminated[/bold] (overlap >= {threshold:.0%}) against {corpus}")  # fmt: skip
    if touched and show:
        table = Table("item", "overlap", "n-grams", "contaminated", "question")
        for r in touched[:show]:
            table.add_row(
                r.key, f"{r.overlap:.0%}", f"{r.matched}/{r.total}", "yes" if r.contaminated else "", r.snippet
            )
        console.print(table)
    if json_out:
        write_json_atomic(json_out, {
            "suite": suite, "corpus": str(corpus), "n": n, "threshold": threshold, "n_items": len(items),
            "contaminated": [r.key for r in bad],
            "items": [{"key": r.key, "subject": r.subject, "overlap": round(r.overlap, 4), "matched": r.matched,
                       "total": r.total, "contaminated": r.contaminated} for r in touched],
        })  # fmt: skip
    if bad:
        raise SystemExit(1)  # like a linter: CI can gate on it (typer.Exit is swallowed by main())


def suite_items(suite: str, data: Path | None = None, split: str | None = None) -> list[Any]:
    """MC items (question + options) of a suite, through the suite's own loader."""
    from core.errors import UserError
    from evals.registry import get_suite
    from evals.suite_api import SuiteOptions

    if suite not in MC_SUITES:
        raise UserError(f"contamination check supports {' | '.join(MC_SUITES)}, not {suite!r}")
    return list(get_suite(suite).plan(SuiteOptions(data=data, split=split)).items)


def _corpus_texts(path: Path) -> list[str]:
    from training.data import data_files, load_corpus, load_sft

    files = data_files(path, (".txt", ".jsonl", ".json", ".csv"))
    if all(f.suffix in (".txt",) or f.suffix == ".jsonl" and _has_text_field(f) for f in files):
        return load_corpus(path)[0]
    convs, _, _ = load_sft(path)
    return [t for c in convs for _, t in c.turns]


def _has_text_field(f: Path) -> bool:
    import json

    for line in f.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                return "text" in json.loads(line)
            except json.JSONDecodeError:
                return True  # let load_corpus report the bad line
    return True
