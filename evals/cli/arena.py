"""`evals arena ...` commands.

Imports stay at the top only when they are cheap; numpy and the rating code load inside
the commands, so `evals --help` pays for neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, open_database

if TYPE_CHECKING:
    from arena.ratings import Ratings

arena_app = typer.Typer(help="Arena: question bank, answers, battles, ratings.", no_args_is_help=True)
app.add_typer(arena_app, name="arena")


@arena_app.command("ratings")
def ratings(
    import_file: Annotated[
        Path | None,
        typer.Option(
            "--import",
            metavar="FILE",
            help="Battle log in FastChat's clean-battle format: a JSON array or JSONL of "
            '{"model_a", "model_b", "winner", "tstamp"} objects.',
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap rounds for the BT 95% CIs (0: none).")
    ] = 100,
    json_file: Annotated[
        Path | None, typer.Option("--json", metavar="FILE", help="Also write the ratings as JSON.")
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
        str, typer.Option("--kind", help="human or judge votes (rated separately, never mixed).")
    ] = "human",
    store: Annotated[
        bool | None,
        typer.Option(
            "--store/--no-store",
            help="Store the Elo and BT ratings as a snapshot (the leaderboard's history). "
            "Default: store when reading the database, not with --import.",
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Online Elo, Bradley–Terry ratings with bootstrap 95% CIs, and win rates.

    Without --import the stored votes of --kind are rated and a snapshot is stored.
    """
    from core.errors import UserError

    if kind not in ("human", "judge"):
        raise UserError(f"--kind must be human or judge, got {kind!r}")

    from arena.ratings import RatingParams, compute_ratings

    params = RatingParams(k=k, init=init, n_bootstrap=bootstrap, seed=seed, anchor=_parse_anchor(anchor))
    database = None
    if import_file is not None:
        from arena.battle_log import BattleLogError, read_battle_log

        try:
            battles = read_battle_log(import_file)
        except BattleLogError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(f"cannot read {import_file}: {exc.strerror or exc}") from None
        try:
            result = compute_ratings(battles, params)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        n_battles = len(battles)
    else:
        from arena.snapshots import NoRatedVotes, ratings_from_db

        database = open_database(db)
        try:
            result, n_battles = ratings_from_db(database, kind, params)
        except NoRatedVotes:
            hint = "vote on the 投票 page" if kind == "human" else "run `evals arena judge --judge MODEL`"
            raise UserError(
                f"no rated votes yet ({kind} battles) in {database.url}; {hint}, or rate a log with --import FILE"
            ) from None
        except ValueError as exc:
            raise UserError(str(exc)) from None

    _print_table(result, n_battles, kind=kind if import_file is None else None)
    if store is None:
        store = import_file is None  # the DB's own votes are snapshotted; an imported log only on request
    if store:
        from arena.snapshots import store_snapshot

        database = database or open_database(db)
        at = store_snapshot(database, result, kind)
        typer.echo(f"stored {kind} rating snapshot (elo, bt) at {at.isoformat(timespec='seconds')}", err=True)
    if json_file is not None:
        import json

        try:
            json_file.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {json_file}: {exc.strerror or exc}") from None


def _parse_anchor(text: str | None) -> tuple[str, float] | None:
    from core.errors import UserError

    if text is None:
        return None
    name, sep, value = text.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, float(value)
    except ValueError:
        raise UserError(f"--anchor expects MODEL=RATING, got {text!r}") from None


def _print_table(r: Ratings, n_battles: int, *, kind: str | None = None) -> None:
    import math

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    p = r.params
    boot = f"95% CI from {p.n_bootstrap} bootstrap rounds (seed {p.seed})" if p.n_bootstrap else "no bootstrap"
    centre = f"{p.anchor[0]} = {p.anchor[1]:g}" if p.anchor else f"mean {p.init:g}"
    table = Table(
        title=f"Arena ratings{f' ({kind} votes)' if kind else ''}: {n_battles:,} battles, {len(r.models)} models",
        caption=f"BT: MLE, {centre}, {boot}. Elo: online, K={p.k:g}, scale {p.scale:g}, base {p.base:g}, "
        f"init {p.init:g}. Win rate leaves ties out.",
    )
    for name, justify in [
        ("Rank (UB)", "right"),
        ("Model", "left"),
        ("BT", "right"),
        ("95% CI", "right"),
        ("Elo", "right"),
        ("Win rate", "right"),
        ("Battles", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i in r.order():
        if r.excluded[i]:
            rank, bt, ci = "-", "unbounded", "-"
        else:
            rank, bt = str(r.rank_ub[i]), f"{r.bt[i]:.0f}"
            ci = "-" if math.isnan(r.ci_low[i]) else f"+{r.ci_high[i] - r.bt[i]:.0f}/-{r.bt[i] - r.ci_low[i]:.0f}"
        wr = "-" if math.isnan(r.win_rate[i]) else f"{r.win_rate[i]:.1%}"
        table.add_row(rank, escape(r.models[i]), bt, ci, f"{r.elo[i]:.0f}", wr, f"{r.battles[i]:,}")
    Console().print(table)
    err = Console(stderr=True)
    for w in r.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(w)}", highlight=False)
