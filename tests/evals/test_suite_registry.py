"""Suites declare their capabilities, `@suite` checks the declaration, and everything else reads it:
a new suite is one new file (plus its tests), with no other file edited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.evals.cli_helpers import ROOT, load_json, run_cli

# A whole new suite, as someone would add it: one module in an `evals/suites/` folder on the path.
# Each item is a context with a right and a wrong continuation; the model answers right when it
# gives the right one the higher log-likelihood.
NEW_SUITE = '''
"""A two-way continuation suite that lives in one file."""

from __future__ import annotations

from dataclasses import dataclass

from evals.registry import suite
from evals.suite_api import Headline, Plan, Suite, SuiteCapabilities, item_row

PAIRS = [
    ("北京是中国的", "首都", "河流"),
    ("一年有十二个", "月", "山"),
    ("太阳从东方", "升起", "桌子"),
]


@dataclass(frozen=True)
class Pair:
    key: str
    context: str
    right: str
    wrong: str


@suite("twoway")
class TwoWay(Suite[Pair, None]):
    """Two-way continuation choice by log-likelihood (a suite in one file)."""

    capabilities = SuiteCapabilities(
        title="TwoWay", headline=Headline("accuracy", "acc", percent=True, digits=1, column="TwoWay")
    )

    def plan(self, opts):
        pairs = PAIRS[: opts.limit] if opts.limit else PAIRS
        items = [Pair(f"p{i}", *p) for i, p in enumerate(pairs)]
        return Plan(items=items, split="all", prompt_version="twoway-v1", data_fingerprint="embedded",
                    identity={}, context=None)

    def predict(self, runner, plan, items, *, batch_size):
        requests = [(it.context, c) for it in items for c in (it.right, it.wrong)]
        lls = runner.loglikelihood(requests, batch_size=batch_size)
        rows = []
        for i, it in enumerate(items):
            right, wrong = lls[2 * i][0], lls[2 * i + 1][0]
            pred = it.right if right > wrong else it.wrong
            rows.append(item_row(it.key, subject="twoway", pred=pred, gold=it.right, correct=pred == it.right,
                                 score=right - wrong))
        yield rows

    def aggregate(self, plan, rows):
        return {"accuracy": sum(bool(r["correct"]) for r in rows) / len(rows), "n_items": len(rows)}

    def item_json(self, row):
        return {"id": row["item_id"], "pred": row["pred"], "gold": row["gold"], "margin": row["score"]}
'''


def _plugin_root(tmp_path: Path, name: str, source: str) -> Path:
    """A directory holding `evals/suites/<name>.py` (and nothing else), to put on PYTHONPATH."""
    root = tmp_path / "extra"
    (root / "evals" / "suites").mkdir(parents=True)
    (root / "evals" / "suites" / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return root


def _with(root: Path) -> dict[str, str]:
    return {"PYTHONPATH": f"{ROOT}:{root}"}


@pytest.mark.slow
def test_a_new_suite_is_one_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    root = _plugin_root(tmp_path, "twoway", NEW_SUITE)
    env = _with(root)
    db = f"sqlite:///{tmp_path / 'new.db'}"

    listed = run_cli("suites", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "twoway" in listed.stdout and "Two-way continuation choice by log-likelihood" in listed.stdout
    helped = run_cli("run", "--help", env=env)
    assert helped.returncode == 0 and "twoway" in helped.stdout

    out = tmp_path / "twoway.json"
    res = run_cli("run", "--suite", "twoway", "--model", str(tiny_model_dir), "--db", db, "--json", str(out),
                  "--no-progress", env=env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert doc["suite"] == "twoway" and doc["n_items"] == 3
    # the metric is what the model's log-likelihoods say, item by item
    correct = [it["pred"] == it["gold"] for it in doc["items"]]
    assert all((it["margin"] > 0) == ok for it, ok in zip(doc["items"], correct, strict=True))
    assert doc["metrics"]["accuracy"] == pytest.approx(sum(correct) / 3)
    # the report renders it (the generic metrics table) and the store lists it with its headline
    assert "twoway · all · 0-shot" in res.stdout and "accuracy" in res.stdout and doc["run_id"] in res.stdout
    results = run_cli("results", "--db", db, env={**env, "COLUMNS": "250"})
    assert results.returncode == 0, results.stderr
    assert f"acc {doc['metrics']['accuracy']:.1%}" in results.stdout

    # the dashboards' leaderboard shows its declared column (accuracy as %)
    code = (
        "import json, sys\nfrom db import open_db\nfrom dashboards import data\n"
        "board = data.headline_table(open_db(sys.argv[1]))\nprint(json.dumps(board.to_dict()))\n"
    )
    shown = subprocess.run([sys.executable, "-c", code, db], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, **env}, timeout=300)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    board = json.loads(shown.stdout.strip().splitlines()[-1])
    assert board["TwoWay"] == {doc["model"]: pytest.approx(100 * doc["metrics"]["accuracy"])}

    again = run_cli("run", "--suite", "twoway", "--model", str(tiny_model_dir), "--db", db, "--no-progress", env=env)
    assert again.returncode == 0 and "0 computed, 3 from the store" in again.stdout  # resumable like any suite

    # without the file the suite does not exist: nothing else knows its name
    gone = run_cli("run", "--suite", "twoway", "--model", str(tiny_model_dir), "--db", db)
    assert gone.returncode == 2 and "unknown suite 'twoway'" in gone.stderr


def test_a_malformed_declaration_fails_at_import(tmp_path: Path) -> None:
    bad = NEW_SUITE.replace('title="TwoWay",', 'title="TwoWay", options=frozenset({"temperature"}),')
    root = _plugin_root(tmp_path, "twoway", bad)
    res = run_cli("suites", env=_with(root))
    assert res.returncode == 1
    assert "suite 'twoway'" in res.stderr and "['temperature'] are not `evals run` options" in res.stderr


def test_check_suite_class_names_every_problem() -> None:
    from evals.suite_api import Headline, Suite, SuiteCapabilities, check_suite_class

    class NoCaps(Suite[object, None]):
        """Doc."""

    with pytest.raises(TypeError, match="must declare `capabilities = SuiteCapabilities"):
        check_suite_class(NoCaps, "nocaps")

    class Half(Suite[object, None]):
        capabilities = SuiteCapabilities(title="Half", report="pie", rescorable=True)  # type: ignore[arg-type]

        def plan(self, opts):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    with pytest.raises(TypeError) as err:
        check_suite_class(Half, "half")
    msg = str(err.value)
    for part in ("capabilities.report 'pie'", "declares rescorable but defines no rescore_rows()",
                 "defines no predict(), aggregate(), item_json()", "has no docstring"):  # fmt: skip
        assert part in msg, msg

    class NotASuite:
        capabilities = SuiteCapabilities(title="x", headline=Headline("a", "a"))

    with pytest.raises(TypeError, match="must subclass evals.suite_api.Suite"):
        check_suite_class(NotASuite, "x")


def test_registry_declarations_drive_the_cli() -> None:
    """Every suite-specific option a suite may declare is an `evals run` flag, and the help says who reads it."""
    from evals.registry import all_capabilities, capabilities, get_suite, suite_families, suite_names
    from evals.suite_api import EXTRA_OPTIONS, SuiteOptions

    assert {"ceval", "cmmlu", "longbench", "ppl", "quant"} <= set(suite_names())
    assert suite_families() == {"lmeval": "lmeval:<task>"}
    assert get_suite("lmeval:arc_easy").name == "lmeval:arc_easy" and not capabilities("lmeval:x").shardable
    help_text = run_cli("run", "--help", env={"COLUMNS": "400"}).stdout
    for flag in EXTRA_OPTIONS.values():
        assert flag in help_text, flag
    assert "(suites: longbench)" in help_text and "(suites: ppl, quant)" in help_text
    # raw-logit needs follow the options, as the suite declares them
    assert get_suite("ceval").choice_scoring(SuiteOptions(scoring="logprob")) == "logprob"
    assert get_suite("cmmlu").choice_scoring(SuiteOptions(scoring="logprob", protocol="official")) == "bare_logit"
    assert get_suite("ppl").choice_scoring(SuiteOptions()) is None
    assert [n for n, c in all_capabilities().items() if c.rescorable] == ["longbench"]


def test_openai_backend_refuses_raw_logit_protocols(tmp_path: Path) -> None:
    base = ["run", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
    res = run_cli(*base, "--suite", "cmmlu", "--protocol", "official", "--db", f"sqlite:///{tmp_path / 'o.db'}")
    assert res.returncode == 2 and "use --protocol cla2 --scoring logprob" in res.stderr
    res = run_cli(*base, "--suite", "lmeval:arc_easy", "--quant", "int8", "--db", f"sqlite:///{tmp_path / 'o.db'}")
    assert res.returncode == 2 and "--quant does not apply to the lmeval:arc_easy suite" in res.stderr
    assert not json.dumps(res.stdout).count("Traceback")
