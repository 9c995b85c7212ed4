"""`evals` console script. Heavy imports (torch, transformers, streamlit) stay inside commands."""

from __future__ import annotations

import sys

import typer

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
from evals.cli import sweep as _sweep  # noqa: F401
from evals.cli import train as _train  # noqa: F401
from evals.cli.app import app


def _user_error_types() -> tuple[type[BaseException], ...]:
    from core.errors import UserError
    from db.errors import DatabaseUnavailable
    from runners.errors import ModelLoadError, RemoteError

    return (UserError, DatabaseUnavailable, ModelLoadError, RemoteError)


def _usage_line(exc: Exception) -> str | None:
    """One line for a click usage error, from typer's bundled click or the standalone one; else None.

    typer >= 0.22 raises its own copies of click's exceptions (`typer._click.exceptions.*`), which are
    not the standalone `click` classes, so both are recognised by what they offer: `format_message()`
    and the failing command's context.
    """
    import click

    if not isinstance(exc, (click.ClickException, typer.TyperException)):
        return None
    message = " ".join(exc.format_message().split())  # click wraps "Did you mean" onto a second line
    typo, known = getattr(exc, "option_name", None), getattr(exc, "possibilities", None)
    if typo and known:  # click lists close options alphabetically; name the closest first
        from difflib import get_close_matches

        best = get_close_matches(typo, list(known), n=2, cutoff=0.6)
        if best:
            message = f"No such option: {typo}. Did you mean {' or '.join(best)}?"
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and getattr(exc, "exit_code", 1) == 2:
        return f"error: {message} (see `{ctx.command_path} --help`)"
    return f"error: {message}"


def _lost_database(exc: Exception) -> bool:
    """A connection-level database failure (server gone, connection dropped), not a bug in a query."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _is_help_screen(exc: Exception) -> bool:
    # `no_args_is_help`: a group called bare shows its help (a usage error only by click's bookkeeping).
    return type(exc).__name__ == "NoArgsIsHelpError"


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one line on stderr and exit code 2; SIGINT/SIGTERM exit 130/143."""
    import logging
    import signal

    from core import interrupt

    # psycopg warns about cleaning up a connection the server dropped; our own line says what happened
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    interrupt.install()
    try:
        code = app(args=argv, standalone_mode=False)
    except SystemExit:
        raise
    except interrupt.Interrupted as exc:
        print(interrupt.INTERRUPTED_MESSAGE, file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # before the handlers were in place
        print(interrupt.INTERRUPTED_MESSAGE, file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, (click.exceptions.Exit, typer.Exit)):
            sys.exit(exc.exit_code)
        if isinstance(exc, (click.exceptions.Abort, typer.Abort)):
            print(interrupt.INTERRUPTED_MESSAGE, file=sys.stderr)
            sys.exit(130)
        if _is_help_screen(exc):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        line = _usage_line(exc)
        if line is not None:
            print(line, file=sys.stderr)
            sys.exit(getattr(exc, "exit_code", 2) or 2)
        if isinstance(exc, _user_error_types()):
            from core.scrub import scrub

            print(scrub(f"error: {exc}"), file=sys.stderr)
            sys.exit(2)
        if _lost_database(exc):
            from core.scrub import scrub

            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
            print(scrub(f"error: lost the database ({reason[0]}); finished items are stored: once it is back, "
                        "run the same command again to resume"), file=sys.stderr)  # fmt: skip
            sys.exit(2)
        raise
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    # Outside standalone mode typer returns an `Exit`'s code instead of raising it (a command's
    # `raise typer.Exit(1)`); pass it on rather than exiting 0.
    if type(code) is int and code != 0:
        sys.exit(code)
