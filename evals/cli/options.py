"""Option definitions shared by several commands (one place, so names and help stay consistent)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.model_spec import ModelSpec
    from db import Database, Run


def path_value(value: str | Path) -> Path:
    """Parser of every path option and argument: an empty value would otherwise become `Path("")`,
    which is `.`, so `--data "$UNSET"` would silently read (or `--out ""` write) the current directory."""
    if not str(value).strip():
        raise typer.BadParameter("is empty; give a path (`.` names the current directory)")
    return Path(value)


def text_value(value: str) -> str:
    """Parser of name and list options where an empty value is a mistake that would otherwise be taken
    as "not given" (`--subjects ""` running every subject, `--model ""` the current directory)."""
    if not value.strip():
        raise typer.BadParameter("is empty; give a value or leave the option out")
    return value


DbOpt = Annotated[
    Optional[str],
    typer.Option("--db", envvar="EVALS_DB_URL", help="SQLAlchemy URL (default: SQLite file in the user data dir)."),
]
JsonOpt = Annotated[
    Optional[Path], typer.Option("--json", parser=path_value, help="Write the result document (JSON) to this file.")
]


def split_csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def open_database(url: str | None, *, write: bool = True) -> Database:
    """Open (and migrate) the database; with `write`, also check that it accepts writes, so a read-only
    file or role fails in one line before any model loads rather than after."""
    from core.errors import UserError
    from db import open_db
    from db.engine import check_writable, resolve_url

    parsed = resolve_url(url)
    if parsed.get_backend_name() == "sqlite" and (parsed.database or ":memory:") == ":memory:":
        raise UserError(
            "the database URL (--db / EVALS_DB_URL) names an in-memory SQLite database: nothing would be kept; "
            "give a file, e.g. sqlite:///leitai.db"
        )
    database = open_db(url)
    if write:
        check_writable(database.engine)
    return database


def resolve_model_arg(
    spec: str | None, *, name: str | None = None, database: Database | None = None, backend: str = "hf"
) -> ModelSpec:
    """`--model`: None -> the embedded tiny model (built on first use); else a path or a registered name."""
    from core.model_spec import TINY_NAME, ModelSpec, weights_fingerprint
    from db.model_lookup import resolve_model

    if spec is None:
        from training.tiny import default_tiny_dir, default_tiny_path, is_tiny_checkpoint

        if not is_tiny_checkpoint(default_tiny_path()):  # first run: say why nothing else happens for a while
            typer.echo(
                f"building the embedded demo model once, about a minute on a CPU (cached in {default_tiny_path()}); "
                "pass --model DIR to use your own",
                err=True,
            )
        path = Path(default_tiny_dir())
        return ModelSpec(name=name or TINY_NAME, path=str(path), backend=backend, fingerprint=weights_fingerprint(path))
    return resolve_model(spec, name=name, database=database, backend=backend)


def write_json_atomic(path: Path, doc: object) -> None:
    """Write to a temp file and rename, so a crash never leaves half a document."""
    import json
    import os

    from core.errors import UserError

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def find_run(s: Session, run_ref: str) -> Run:
    """The stored run with this id or unique id prefix; a user error (one line) when there is none."""
    from core.errors import UserError
    from db import repo

    try:
        run = repo.get_run(s, run_ref)
    except ValueError as exc:  # an ambiguous prefix
        raise UserError(str(exc)) from None
    if run is None:
        raise UserError(f"no run {run_ref!r} (see `evals results`)")
    return run
