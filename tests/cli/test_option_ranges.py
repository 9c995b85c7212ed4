"""Every numeric option of every command declares its range, so a bad value is a usage error (exit 2)."""

from __future__ import annotations

import typing
from collections.abc import Iterator

import pytest
import typer.main

from tests.cli.helpers import assert_one_line_error, call_main


def _numeric_options() -> Iterator[tuple[str, str, type, object, object]]:
    from evals.cli import app

    def walk(cmd: typing.Any, path: list[str]) -> Iterator[tuple[str, str, type, object, object]]:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
            return
        for param in cmd.params:
            annotation = param.type_descriptor.annotation
            base = next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)
            if base in (int, float):
                yield " ".join(path), param.opts[0], base, param.min, param.max

    yield from walk(typer.main.get_command(app), [])


NUMERIC = list(_numeric_options())


def test_the_walk_finds_the_known_options() -> None:
    found = {(cmd, opt) for cmd, opt, *_ in NUMERIC}
    assert {("run", "--limit"), ("run", "--shots"), ("arena generate", "--max-new-tokens")} <= found
    assert len(NUMERIC) > 40


@pytest.mark.parametrize(("cmd", "opt", "kind", "lo", "hi"), NUMERIC, ids=[f"{c} {o}" for c, o, *_ in NUMERIC])
def test_numeric_option_has_a_range(cmd: str, opt: str, kind: type, lo: object, hi: object) -> None:
    assert lo is not None, f"`evals {cmd} {opt}` has no minimum"
    if kind is float:  # an upper bound also turns away inf and nan
        assert hi is not None, f"`evals {cmd} {opt}` has no maximum"


@pytest.mark.parametrize(("cmd", "opt", "kind", "lo", "hi"), NUMERIC, ids=[f"{c} {o}" for c, o, *_ in NUMERIC])
def test_value_below_the_range_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], cmd: str, opt: str, kind: type, lo: object, hi: object
) -> None:
    assert isinstance(lo, (int, float))
    below = lo - 1 if kind is int else lo - 0.5
    result = call_main(capsys, *cmd.split(), opt, str(below))
    assert_one_line_error(result)
    assert opt in result.err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_non_finite_float_is_refused(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert_one_line_error(call_main(capsys, "arena", "ratings", "--k", value))
