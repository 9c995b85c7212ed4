"""`evals` console script. Heavy imports (torch, transformers, streamlit) stay inside commands."""

from __future__ import annotations

import sys

from evals.cli import arena as _arena  # noqa: F401
from evals.cli import arena_pool as _arena_pool  # noqa: F401
from evals.cli import arena_store as _arena_store  # noqa: F401
from evals.cli import compare as _compare  # noqa: F401
from evals.cli import contamination as _contamination  # noqa: F401
from evals.cli import misc as _misc  # noqa: F401
from evals.cli import rescore as _rescore  # noqa: F401
from evals.cli import results as _results  # noqa: F401

# Each module adds its commands to `app` on import; none of them imports torch at module level.
from evals.cli import run as _run  # noqa: F401
from evals.cli import score as _score  # noqa: F401
from evals.cli import train as _train  # noqa: F401
from evals.cli.app import app


def _user_error_types() -> tuple[type[BaseException], ...]:
    from core.errors import UserError
    from db.errors import DatabaseUnavailable
    from runners.errors import ModelLoadError, RemoteError

    return (UserError, DatabaseUnavailable, ModelLoadError, RemoteError)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted; finished items are stored, re-run the same command to resume", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, _user_error_types()):
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        raise
