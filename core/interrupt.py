"""SIGINT/SIGTERM as one exception, so every layer can mark its work interrupted and the CLI exit 130/143.

Python turns SIGINT into KeyboardInterrupt, which typer converts into a silent `Exit(130)`, and ignores
SIGTERM's chance to clean up altogether. `install()` maps both signals to `Interrupted`, a BaseException
(not an Exception, so `except Exception` handlers never swallow it) that carries the signal number.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

INTERRUPTED_MESSAGE = "interrupted — run the same command again to resume"


class Interrupted(BaseException):
    """The process got SIGINT or SIGTERM; `exit_code` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, _frame: FrameType | None) -> None:
    # A second signal while cleaning up must not start another traceback: ignore it from here on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to `Interrupted` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _raise)
    signal.signal(signal.SIGTERM, _raise)


def is_interrupt(exc: BaseException) -> bool:
    """True for a signal-made interruption (ours, or a KeyboardInterrupt raised before `install`)."""
    return isinstance(exc, (Interrupted, KeyboardInterrupt))
