"""Paired significance: McNemar against scipy, the bootstrap CI, and `evals compare` on a real SQLite store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from db import Database, repo
from evals.cli import main
from evals.significance import (
    Comparison,
    McNemar,
    bootstrap_diff_ci,
    compare_paired,
    mcnemar,
    verdict,
)

ROOT = Path(__file__).resolve().parents[2]


def paired(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness arrays with the given 2×2 table (both right, A only, B only, both wrong)."""
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return np.array(a), np.array(b)


# --- McNemar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("b", "c"), [(3, 9), (0, 5), (7, 7), (12, 12), (1, 0)])
def test_mcnemar_exact_matches_scipy_binomtest(b: int, c: int) -> None:
    xa, xb = paired(40, b, c, 11)
    result = mcnemar(xa, xb)
    assert (result.b, result.c, result.method) == (b, c, "exact")
    assert result.p_value == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)


def test_mcnemar_exact_hand_computed() -> None:
    # b=1, c=5: p = 2 * (C(6,0) + C(6,1)) / 2^6 = 14/64
    result = mcnemar(*paired(10, 1, 5, 3))
    assert result.p_value == pytest.approx(14 / 64)


@pytest.mark.parametrize(("b", "c"), [(10, 25), (30, 12), (13, 12), (100, 140)])
def test_mcnemar_chi2_with_continuity_correction(b: int, c: int) -> None:
    xa, xb = paired(200, b, c, 50)
    result = mcnemar(xa, xb)
    expected_stat = (abs(b - c) - 1) ** 2 / (b + c)
    assert result.method == "chi2"
    assert result.statistic == pytest.approx(expected_stat)
    assert result.p_value == pytest.approx(stats.chi2.sf(expected_stat, df=1), rel=1e-9)


def test_mcnemar_switches_method_at_25_discordant_pairs() -> None:
    assert mcnemar(*paired(5, 12, 12, 5)).method == "exact"  # 24 discordant
    assert mcnemar(*paired(5, 12, 13, 5)).method == "chi2"  # 25 discordant


def test_mcnemar_balanced_chi2_is_p_one() -> None:
    assert mcnemar(*paired(5, 20, 20, 5)).p_value == 1.0


# --- bootstrap and the comparison ------------------------------------------------------------


def _random_runs(n: int = 400, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.random(n) < 0.55
    b = np.where(rng.random(n) < 0.8, a, ~a) | (rng.random(n) < 0.1)
    return a, b


def test_bootstrap_ci_contains_observed_difference_and_is_seeded() -> None:
    a, b = _random_runs()
    observed = b.mean() - a.mean()
    low, high = bootstrap_diff_ci(a, b, resamples=5000, seed=3)
    assert low < observed < high
    assert bootstrap_diff_ci(a, b, resamples=5000, seed=3) == (low, high)
    assert bootstrap_diff_ci(a, b, resamples=5000, seed=4) != (low, high)


def test_bootstrap_matches_explicit_index_resampling() -> None:
    # The multinomial shortcut must agree with resampling items by index (up to Monte-Carlo error).
    a, b = _random_runs(n=300)
    d = b.astype(float) - a.astype(float)
    idx = np.random.default_rng(0).integers(0, d.size, size=(20_000, d.size))
    explicit = np.quantile(d[idx].mean(axis=1), [0.025, 0.975])
    low, high = bootstrap_diff_ci(a, b, resamples=20_000, seed=1)
    assert low == pytest.approx(explicit[0], abs=0.01)
    assert high == pytest.approx(explicit[1], abs=0.01)


def test_identical_runs_have_zero_difference_and_p_one() -> None:
    outcomes = {f"s/{i}": bool(i % 3) for i in range(50)}
    cmp = compare_paired(outcomes, dict(outcomes))
    assert cmp.diff == 0.0
    assert (cmp.ci_low, cmp.ci_high) == (0.0, 0.0)
    assert cmp.mcnemar == McNemar(0, 0, 1.0, "exact")
    assert not cmp.significant()


def test_compare_pairs_by_item_id_and_counts_the_unpaired() -> None:
    a = {"x/0": True, "x/1": False, "x/2": True, "x/9": True}
    b = {"x/2": False, "x/1": True, "x/0": True, "x/7": False, "x/8": True}
    cmp = compare_paired(a, b, resamples=100)
    assert (cmp.n, cmp.only_a, cmp.only_b) == (3, 1, 2)
    assert (cmp.accuracy_a, cmp.accuracy_b) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert (cmp.mcnemar.b, cmp.mcnemar.c) == (1, 1)


def test_compare_without_common_items_fails() -> None:
    with pytest.raises(ValueError, match="no scored items in common"):
        compare_paired({"a": True}, {"b": True})


def test_verdict_line() -> None:
    cmp = Comparison(
        n=1000,
        accuracy_a=0.5,
        accuracy_b=0.532,
        diff=0.032,
        ci_low=0.005,
        ci_high=0.059,
        confidence=0.95,
        resamples=10_000,
        seed=0,
        mcnemar=McNemar(40, 72, 0.021, "chi2", 8.6),
    )
    assert verdict(cmp) == "B − A = +3.2 pts, 95% CI [+0.5, +5.9], McNemar p = 0.021 → significant at 5%"
    worse = Comparison(
        n=10,
        accuracy_a=0.6,
        accuracy_b=0.5,
        diff=-0.1,
        ci_low=-0.3,
        ci_high=0.1,
        confidence=0.95,
        resamples=10,
        seed=0,
        mcnemar=McNemar(2, 1, 1.0, "exact"),
    )
    assert verdict(worse) == "B − A = -10.0 pts, 95% CI [-30.0, +10.0], McNemar p = 1.000 → not significant at 5%"


# --- `evals compare` on a real store ---------------------------------------------------------


def _store_run(
    database: Database,
    run_id: str,
    model: str,
    outcomes: dict[str, bool | None],
    *,
    suite: str = "cmmlu",
    split: str = "test",
) -> None:
    with database.session() as s:
        m = repo.upsert_model(s, model, f"/models/{model}")
        repo.start_run(s, run_id, suite, m.id, {"split": split, "shots": 0}, {})
        repo.add_item_results(
            s,
            run_id,
            [
                {"item_id": k, "subject": k.split("/")[0], "pred": "A", "gold": "A" if ok else "B", "correct": ok}
                for k, ok in outcomes.items()
            ],
        )
        repo.finish_run(s, run_id, elapsed_s=1.0, n_items=len(outcomes))


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, Database]:
    url = f"sqlite:///{tmp_path / 'compare.db'}"
    database = Database(url)
    yield url, database
    database.dispose()


def test_cli_compare_writes_json_and_verdict(store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, database = store
    base = {f"economics/{i}": i % 2 == 0 for i in range(60)}
    better = {k: True if int(k.split("/")[1]) < 40 else ok for k, ok in base.items()}
    better["economics/99"] = True  # only in B: left out, with a warning
    base["economics/98"] = None  # unscored: never paired
    _store_run(database, "aaaa1111" + "0" * 8, "base", base)
    _store_run(database, "bbbb2222" + "0" * 8, "tuned", better)
    out = tmp_path / "cmp.json"
    main(["compare", "aaaa", "bbbb", "--db", url, "--bootstrap", "2000", "--seed", "5", "--json", str(out)])
    captured = capsys.readouterr()
    doc = json.loads(out.read_text())
    assert doc["n"] == 60 and doc["only_b"] == 1 and doc["only_a"] == 0
    assert doc["a"]["accuracy"] == pytest.approx(0.5) and doc["b"]["accuracy"] == pytest.approx(50 / 60)
    assert doc["mcnemar"]["b"] == 0 and doc["mcnemar"]["c"] == 20 and doc["mcnemar"]["method"] == "exact"
    assert doc["mcnemar"]["p_value"] == pytest.approx(stats.binomtest(0, 20, 0.5).pvalue)
    assert doc["significant"] is True
    assert doc["ci"]["low"] <= doc["diff"] <= doc["ci"]["high"]
    assert "B − A = +33.3 pts" in captured.out and "significant at 5%" in captured.out
    assert "comparing the 60 items in common" in captured.err


@pytest.mark.parametrize(
    ("b_suite", "b_split", "b_items", "message"),
    [
        ("ceval", "test", {"economics/0": True}, "different suites"),
        ("cmmlu", "dev", {"economics/0": True}, "different splits"),
        ("cmmlu", "test", {"nutrition/0": True}, "no scored items in common"),
    ],
)
def test_cli_compare_refuses_unpairable_runs(
    store, capsys: pytest.CaptureFixture[str], b_suite: str, b_split: str, b_items: dict, message: str
) -> None:
    url, database = store
    _store_run(database, "a" * 16, "m1", {"economics/0": True})
    _store_run(database, "b" * 16, "m2", b_items, suite=b_suite, split=b_split)
    with pytest.raises(SystemExit) as exc:
        main(["compare", "a" * 16, "b" * 16, "--db", url])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_compare_unknown_run(store, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = store
    with pytest.raises(SystemExit) as exc:
        main(["compare", "nope", "nada", "--db", url])
    assert exc.value.code == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_cli_compare_never_imports_torch(store) -> None:
    url, database = store
    _store_run(database, "c" * 16, "m1", {f"x/{i}": i % 2 == 0 for i in range(30)})
    _store_run(database, "d" * 16, "m2", {f"x/{i}": i % 3 == 0 for i in range(30)})
    code = (
        "import sys\nfrom evals.cli import main\n"
        f"main(['compare', 'cccc', 'dddd', '--db', {url!r}, '--bootstrap', '200'])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "McNemar p" in proc.stdout
