"""`evals arena ratings` end to end through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals.cli import main
from tests.arena.helpers import battle, simulate

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> int:
    try:
        main(["arena", "ratings", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    records = simulate({"alpaca-2-13b": 1150.0, "alpaca-2-7b": 1050.0, "llama-2-7b": 950.0}, 900, seed=3)
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_ratings_table_and_json(log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "ratings.json"
    assert run_cli("--import", str(log), "--bootstrap", "50", "--json", str(out_json)) == 0
    out = capsys.readouterr().out
    for text in ("Rank (UB)", "alpaca-2-13b", "95% CI", "900 battles", "K=4", "50 bootstrap rounds"):
        assert text in out
    doc = json.loads(out_json.read_text())
    assert doc["ci"] == "bootstrap" and doc["n_bootstrap"] == 50 and doc["style"] is None
    models = doc["models"]
    assert list(models) == ["alpaca-2-13b", "alpaca-2-7b", "llama-2-7b"]
    row = models["alpaca-2-13b"]
    assert set(row) == {"rating", "ci_low", "ci_high", "rank", "n_battles", "provisional", "elo", "win_rate"}
    assert row["ci_low"] < row["rating"] < row["ci_high"]
    assert sum(r["n_battles"] for r in models.values()) == 2 * 900
    assert sum(r["elo"] for r in models.values()) == pytest.approx(3000.0)


def test_sandwich_is_the_default_and_level_widens(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = {}
    for level in ("0.95", "0.99"):
        out_json = tmp_path / f"{level}.json"
        assert run_cli("--import", str(log), "--level", level, "--json", str(out_json)) == 0
        docs[level] = json.loads(out_json.read_text())
    assert "95% CI from the sandwich (robust) covariance" in capsys.readouterr().out
    a, b = docs["0.95"], docs["0.99"]
    assert a["ci"] == "sandwich" and a["level"] == 0.95
    for name, row in a["models"].items():
        wide = b["models"][name]
        assert row["rating"] == pytest.approx(wide["rating"])
        width = row["ci_high"] - row["ci_low"]
        assert wide["ci_high"] - wide["ci_low"] == pytest.approx(width * 2.5758 / 1.96, rel=1e-3)
    assert [r["rank"] for r in a["models"].values()] == [1, 2, 3]  # 100-point gaps, 900 battles: separated


def test_init_k_and_anchor_options(log: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "r.json"
    args = ("--import", str(log), "--bootstrap", "0", "--json", str(out_json))
    assert run_cli(*args, "--init", "1500", "--k", "32", "--anchor", "llama-2-7b=800") == 0
    models = json.loads(out_json.read_text())["models"]
    assert models["llama-2-7b"]["rating"] == pytest.approx(800.0)
    assert models["llama-2-7b"]["ci_low"] is None  # no bootstrap, no CI
    assert sum(r["elo"] for r in models.values()) == pytest.approx(4500.0)
    assert run_cli("--import", str(log), "--json", str(out_json), "--anchor", "llama-2-7b=800") == 0
    models = json.loads(out_json.read_text())["models"]
    assert models["llama-2-7b"]["rating"] == pytest.approx(800.0)
    # CIs are of differences from the anchor: the anchor's own interval has no width
    assert models["llama-2-7b"]["ci_low"] == pytest.approx(800.0) == models["llama-2-7b"]["ci_high"]
    assert models["alpaca-2-13b"]["ci_low"] < models["alpaca-2-13b"]["rating"] < models["alpaca-2-13b"]["ci_high"]


def test_all_wins_model_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = simulate({"a": 1000.0, "b": 1000.0}, 100, seed=1) + [battle("champ", "a", "model_a", 2e9)] * 3
    path = tmp_path / "log.json"
    path.write_text(json.dumps(records))
    assert run_cli("--import", str(path), "--bootstrap", "10") == 0
    captured = capsys.readouterr()
    assert "unbounded" in captured.out
    assert "warning: champ won all 3 of its battles" in " ".join(captured.err.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--import", "/nonexistent/log.json"), "cannot read /nonexistent/log.json"),
        (("--anchor", "oops"), "--anchor expects MODEL=RATING"),
        (("--anchor", "ghost=1000"), "anchor model 'ghost' is not in the battle log"),
        (("--ci", "jackknife"), "--ci must be sandwich or bootstrap"),
        (("--level", "95"), "Invalid value for '--level'"),
        (("--exclude-flags", "spam"), "--exclude-flags: unknown flag 'spam'"),
        (("--category", "finance"), "no battles in category 'finance' (categories present: none)"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    log: Path, args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if args and args[0] != "--import":
        args = ("--import", str(log), *args)
    assert run_cli(*args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_malformed_log_exit_2_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(battle("a", "b", "tie", 1)) + "\n" + json.dumps(battle("a", "b", "draw", 2)) + "\n")
    assert run_cli("--import", str(path)) == 2
    assert (
        f"error: {path}:2: winner 'draw' is not one of model_a, model_b, tie, tie (bothbad)" in capsys.readouterr().err
    )


def test_python_m_evals_cli_runs_without_torch(log: Path) -> None:
    # `python -m evals.cli` must work (the benchmark uses it) and the ratings path never pays for torch.
    code = (
        "import sys, runpy; sys.argv = ['evals', 'arena', 'ratings', '--import', sys.argv[1], '--bootstrap', '5'];"
        "\ntry: runpy.run_module('evals.cli', run_name='__main__')"
        "\nexcept SystemExit as e: assert not e.code, e.code"
        "\nassert 'torch' not in sys.modules, 'torch imported'"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "alpaca-2-13b" in proc.stdout


def test_min_votes_marks_provisional_and_reweight_runs(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "r.json"
    assert run_cli("--import", str(log), "--min-votes", "601", "--reweight", "--json", str(out_json)) == 0
    out = capsys.readouterr().out
    assert "reweighted 1/max(n_pair, 50)" in out and "* = provisional (< 601 battles)" in " ".join(out.split())
    doc = json.loads(out_json.read_text())
    assert doc["reweight"] is True and doc["min_votes"] == 601
    played = {m: r["n_battles"] for m, r in doc["models"].items()}
    assert {m: r["provisional"] for m, r in doc["models"].items()} == {m: n < 601 for m, n in played.items()}
    assert any(n < 601 for n in played.values()) and any(n >= 601 for n in played.values())
