"""The 性能 page under Streamlit's AppTest: perf runs stored the way `evals run --suite perf` stores them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from db import Database, repo
from evals.engine import flatten_metrics
from evals.perf.load import Level
from evals.perf.metrics import RequestTiming, summarize
from evals.perf.outcome import LevelResult, PerfOutcome

PAGE = Path(__file__).resolve().parents[2] / "dashboards" / "views" / "perf.py"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'dash.db'}"
    monkeypatch.setenv("EVALS_DB_URL", url)
    database = Database(url)
    yield database
    database.dispose()


def store_run(db: Database, model: str, ttft_per_level_s: float) -> None:
    """A finished perf run whose TTFT grows with concurrency (c x `ttft_per_level_s`)."""
    outcome = PerfOutcome("perf", model, "openai", f"run-{model}", {})
    for c in (1, 2, 4):
        # one slow request in four: p99 above p50
        rows = [RequestTiming(i, 0.0, ok=True, ttft_s=c * ttft_per_level_s * (2 if i == 3 else 1),
                              latency_s=c * ttft_per_level_s * (2 if i == 3 else 1) + 0.4 + 0.1 * (i == 3),
                              itl_s=[0.1] * 4, prompt_tokens=8, output_tokens=5) for i in range(4)]  # fmt: skip
        outcome.levels.append(LevelResult(Level(concurrency=c), summarize(rows, 1.0)))
    rows = [RequestTiming(0, 0.0, ok=True, ttft_s=9.0, latency_s=9.5, itl_s=[0.1], output_tokens=2)]
    outcome.levels.append(LevelResult(Level(rate=2.0), summarize(rows, 1.0)))  # open loop: not plotted
    with db.session() as s:
        m = repo.upsert_model(s, model, model, backend="openai")
        repo.start_run(s, outcome.run_id, "perf", m.id, {"suite": "perf"}, {})
        repo.replace_metrics(s, outcome.run_id, flatten_metrics(outcome.metrics()))
        repo.finish_run(s, outcome.run_id, elapsed_s=1.0, n_items=13)


def test_empty_store_says_how_to_start(store: Database) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception and "--suite perf" in at.info[0].value


def test_latency_against_concurrency(store: Database) -> None:
    store_run(store, "fast", 0.05)
    store_run(store, "slow", 0.2)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["lang_en"] = True
    at.run()
    assert not at.exception
    assert [h.value for h in at.subheader] == ["Time to first token (TTFT)", "Time per output token (TPOT)"]
    specs = at.get("vega_lite_chart")
    assert len(specs) == 2
    from dashboards.data import perf_levels

    levels = perf_levels(store)
    ttft = levels[(levels["latency"] == "ttft") & (levels["stat"] == "p50")].set_index(["model", "concurrency"])["ms"]
    assert sorted(levels["concurrency"].unique()) == [1, 2, 4]  # the open-loop level is left out
    assert ttft[("slow", 4)] == pytest.approx(800.0) and ttft[("fast", 1)] == pytest.approx(50.0)
    at.multiselect(key="perf_models").set_value(["fast"]).run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 2


def test_admin_only(store: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """In public voter mode the page is not registered; locally it is one of the app's pages."""
    app = str(PAGE.parents[1] / "app.py")
    store_run(store, "fast", 0.05)
    local = AppTest.from_file(app, default_timeout=60).run()
    local.switch_page("views/perf.py").run()
    assert not local.exception and local.get("vega_lite_chart")
    monkeypatch.setenv("EVALS_DASHBOARD_PUBLIC", "1")
    monkeypatch.delenv("EVALS_ADMIN_TOKEN", raising=False)
    public = AppTest.from_file(app, default_timeout=60).run()
    with pytest.raises(Exception):  # noqa: B017 - the admin page is not registered
        public.switch_page("views/perf.py").run()
