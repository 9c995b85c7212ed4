"""Usage errors (unknown option/command, bad value, out of range, missing argument): one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, call_main
from tests.evals.cli_helpers import run_cli

CASES = [
    (["run", "--shot", "5"], "Did you mean --shots"),
    (["reslts"], "Did you mean 'results'"),
    (["arena", "ratngs"], "Did you mean 'ratings'"),
    (["run", "--shots", "abc"], "--shots"),
    (["run", "--batch-size", "0"], "--batch-size"),
    (["run", "--limit", "0"], "--limit"),
    (["run", "--limit", "-1"], "--limit"),
    (["run", "--shots", "-1"], "--shots"),
    (["run", "--context", "1"], "--context"),
    (["arena", "ratings", "--import"], "requires an argument"),
    (["arena", "ratings", "--bootstrap", "-3"], "--bootstrap"),
    (["results", "--bogus"], "No such option: --bogus"),
]


@pytest.mark.parametrize(("args", "needle"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_usage_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    result = call_main(capsys, *args)
    assert_one_line_error(result)
    assert needle in result.err


def test_help_and_bare_group_are_not_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert call_main(capsys, "--help").code == 0
    bare = call_main(capsys, "arena")
    assert bare.code == 2 and "Traceback" not in bare.err and "ratings" in bare.out + bare.err


@pytest.mark.parametrize("args", [["run", "--shot", "5"], ["reslts"], ["run", "--shots", "abc"]])
def test_usage_error_in_a_real_process(args: list[str]) -> None:
    proc = run_cli(*args, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _options_of(kind: type) -> list[tuple[str, str]]:
    """(command, option) for every option or argument of this type, walked from the real command tree."""
    import typing

    import typer.main

    from evals.cli import app

    found: list[tuple[str, str]] = []

    def walk(cmd: typing.Any, path: list[str]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
            return
        for param in cmd.params:
            annotation = param.type_descriptor.annotation
            base = next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)
            if base is kind:
                found.append((" ".join(path), param.opts[0]))

    walk(typer.main.get_command(app), [])
    return found


PATH_OPTIONS = _options_of(Path)


def test_the_walk_finds_the_path_options() -> None:
    assert {("run", "--data"), ("arena ratings", "--import"), ("arena bank import", "file")} <= set(PATH_OPTIONS)
    assert len(PATH_OPTIONS) > 25


@pytest.mark.parametrize(("cmd", "opt"), PATH_OPTIONS, ids=[f"{c} {o}" for c, o in PATH_OPTIONS])
@pytest.mark.parametrize("value", ["", " "])
def test_empty_path_is_a_usage_error(capsys: pytest.CaptureFixture[str], cmd: str, opt: str, value: str) -> None:
    # Path("") is "." : `--data ""` used to read the current directory and `arena export --out ""` crashed
    args = [*cmd.split(), value] if not opt.startswith("-") else [*cmd.split(), opt, value]
    result = call_main(capsys, *args)
    assert_one_line_error(result)
    assert "is empty" in result.err and (opt in result.err)


# Values that used to be taken as "not given" (or as "."), or passed unchecked until a model had loaded.
EMPTY_OR_BAD_VALUES = [
    (["run", "--subjects", ""], "--subjects"),
    (["run", "--subjects", ","], "--subjects ','"),
    (["run", "--tasks", " , "], "--tasks"),
    (["run", "--model", ""], "--model"),
    (["run", "--model-name", " "], "--model-name"),
    (["run", "--split", ""], "--split"),
    (["run", "--backend", "openai", "--base-url", "", "--model", "m"], "--base-url"),
    (["run", "--dtype", "fp8"], "unknown --dtype 'fp8'"),
    (["sweep", "--models", "m", "--suites", "ceval", "--dtype", "bogus", "--plan"], "unknown --dtype 'bogus'"),
    (["arena", "judge", "--judge", ""], "--judge"),
    (["arena", "judge", "--judge", "j", "--baseline", " "], "--baseline"),
    (["models", "show", ""], "model NAME is empty"),
    (["models", "add", "", "--path", "x"], "model NAME is empty"),
    (["models", "add", " q8", "--path", "x"], "whitespace"),
    (["models", "add", "q8", "--path", ""], "--path is empty"),
    (["models", "add", "q8", "--path", "x", "--backend", "tpu"], "unknown --backend 'tpu'"),
    (["arena", "ratings", "--category", ""], "--category is empty"),
    (["arena", "ratings", "--anchor", "a=inf"], "--anchor rating"),
    (["arena", "ratings", "--anchor", "a=nan"], "--anchor rating"),
    (["results", "--db", "postgresql://u:s3cretpw@[::1"], "invalid database URL"),
    (["results", "--db", "postgresql://u:s3cretpw@host:abc/db"], "invalid database URL"),
    (["results", "--db", "sqlite://"], "in-memory"),
    (["run", "--db", "sqlite:///:memory:"], "in-memory"),
    (["results", "--suite", "cevl"], "no suite named 'cevl'; did you mean 'ceval'?"),
    (["results", "--suite", "nosuch"], "(known: ceval, cmmlu"),
    (["results", "--model", "nope"], "no model named 'nope'"),
]


@pytest.mark.parametrize(("args", "needle"), EMPTY_OR_BAD_VALUES, ids=[" ".join(a) for a, _ in EMPTY_OR_BAD_VALUES])
def test_empty_or_bad_value_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], needle: str
) -> None:
    db = [] if "--db" in args else ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    result = call_main(capsys, *args, *db)
    assert_one_line_error(result)
    assert needle in result.err
    assert "s3cretpw" not in result.err


def test_train_tiny_into_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "model.json"
    target.write_text("{}")
    result = call_main(capsys, "train", "tiny", "--out", str(target))
    assert_one_line_error(result)
    assert "is a file, not a directory" in result.err
    assert target.read_text() == "{}"
