"""Small commands: `evals suites`, `evals dashboard`, `evals db upgrade`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, open_database

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def suites(
    subjects: Annotated[Optional[str], typer.Option("--subjects", help="List the subjects of this suite.")] = None,
) -> None:
    """List the available suites (or a suite's subjects)."""
    from rich.console import Console
    from rich.table import Table

    from evals.registry import get_suite, suite_class, suite_families, suite_names

    if subjects:
        table = Table(title=f"{subjects} subjects")
        for col in ("handle", "name", "category"):
            table.add_column(col)
        for row in get_suite(subjects).subjects():
            table.add_row(*row)
        Console().print(table)
        return
    listed = [(name, suite_class(name)) for name in suite_names()]
    listed += [(usage, suite_class(prefix + ":")) for prefix, usage in suite_families().items()]
    width = max(12, *(len(name) + 1 for name, _ in listed))
    for name, cls in listed:
        typer.echo(f"{name:{width}s} {_first_line(cls.__doc__)}")


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None) -> None:
    """Create or migrate the schema to the latest version."""
    database = open_database(db)
    typer.echo(f"schema up to date at {database.url}")


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for the Streamlit server.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Voter mode for sharing: only vote and leaderboard; admin pages need EVALS_ADMIN_TOKEN; "
            "no DB URL, paths or tracebacks shown.",
        ),
    ] = False,
    db: DbOpt = None,
) -> None:
    """Start the Streamlit dashboard (vote, leaderboard, evals, models, runs)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    database = open_database(db)  # fail fast (exit 2) on a bad URL, and migrate before serving
    database.dispose()
    app_file = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
    env = dict(os.environ)
    if db:
        env["EVALS_DB_URL"] = db
    env["EVALS_DASHBOARD_PUBLIC"] = "1" if public else "0"
    mode = "public voter mode" if public else "all pages"
    typer.echo(f"dashboard on http://{address}:{port} ({mode})  store {database.url}")
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app_file), "--server.port", str(port),
        "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    if public:  # Streamlit's own error boxes show no exception text or traceback; no developer menu
        cmd += ["--client.showErrorDetails", "none", "--client.toolbarMode", "viewer"]
    raise SystemExit(subprocess.call(cmd, env=env))
