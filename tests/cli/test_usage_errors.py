"""Usage errors (unknown option/command, bad value, out of range, missing argument): one line, exit 2."""

from __future__ import annotations

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
