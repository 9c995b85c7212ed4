"""`evals arena ...` commands.

Imports stay at the top only when they are cheap; numpy and the rating code load inside
the commands, so `evals --help` pays for neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, open_database, path_value

if TYPE_CHECKING:
    from arena.ratings_board import Board

arena_app = typer.Typer(help="Arena: question bank, answers, battles, ratings.", no_args_is_help=True)
app.add_typer(arena_app, name="arena")


@arena_app.command("ratings")
def ratings(
    import_file: Annotated[
        Path | None,
        typer.Option(
            "--import",
            parser=path_value,
            metavar="FILE",
            help="Battle log in FastChat's clean-battle format: a JSON array or JSONL of "
            '{"model_a", "model_b", "winner", "tstamp"} objects (plus "conv_metadata" for '
            '--style-control, "category" for --category, "flags" as `evals arena export` writes them).',
        ),
    ] = None,
    ci: Annotated[
        str | None,
        typer.Option(
            "--ci",
            metavar="sandwich|bootstrap",
            help="Confidence intervals: sandwich (robust covariance of the BT fit, LMArena's default; "
            "the default here) or bootstrap (resampled battles; with --reweight or --style-control every round is a "
            "full refit, slow on big logs). Giving --bootstrap N alone means bootstrap.",
        ),
    ] = None,
    bootstrap: Annotated[
        int | None,
        typer.Option("--bootstrap", min=0, help="Bootstrap rounds for --ci bootstrap (default 100; 0: no CIs)."),
    ] = None,
    level: Annotated[
        float, typer.Option("--level", min=0.5, max=0.999, help="Confidence level of the intervals (0.5-0.999).")
    ] = 0.95,
    reweight: Annotated[
        bool,
        typer.Option("--reweight", help="Inverse-propensity weights 1/max(battles of the pair, 50), as LMArena."),
    ] = False,
    style_control: Annotated[
        bool,
        typer.Option(
            "--style-control",
            help="Contextual BT: separate answer length, headers, bold and lists from model strength "
            "(style counts from stored answers, or conv_metadata with --import).",
        ),
    ] = False,
    category: Annotated[
        str | None, typer.Option("--category", metavar="C", help="Rate only battles of category C.")
    ] = None,
    min_votes: Annotated[
        int, typer.Option("--min-votes", min=0, metavar="N", help="Mark models with fewer than N battles provisional.")
    ] = 0,
    exclude_flags: Annotated[
        str,
        typer.Option(
            "--exclude-flags",
            metavar="FLAGS",
            help="Vote flags kept out of the ratings: comma-separated of duplicate, suggested, suspect; 'none' keeps all.",
        ),
    ] = "duplicate,suggested,suspect",
    json_file: Annotated[
        Path | None, typer.Option("--json", parser=path_value, metavar="FILE", help="Also write the ratings as JSON.")
    ] = None,
    k: Annotated[float, typer.Option("--k", min=0.0, max=1000.0, help="Online Elo step size (FastChat: 4).")] = 4.0,
    init: Annotated[
        float,
        typer.Option(
            "--init", min=-1e6, max=1e6, help="Initial Elo and mean BT rating (1500 reproduces the seed arena's scale)."
        ),
    ] = 1000.0,
    anchor: Annotated[
        str | None,
        typer.Option("--anchor", metavar="MODEL=RATING", help="Pin one model's BT rating instead of the mean."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the bootstrap.")] = 0,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="human or judge votes (rated separately), or composite: both in one fit (strong judge verdicts ×3).",
        ),
    ] = "human",
    store: Annotated[
        bool | None,
        typer.Option(
            "--store/--no-store",
            help="Store the ratings as a snapshot (the leaderboard reads these). "
            "Default: store when reading the database, not with --import.",
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Bradley–Terry ratings with sandwich (or bootstrap) CIs, LMArena's rank, online Elo and win rates.

    Without --import the stored votes of --kind are rated (flagged votes left out, and counted)
    and a snapshot is stored.
    """
    from core.errors import UserError

    if kind not in ("human", "judge", "composite"):
        raise UserError(f"--kind must be human, judge or composite, got {kind!r}")
    if ci is None:
        ci = "bootstrap" if bootstrap is not None else "sandwich"
    if ci not in ("sandwich", "bootstrap"):
        raise UserError(f"--ci must be sandwich or bootstrap, got {ci!r}")
    if not 0.0 < level < 1.0:
        raise UserError(f"--level must be between 0 and 1 (e.g. 0.95), got {level:g}")
    exclude = _parse_flags(exclude_flags)
    from evals.cli.preflight import check_output_path

    check_output_path(json_file)  # before a snapshot is stored, not after
    if category is not None and not category.strip():
        raise UserError("--category is empty; give a category name (or leave the option out to rate every battle)")
    if category is not None:
        from arena.bank import parse_category

        category = parse_category(category) or category  # English aliases name the bank's categories

    from arena.ratings import RatingParams
    from arena.ratings_board import RatingOptions, rate_board

    options = RatingOptions(
        ci=ci,
        level=level,
        n_bootstrap=100 if bootstrap is None else bootstrap,
        reweight=reweight,
        style_control=style_control,
        category=category,
        min_votes=min_votes,
        seed=seed,
        params=RatingParams(k=k, init=init, seed=seed, anchor=_parse_anchor(anchor)),
    )
    database = None
    excluded: dict[str, int] = {}
    if import_file is not None:
        from arena.battle_log import BattleLogError, read_battle_log
        from arena.vote_hygiene import excluded_counts, parse_flags

        try:
            battles = read_battle_log(import_file, style=style_control, category=category is not None, flags=True)
        except BattleLogError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(f"cannot read {import_file}: {exc.strerror or exc}") from None
        import numpy as np

        assert battles.flags is not None
        if battles.flags.any():
            flag_sets = [parse_flags(f) for f in battles.flags]
            excluded = excluded_counts(flag_sets, exclude)
            if excluded:
                battles = battles.select(np.array([not (f & exclude) for f in flag_sets], bool))
                if len(battles) == 0:
                    raise UserError(f"{import_file}: every battle is flagged ({_why(excluded)}); see --exclude-flags")
        from arena.judge_ratings import repeat_strong

        battles = repeat_strong(battles)  # judge logs: a strong verdict counts 3 times
        try:
            board = rate_board(battles, options)
        except ValueError as exc:  # RatingInputError, or a bad --anchor
            raise UserError(f"{import_file}: {exc}") from None
        n_battles = int(board.n_battles.sum()) // 2  # after the category filter
    else:
        from arena.snapshots import NoRatedVotes, board_from_db

        database = open_database(db)
        try:
            stored = board_from_db(database, kind, options, exclude=frozenset(exclude))
        except NoRatedVotes as exc:
            hint = "vote on the 投票 page" if kind != "judge" else "run `evals arena judge --judge MODEL`"
            if "flagged" in str(exc):
                raise UserError(f"{exc}; see --exclude-flags") from None
            raise UserError(
                f"no rated votes yet ({kind} battles) in {database.url}; {hint}, or rate a log with --import FILE"
            ) from None
        except ValueError as exc:  # RatingInputError, or a bad --anchor
            raise UserError(str(exc)) from None
        board, n_battles, excluded = stored.board, stored.n_rated, stored.excluded

    _print_table(board, n_battles, kind=kind if import_file is None else None, excluded=excluded)
    if store is None:
        store = import_file is None  # the DB's own votes are snapshotted; an imported log only on request
    if store:
        from arena.snapshots import board_method, store_board

        database = database or open_database(db)
        at = store_board(database, board, kind)
        plain = not (reweight or style_control or category)
        methods = f"elo, {board_method(options)}" if plain else board_method(options)
        typer.echo(f"stored {kind} rating snapshot ({methods}) at {at.isoformat(timespec='seconds')}", err=True)
    if json_file is not None:
        import json

        doc = board.to_json() | {"excluded_votes": excluded}
        try:
            json_file.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {json_file}: {exc.strerror or exc}") from None


def _parse_flags(text: str) -> set[str]:
    from arena.vote_hygiene import VOTE_FLAGS
    from core.errors import UserError

    if text.strip().lower() == "none":
        return set()
    flags = {f.strip() for f in text.split(",") if f.strip()}
    unknown = flags - set(VOTE_FLAGS)
    if unknown:
        raise UserError(
            f"--exclude-flags: unknown flag {sorted(unknown)[0]!r}; expected {', '.join(VOTE_FLAGS)} or none"
        )
    return flags


def _why(excluded: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {flag}" for flag, n in excluded.items())


def _parse_anchor(text: str | None) -> tuple[str, float] | None:
    from core.errors import UserError

    if text is None:
        return None
    name, sep, value = text.rpartition("=")
    try:
        if not sep or not name.strip():
            raise ValueError
        rating = float(value)
    except ValueError:
        raise UserError(f"--anchor expects MODEL=RATING, got {text!r}") from None
    if not abs(rating) <= 1e6:  # as --init; also turns away inf and nan, which would void every rating
        raise UserError(f"--anchor rating must be a finite number within ±1e6, got {value!r}")
    return name, rating


def _print_table(board: Board, n_battles: int, *, kind: str | None = None, excluded: dict[str, int]) -> None:
    import math

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    o = board.options
    p = o.params
    pct = f"{o.level:.0%}" if round(o.level * 100) == o.level * 100 else f"{o.level:.1%}"
    if o.ci == "sandwich":
        how = f"{pct} CI from the sandwich (robust) covariance"
    elif o.n_bootstrap:
        how = f"{pct} CI from {o.n_bootstrap} bootstrap rounds (seed {o.seed})"
    else:
        how = "no bootstrap, no CI"
    centre = f"{p.anchor[0]} = {p.anchor[1]:g}" if p.anchor else f"mean {p.init:g}"
    extras = [
        x for x, on in (("reweighted 1/max(n_pair, 50)", o.reweight), ("style-controlled", o.style_control)) if on
    ]
    scope = f", category {o.category}" if o.category else ""
    table = Table(
        title=f"Arena ratings{f' ({kind} votes)' if kind else ''}{scope}: {n_battles:,} battles, {len(board.models)} models",
        caption=f"BT: MLE{', ' + ', '.join(extras) if extras else ''}, {centre}, {how}. "
        f"Rank (UB) = 1 + models whose interval lies entirely above. Elo: online, K={p.k:g}, scale {p.scale:g}, "
        f"base {p.base:g}, init {p.init:g}. Win rate leaves ties out."
        + (f" * = provisional (< {o.min_votes} battles)." if o.min_votes else ""),
    )
    for name, justify in [
        ("Rank (UB)", "right"),
        ("Model", "left"),
        ("BT", "right"),
        (f"{pct} CI", "right"),
        ("Elo", "right"),
        ("Win rate", "right"),
        ("Battles", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    base = board.base
    for i in board.order():
        if math.isnan(board.rating[i]):
            rank, bt, ci = "-", "unbounded", "-"
        else:
            rank, bt = str(board.rank[i]), f"{board.rating[i]:.0f}"
            lo, hi = board.ci_low[i], board.ci_high[i]
            ci = "-" if math.isnan(lo) else f"+{hi - board.rating[i]:.0f}/-{board.rating[i] - lo:.0f}"
        wr = "-" if math.isnan(base.win_rate[i]) else f"{base.win_rate[i]:.1%}"
        mark = "*" if board.provisional[i] else ""
        table.add_row(rank, escape(board.models[i]) + mark, bt, ci, f"{base.elo[i]:.0f}", wr, f"{board.n_battles[i]:,}")
    console = Console()
    console.print(table)
    if board.style:
        console.print(
            f"Style coefficients (log-odds per SD of the normalised difference, {pct} CI): "
            + "; ".join(f"{name} {c:+.3f} [{lo:+.3f}, {hi:+.3f}]" for name, (c, lo, hi) in board.style.items()),
            highlight=False,
        )
    err = Console(stderr=True)
    if excluded:
        err.print(f"excluded flagged votes: {escape(_why(excluded))} (--exclude-flags)", highlight=False)
    warnings = list(board.warnings)
    shown = warnings[:_MAX_WARNINGS]
    for w in shown:
        err.print(f"[yellow]warning:[/yellow] {escape(w)}", highlight=False)
    if len(warnings) > len(shown):
        err.print(
            f"[yellow]warning:[/yellow] … and {len(warnings) - len(shown):,} more like these (all in --json)",
            highlight=False,
        )


_MAX_WARNINGS = 5
