"""`evals sweep` with the local executor: the same stored results as `evals run` one by one, each model
loaded once, a killed sweep resumed by run hash, `--plan`, and one-line errors for bad input."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from evals.cli import main
from tests.evals.sweep_helpers import item_row_ids, run_statuses, stored_state, sweep_process, wait_for


@pytest.fixture()
def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Model names passed to the real `runners.open_runner`, in load order."""
    import runners

    loads: list[str] = []
    real = runners.open_runner

    def counting(spec, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(spec.name)
        return real(spec, **kwargs)

    monkeypatch.setattr(runners, "open_runner", counting)
    return loads


def test_sweep_stores_what_four_runs_store(tiny_model_dir: Path, tmp_path: Path, count_loads: list[str]) -> None:
    sweep_db, runs_db = f"sqlite:///{tmp_path / 'sweep.db'}", f"sqlite:///{tmp_path / 'runs.db'}"
    common = ("--limit", "1", "--batch-size", "4", "--no-progress")
    main(["sweep", "--models", f"{tiny_model_dir},twin={tiny_model_dir}", "--suites", "ceval,ppl", *common,
          "--db", sweep_db])  # fmt: skip
    assert count_loads == [tiny_model_dir.name, "twin"]  # each model once for both of its suites
    for name in ((), ("--model-name", "twin")):
        for suite in ("ceval", "ppl"):
            main(["run", "--suite", suite, "--model", str(tiny_model_dir), *name, *common, "--db", runs_db])
    swept, one_by_one = stored_state(sweep_db), stored_state(runs_db)
    assert len(swept) == 4 and {(r["model"], r["suite"]) for r in swept.values()} == {
        (m, s) for m in (tiny_model_dir.name, "twin") for s in ("ceval", "ppl")
    }
    assert all(r["status"] == "finished" and len(r["items"]) == r["n_items"] > 0 for r in swept.values())
    assert swept == one_by_one  # same run hashes, item rows and metrics, exactly
    count_loads.clear()  # a finished sweep again: nothing loads, nothing is recomputed
    ids = item_row_ids(sweep_db)
    main(["sweep", "--models", f"{tiny_model_dir},twin={tiny_model_dir}", "--suites", "ceval,ppl", *common,
          "--db", sweep_db])  # fmt: skip
    assert count_loads == [] and item_row_ids(sweep_db) == ids


def test_killed_sweep_resumes_only_the_rest(
    tiny_model_dir: Path, tmp_path: Path, count_loads: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    args = ["--models", str(tiny_model_dir), "--suites", "ceval,cmmlu", "--shots", "0,5", "--limit", "2",
            "--batch-size", "1", "--no-progress", "--db", url]  # fmt: skip
    proc = sweep_process(*args)
    try:

        def one_done_one_begun() -> bool:
            if not Path(tmp_path / "sweep.db").exists():
                return False
            try:
                states = list(run_statuses(url).values())
            except Exception:  # the schema is still being created
                return False
            return any(s == "finished" for s, _ in states) and any(s == "running" and n > 0 for s, n in states)

        wait_for(one_done_one_begun, timeout=240, what="one finished run and one begun", proc=proc)
        proc.send_signal(signal.SIGKILL)  # no handler runs: the database keeps what was committed
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    before = item_row_ids(url)
    statuses = run_statuses(url)
    finished = {r for r, (s, _) in statuses.items() if s == "finished"}
    begun = {r for r, (s, _) in statuses.items() if s != "finished"}
    assert finished and begun
    capsys.readouterr()
    main(["sweep", *args, "--plan"])
    plan = capsys.readouterr().out
    lines = [line for line in plan.splitlines() if "ceval" in line or "cmmlu" in line]
    assert len(lines) == 4  # ceval and cmmlu, 0- and 5-shot
    # model │ suite │ setting │ items │ stored │ tokens to compute │ status │ run
    rows = {cells[7]: cells for cells in ([c.strip() for c in line.strip("│ ").split("│")] for line in lines)}
    assert all(int(r[4]) == (int(r[3]) if r[6] == "done" else run_statuses(url).get(run_id, ("", 0))[1])
               for run_id, r in rows.items())  # fmt: skip
    assert {run_id for run_id, r in rows.items() if r[6] == "done"} == finished
    assert {run_id for run_id, r in rows.items() if r[6] == "partial"} == begun
    assert sum(r[6] == "new" for r in rows.values()) == 4 - len(finished) - len(begun)
    for r in rows.values():  # only what is still to compute counts, by the model's tokenizer (no "~")
        tokens = int(r[5].replace(",", ""))
        assert (tokens == 0) == (r[6] == "done")

    main(["sweep", *args])
    after = item_row_ids(url)
    assert count_loads == [tiny_model_dir.name]  # one load for every unfinished job
    assert {k: after[k] for k in before} == before  # nothing stored before the kill was computed again
    final = stored_state(url)
    assert len(final) == 4 and all(
        r["status"] == "finished" and len(r["items"]) == r["n_items"] for r in final.values()
    )
    out = capsys.readouterr().out
    for run_id in finished:  # the results table: a finished run computed nothing this time
        row = next(line for line in out.splitlines() if run_id in line)
        assert f"│ {final[run_id]['n_items']} " in row and "│ 0 " in row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suites", "nosuch"], "unknown suite 'nosuch'"),
        (["--suites", "ceval", "--shots", "0,x"], "--shots takes non-negative integers"),
        (["--suites", "quant"], "suite quant runs other suites"),
        (["--suites", "ceval", "--data", "ceval"], "--data takes SUITE=PATH"),
        (["--suites", "ceval", "--data", "ppl=/tmp"], "--data names suite 'ppl', which is not in --suites"),
        (["--suites", "ceval", "--executor", "dask"], "unknown --executor 'dask'"),
    ],
)
def test_bad_input_is_one_line(
    args: list[str], message: str, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            ["sweep", "--models", str(tiny_model_dir), *args, "--no-progress", "--db", f"sqlite:///{tmp_path / 'x.db'}"]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


def test_unknown_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--models", "no-such-model", "--suites", "ceval", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-model" in err and len(err.splitlines()) == 1


def test_ray_executor_without_ray_is_one_line(tmp_path: Path) -> None:
    """A `ray` that cannot be imported (as on an install without the extra) is named with its fix."""
    from tests.evals.cli_helpers import ROOT, run_cli

    blocker = tmp_path / "noray" / "ray"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    res = run_cli("sweep", "--models", "x", "--suites", "ceval", "--executor", "ray",
                  "--db", f"sqlite:///{tmp_path / 'x.db'}", env={"PYTHONPATH": f"{blocker.parent}:{ROOT}"})  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == "error: --executor ray needs the ray package: pip install 'leitai[ray]'"


def test_unreachable_ray_address_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed")
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(SystemExit) as exc:
            main(["sweep", "--models", "x", "--suites", "ceval", "--executor", "ray", "--ray-address",
                  f"127.0.0.1:{port}", "--db", f"sqlite:///{tmp_path / 'x.db'}"])  # fmt: skip
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: no Ray cluster at 127.0.0.1:{port}") and len(err.splitlines()) == 1
