"""`evals arena bank|generate|judge|export|excluded`: the arena's stored side (bank, answers, battle log).

Registered on `arena_app` from `evals.cli.arena`. Only `generate` and `judge` load torch (inside the runner).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from evals.cli.arena import arena_app
from evals.cli.options import DbOpt, JsonOpt, open_database, path_value, split_csv, text_value

if TYPE_CHECKING:
    from arena.judge import Agreement

bank_app = typer.Typer(help="The arena question bank.", no_args_is_help=True)
arena_app.add_typer(bank_app, name="bank")


@bank_app.command("import")
def bank_import(
    file: Annotated[
        Optional[Path], typer.Argument(parser=path_value, help="JSONL or CSV with text, category, language, source.")
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Import the shipped starter bank (88 questions).")] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Skip and count malformed rows instead of failing.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Import questions; duplicates (same normalized text) are counted, not stored twice."""
    from arena.bank import BankError, import_bank, starter_bank_path
    from core.errors import UserError

    if (file is None) == (not default):
        raise UserError("give a FILE or --default (not both)")
    path = starter_bank_path() if default else file
    assert path is not None
    database = open_database(db)
    try:
        report = import_bank(database, path, skip_invalid=skip_invalid)
    except BankError as exc:
        raise UserError(str(exc)) from None
    for problem in report.problems[:20]:
        typer.echo(f"skipped {problem}", err=True)
    typer.echo(f"imported {report.imported}, duplicate {report.duplicate}, invalid {report.invalid}")


@bank_app.command("list")
def bank_list(
    category: Annotated[Optional[str], typer.Option("--category", help="Only this category.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="At most N questions.")] = None,
    db: DbOpt = None,
) -> None:
    """List questions (id, category, text) and the count per category."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from db import arena_repo

    category = _category(category)
    database = open_database(db, write=False)
    with database.session(write=False) as s:
        prompts = arena_repo.list_prompts(s, category=category, limit=limit)
        counts = arena_repo.prompt_counts_by_category(s)
    table = Table(title=f"Arena question bank: {sum(counts.values())} questions")
    for col, justify in (("id", "right"), ("category", "left"), ("source", "left"), ("text", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for p in prompts:
        text = p.text if len(p.text) <= 60 else p.text[:59] + "…"
        table.add_row(str(p.id), p.category, escape(p.source), escape(text))
    console = Console()
    console.print(table)
    console.print("  ".join(f"{c} {n}" for c, n in sorted(counts.items())), highlight=False)


@arena_app.command("generate")
def generate(
    models: Annotated[str, typer.Option("--models", help="Comma-separated model names or checkpoint dirs.")],
    prompts: Annotated[
        Optional[str], typer.Option("--prompts", help="Comma-separated prompt ids (default: all).")
    ] = None,
    category: Annotated[Optional[str], typer.Option("--category", help="Only prompts of this category.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="At most N prompts (lowest ids).")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 256,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, max=100.0, help="0 = greedy.")] = 0.7,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)] = 0.9,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1)] = 42,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Prompts per generate call and commit.")] = 8,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    db: DbOpt = None,
) -> None:
    """Generate each model's answer to each prompt (stored; a re-run resumes)."""
    from arena.answers import DEFAULT_PARAMS, generate_answers
    from core.errors import UserError
    from runners.base import GenParams

    names = split_csv(models)
    if not names:
        raise UserError("--models needs at least one model")
    try:
        prompt_ids = [int(p) for p in split_csv(prompts)] if prompts else None
    except ValueError:
        raise UserError(f"--prompts expects comma-separated integer ids, got {prompts!r}") from None
    params = GenParams(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
        top_k=DEFAULT_PARAMS.top_k, repetition_penalty=DEFAULT_PARAMS.repetition_penalty,
    )  # fmt: skip
    database = open_database(db)

    def announce(n: int) -> None:
        _announce_generation(n, len(names), explicit=limit is not None or prompt_ids is not None, tokens=max_new_tokens)

    reports = generate_answers(
        database, names, prompt_ids, params, category=_category(category), limit=limit, batch_size=batch_size,
        progress=progress, on_plan=announce,
    )  # fmt: skip
    for r in reports:
        typer.echo(f"{r.model}: generated {r.generated}, already stored {r.skipped} (params {r.params_hash})")


@arena_app.command("judge")
def judge(
    judge_model: Annotated[
        Optional[str],
        typer.Option(
            "--judge", parser=text_value, metavar="MODEL", help="Judge model: registered name or checkpoint dir."
        ),
    ] = None,
    models: Annotated[
        Optional[str],
        typer.Option("--models", parser=text_value, help="Only battles between these models (comma-separated)."),
    ] = None,
    pairs: Annotated[
        Optional[int],
        typer.Option("--pairs", min=1, help="Judge at most N new battles, drawn by matchmaking (default: all)."),
    ] = None,
    baseline: Annotated[
        Optional[str],
        typer.Option(
            "--baseline",
            parser=text_value,
            metavar="MODEL",
            help="Judge every model against this one (Arena-Hard-Auto).",
        ),
    ] = None,
    seed: Annotated[
        Optional[int], typer.Option("--seed", min=0, max=2**32 - 1, help="Seed for sampling and sides.")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Battles per scoring or generate call and commit.")
    ] = 8,
    verdict: Annotated[
        str,
        typer.Option(
            "--verdict",
            metavar="labels|generate",
            help="labels: score five digit labels as the next token (needs prompt log-probs); generate: the "
            "judge writes a judgment ending in [[A>>B]] … [[B>>A]] (any chat model, API judges included).",
        ),
    ] = "labels",
    judge_max_tokens: Annotated[
        int,
        typer.Option("--judge-max-tokens", min=1, max=8192, help="--verdict generate: new tokens per judgment."),
    ] = 1024,
    json_out: JsonOpt = None,
    agreement: Annotated[
        bool, typer.Option("--agreement", help="Only report agreement with human votes (no judging).")
    ] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    db: DbOpt = None,
) -> None:
    """LLM-as-judge: the judge model votes on battles, both answer orders; votes kept apart from humans'.

    The judge reads a Chinese pairwise prompt once per order. With --verdict labels (default) the
    verdict is its best-scored of five labels (A>>B, A>B, A=B, B>A, B>>A); with --verdict generate
    it writes a short analysis ending in one mark such as [[A>B]] (greedy, up to
    --judge-max-tokens), and an order whose text names no single verdict leaves the battle
    unvoted (counted as "no verdict"; the next run tries it again). Orders that disagree on the
    winner count as a tie, strong only when both say strong (counted as 3 battles in ratings).
    Re-runs judge only what is missing. Rate the votes with `evals arena ratings --kind judge`
    (or composite).
    """
    import numpy as np

    from arena.judge import VERDICT_MODES, judge_battles, judge_human_agreement
    from core.errors import UserError
    from evals.cli.preflight import check_output_path

    if verdict not in VERDICT_MODES:
        raise UserError(f"--verdict must be {' or '.join(VERDICT_MODES)}, got {verdict!r}")
    check_output_path(json_out)
    database = open_database(db)
    if agreement:
        name = None
        if judge_model is not None:
            from db.model_lookup import resolve_model

            name = resolve_model(judge_model, database=database).name
        _echo_agreement(judge_human_agreement(database, name), always=True)
        return
    if judge_model is None:
        raise UserError("give --judge MODEL (or --agreement to compare stored judge and human votes)")
    names = split_csv(models) if models else None
    rng = np.random.default_rng(seed)
    report = judge_battles(
        database,
        judge_model,
        models=names,
        pairs=pairs,
        baseline=baseline,
        rng=rng,
        batch_size=batch_size,
        progress=progress,
        verdict=verdict,
        max_tokens=judge_max_tokens,
    )
    n = report.judged
    counts = report.outcome_counts()
    line = f"judge {report.judge}: judged {n} battles"
    if n:
        strong = sum(v.level in ("A>>B", "B>>A") for v in report.verdicts)
        line += (
            f" (both orders agree on {report.consistent}, {n - report.consistent} position-dependent -> tie; "
            f"ties {counts['tie']}, strong {strong})"
        )
    if report.no_verdict:
        line += f", no verdict {report.no_verdict} (left open for the next run)"
    line += f", already judged {report.skipped}"
    if report.not_sampled:
        line += f", not sampled {report.not_sampled}"
    if report.refused:
        line += f", refused {report.refused}"
    excluded = sum(v.excluded for v in report.verdicts)
    if excluded:
        line += f", kept out of ratings (identity leak) {excluded}"
    typer.echo(line)
    if json_out is not None:
        from core.scrub import scrub_data
        from evals.cli.options import write_json_atomic

        write_json_atomic(json_out, scrub_data(report.to_json()))
        typer.echo(f"wrote {len(report.verdicts) + report.no_verdict} judged battles to {json_out}", err=True)
    if any(report.judge in (v.model_a, v.model_b) for v in report.verdicts):
        typer.echo(f"warning: {report.judge} judged battles it takes part in (self-preference bias)", err=True)
    _echo_agreement(judge_human_agreement(database, report.judge), always=False)


def _echo_agreement(result: Agreement, *, always: bool) -> None:
    who = result["judge"] or "judges"
    if not result["compared"]:
        if always:
            typer.echo(
                f"agreement with humans: no prompt and model pair voted on by both humans and {who} yet "
                f"(human votes {result['human_votes']}, judge votes {result['judge_votes']})"
            )
            _echo_board_measures(result)
        return
    line = f"agreement with humans ({who}): {result['agreement']:.1%} of {result['compared']} comparisons"
    if result["compared_no_ties"]:
        line += f"; without ties {result['agreement_no_ties']:.1%} of {result['compared_no_ties']}"
    typer.echo(line)
    for pair, entry in result["by_pair"].items():
        typer.echo(f"  {pair}: {entry['agreement']:.1%} of {entry['compared']}")
    _echo_board_measures(result)


def _echo_board_measures(result: Agreement) -> None:
    if result["separability"] is not None:
        typer.echo(
            f"separability with 95% confidence (judge board): {result['separability']:.1%} "
            f"of {result['separability_pairs']} model pairs"
        )
    if result["brier"] is not None:
        typer.echo(
            f"pair-rank Brier score (judge board vs human board): {result['brier']:.4f} "
            f"over {result['brier_pairs']} model pairs (0 perfect, 0.25 chance)"
        )


@arena_app.command("export")
def export(
    out: Annotated[
        Optional[Path], typer.Option("--out", parser=path_value, help="Output file (default: stdout).")
    ] = None,
    kind: Annotated[str, typer.Option("--kind", help="human or judge battles.")] = "human",
    include_excluded: Annotated[
        bool, typer.Option("--include-excluded", help="Also export votes kept out of ratings (for audits).")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Write voted battles as FastChat clean-battle JSON (input of `evals arena ratings --import`),
    with conv_metadata (style counts), category and vote flags."""
    import json

    from arena.battle_export import with_style_metadata
    from arena.battles import battle_records
    from core.errors import UserError
    from evals.cli.options import write_json_atomic

    if kind not in ("human", "judge"):
        raise UserError(f"--kind must be human or judge, got {kind!r}")
    database = open_database(db, write=False)
    records = with_style_metadata(database, battle_records(database, kind, include_excluded))
    if out is None:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=1))
        return
    try:
        write_json_atomic(out, records)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {len(records)} battles to {out}", err=True)


@arena_app.command("excluded")
def excluded(db: DbOpt = None) -> None:
    """Admin view: served battles, votes, rated votes, and votes kept out of ratings by reason."""
    from arena.votes import vote_stats

    stats = vote_stats(open_database(db, write=False))
    typer.echo(f"battles served {stats.battles}, votes {stats.votes}, rated {stats.rated}")
    for reason, n in sorted(stats.excluded.items()):
        typer.echo(f"excluded ({reason}): {n}")


def _announce_generation(n: int, n_models: int, *, explicit: bool, tokens: int) -> None:
    """Say the size of the job before any model loads: prompts × models × tokens, and how to try it small."""
    hint = "; try --limit 5 for a first run" if not explicit and n > 5 else ""
    typer.echo(
        f"generating {n} prompts × {n_models} model(s), up to {tokens} new tokens each "
        f"(answers already stored are skipped){hint}",
        err=True,
    )


def _category(value: str | None) -> str | None:
    from arena.bank import CATEGORIES, parse_category
    from core.errors import UserError

    if value is None:
        return None
    cat = parse_category(value)
    if cat is None:
        raise UserError(f"unknown category {value!r}; expected one of {'、'.join(CATEGORIES)}")
    return cat
