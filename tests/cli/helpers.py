"""Call the real `evals` entry point in-process and capture what a user would see."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def call_main(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Run `evals.cli.main(args)`; the exit code is 0 when it returns without SystemExit."""
    from evals.cli import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def assert_one_line_error(result: CliResult) -> None:
    assert result.code == 2, result
    assert "Traceback" not in result.err, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
