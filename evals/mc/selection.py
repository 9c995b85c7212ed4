"""Choosing subjects and loading items + few-shot exemplars: shared by C-Eval and CMMLU."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from core.errors import UserError
from evals.mc.data import MCItem


def choose_subjects(
    available: Sequence[str],
    requested: Sequence[str],
    known: Collection[str],
    *,
    suite: str,
    handle: str,
    folder: Path,
) -> list[str]:
    """The requested subjects in the data's order (all available ones when none are requested).

    Raises:
        UserError: a requested subject is not a subject of the suite, or has no file in `folder`.
    """
    for s in requested:
        if s not in known:
            raise UserError(f"unknown {suite} subject {s!r} (see `evals suites --subjects {handle}`)")
        if s not in available:
            raise UserError(f"subject {s!r} has no file in {folder}")
    return [s for s in available if s in requested] if requested else list(available)


def load_items(
    subjects: Sequence[str],
    split: str,
    *,
    read: Callable[[str, str], list[MCItem]],
    path: Callable[[str, str], Path],
    limit: int | None,
    shots: int,
) -> tuple[list[MCItem], dict[str, list[MCItem]], list[Path]]:
    """Items of `split` (at most `limit` per subject), the first `shots` dev rows per subject in file
    order (PROTOCOLS §1.4, the same in CMMLU), and every file read (for the data fingerprint)."""
    items: list[MCItem] = []
    exemplars: dict[str, list[MCItem]] = {}
    files: list[Path] = []
    for s in subjects:
        rows = read(split, s)
        items += rows[:limit] if limit else rows
        files.append(path(split, s))
        if shots:
            dev = read("dev", s)
            if len(dev) < shots:
                raise UserError(f"{path('dev', s)} has {len(dev)} rows; --shots {shots} needs more")
            exemplars[s] = dev[:shots]
            files.append(path("dev", s))
    return items, exemplars, files
