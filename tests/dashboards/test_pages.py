"""Every dashboard page under Streamlit's AppTest, on a seeded SQLite store.

The pages read the store named by `EVALS_DB_URL`; votes go through the real `arena/` API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from arena import VoteLimits, record_vote
from db import Database
from db.models_arena import Vote
from tests.dashboards.seed import HTML_ANSWER, add_answers, add_model, add_votes, seed_all

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "dashboards" / "views"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """An empty migrated SQLite store that the pages open through EVALS_DB_URL."""
    url = f"sqlite:///{tmp_path / 'dash.db'}"
    monkeypatch.setenv("EVALS_DB_URL", url)
    monkeypatch.setenv("EVALS_VOTE_RATE", "off")
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def seeded(store: Database) -> Database:
    seed_all(store)
    add_votes(store, 16, prefer="qwen-sft")
    return store


def page(name: str, english: bool = False) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
    if english:
        at.session_state["lang_en"] = True
    return at.run()


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "markdown", "caption", "info", "error", "success", "warning", "code")
             for e in getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def column_labels(frame: object) -> set[str]:
    """The header labels a st.dataframe shows (its column_config), as the browser would draw them."""
    config = json.loads(frame.proto.columns or "{}")  # type: ignore[attr-defined]
    return {c["label"] for c in config.values() if c.get("label")}


def n_votes(database: Database) -> int:
    with database.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Vote)) or 0)


def test_vote_reveals_names_after_voting(seeded: Database) -> None:
    at = page("vote")
    assert not at.exception
    assert "长城" in texts(at)  # the prompt and both answers are shown
    assert "qwen-base" not in texts(at) and "qwen-sft" not in texts(at)  # anonymous before the vote
    labels = [b.label for b in at.button]
    assert labels[:4] == ["A 更好", "B 更好", "平局", "都不好"]
    before = n_votes(seeded)
    at.button(key="vote_a").click().run()
    assert n_votes(seeded) == before + 1
    revealed = at.success[0].value
    assert "模型A" in revealed and "qwen-base" in revealed and "qwen-sft" in revealed
    assert all(b.disabled for b in at.button if b.key.startswith("vote_"))
    battle = at.session_state["battle"].battle_id
    at.button(key="next").click().run()
    assert at.session_state["battle"].battle_id != battle and not at.success


def test_vote_stores_the_keyed_address_never_the_address(seeded: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import dashboards.voter
    from arena.vote_address import address_key

    monkeypatch.setenv("EVALS_VOTER_SECRET", "page-secret")
    monkeypatch.setattr(dashboards.voter, "client_address", lambda: "198.51.100.9")
    dashboards.voter._secret.cache_clear()  # the secret is read once per process
    try:
        at = page("vote")
        at.button(key="vote_a").click().run()
        assert not at.exception
    finally:
        dashboards.voter._secret.cache_clear()
    with seeded.session(write=False) as s:
        keys = [k for k in s.scalars(select(Vote.address_key)) if k is not None]
    assert keys == [address_key("198.51.100.9", b"page-secret")]


def test_refused_vote_shows_the_reason(seeded: Database) -> None:
    at = page("vote")
    sid, battle = at.session_state["session_id"], at.session_state["battle"].battle_id
    # The same session votes first through the API (a double submit): the page's vote is refused.
    record_vote(seeded, battle, sid, "b", sid, limits=VoteLimits(max_votes=None))
    at.button(key="vote_a").click().run()
    assert "这场对战已经投过票了" in at.error[0].value
    assert "模型A" in at.success[0].value  # this session did vote, so it may still see the names


def test_refusal_in_english(seeded: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALS_VOTE_RATE", "1/3600")
    at = page("vote", english=True)
    assert [b.label for b in at.button][:2] == ["A is better", "B is better"]
    at.button(key="vote_a").click().run()  # the first vote fits the limit
    at.button(key="next").click().run()
    at.button(key="vote_b").click().run()
    assert "Too many votes" in at.error[0].value and not at.success


def test_answer_html_is_not_rendered(store: Database) -> None:
    add_model(store, "m1")
    add_model(store, "m2")
    add_answers(store, {"m1": [HTML_ANSWER], "m2": ["**加粗**回答"]})
    at = page("vote")
    shown = [m for m in at.markdown if "bold-injection" in m.value]
    assert shown, "the answer is on the page"
    # Rendered by arena.render: the answer's own HTML arrives escaped (shown as text), never as tags.
    assert all("&lt;b&gt;bold-injection&lt;/b&gt;" in m.value and "<script" not in m.value for m in shown)
    assert not at.exception


def test_vote_without_answers_explains_how_to_create_them(store: Database) -> None:
    at = page("vote")
    assert "evals arena bank import --default" in at.code[0].value
    assert "evals arena generate --models" in at.code[0].value
    assert at.code[0].proto.wrap_lines  # at phone width the long line wraps instead of being cut off
    assert not at.button


def test_closed_live_mode_tells_the_operator_how_to_open_it(store: Database) -> None:
    at = AppTest.from_file(str(PAGES / "vote.py"), default_timeout=60)
    at.session_state["vote_mode"] = "live"
    at.run()
    assert "实时对战还没有开放" in at.info[0].value
    assert "evals arena pool add" in at.code[0].value and at.code[0].proto.wrap_lines


def test_leaderboard(seeded: Database) -> None:
    at = page("leaderboard")
    assert not at.exception
    board = at.dataframe[0].value
    assert list(board["model"]) == ["qwen-sft", "qwen-base"]  # qwen-sft wins 3 of 4
    assert board.loc[0, "ci_low"] <= board.loc[0, "rating"] <= board.loc[0, "ci_high"]
    assert board.loc[0, "votes"] == 16 and board.loc[0, "win_rate"] == pytest.approx(75.0)
    assert board.loc[0, "provisional"]  # 16 votes < 50: marked provisional
    # static suites labelled with split and shots, accuracies as % with their own CI half-width
    assert board.loc[0, "C-Eval val 0-shot"] == pytest.approx(47.0) and board.loc[
        1, "CMMLU val 0-shot"
    ] == pytest.approx(39.0)
    assert board.loc[0, "C-Eval val 0-shot ±"] > 0
    assert board.loc[0, "LongBench val 0-shot"] == pytest.approx(34.7)
    assert len(at.get("vega_lite_chart")) >= 2  # CI error bars + win-rate heatmap
    assert "排名 = 1 + 置信区间完全高于它的模型数" in texts(at)


def test_leaderboard_history_and_empty(store: Database) -> None:
    at = page("leaderboard")
    assert "还没有投票" in at.info[0].value
    seed_all(store)
    add_votes(store, 8, prefer="qwen-base")
    from datetime import datetime, timedelta, timezone

    from db import arena_repo

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    with store.session() as s:
        for day, r in enumerate((1000.0, 1010.0)):
            arena_repo.add_rating_snapshot(s, "bt", "human", [{"model": "qwen-base", "rating": r}],
                                           computed_at=t0 + timedelta(days=day))  # fmt: skip
    at = page("leaderboard", english=True)
    assert "Rating history" in [h.value for h in at.subheader]
    history = json.loads(at.get("vega_lite_chart")[-1].proto.spec)
    assert history["encoding"]["color"]["legend"]["orient"] == "bottom"  # not beside the plot at phone width


def chart_frames(chart: object) -> list[pd.DataFrame]:
    """The data a chart element plots (Streamlit sends it as Arrow IPC streams)."""
    import pyarrow as pa

    return [pa.ipc.open_stream(ds.data.data).read_pandas() for ds in chart.proto.datasets]  # type: ignore[attr-defined]


def test_evals_explorer(seeded: Database) -> None:
    at = page("eval_explorer")
    assert not at.exception
    assert at.selectbox(key="ev_suite").value == "ceval"
    suite_tab, quant_tab = at.tabs
    quant = quant_tab.dataframe[0].value.set_index("quant")
    assert sorted(quant.index) == ["int4", "int8", "无"]  # "none" (full precision) in the UI's words
    assert quant.loc["int8", "size_gib"] == pytest.approx(520_000_000 / 2**30) and quant.loc[
        "int4", "ppl"
    ] == pytest.approx(14.2)
    assert quant_tab.get("vega_lite_chart")  # size vs PPL
    overall = suite_tab.dataframe[0].value.set_index("model")
    assert set(overall.index) == {"qwen-base", "qwen-sft"}
    # C-Eval accuracy in % as `evals run` prints it (47.0%), headers in the UI language
    assert overall.loc["qwen-sft", "value"] == pytest.approx(47.0)
    assert set(overall["name"]) == {"准确率"} and set(overall["quant"]) == {"无"}  # not "accuracy", "none"
    assert column_labels(suite_tab.dataframe[0]) >= {"模型", "量化", "指标", "数值"}
    assert column_labels(quant_tab.dataframe[0]) >= {"模型", "量化", "套件"}
    bars = json.loads(suite_tab.get("vega_lite_chart")[0].proto.spec)
    shown = {v for frame in chart_frames(suite_tab.get("vega_lite_chart")[1]) for v in frame["subset"]}
    assert shown and shown <= {"理工", "人文", "社会科学", "其他", "中国特有"}, shown
    assert bars["encoding"]["y"]["title"] == "准确率 (%)" and bars["encoding"]["color"]["legend"]["orient"] == "bottom"
    at.selectbox(key="ev_a").set_value("qwen-sft")
    at.selectbox(key="ev_b").set_value("qwen-base").run()
    gap = at.tabs[0].dataframe[1].value
    assert gap.iloc[0]["subject"] == "法学 · law" and gap.iloc[0]["gap"] == pytest.approx(25.0)  # percentage points
    assert "学科" in column_labels(at.tabs[0].dataframe[1])
    at.selectbox(key="ev_suite").set_value("longbench").run()
    assert "按长度区间（各任务平均）" in [h.value for h in at.subheader]
    # LongBench is already 0-100: shown as stored, not times 100
    assert at.tabs[0].dataframe[0].value.set_index("model").loc["qwen-sft", "value"] == pytest.approx(34.7)


def test_models_lineage_and_loss(seeded: Database) -> None:
    at = page("models")
    assert not at.exception
    table = at.dataframe[0].value.set_index("model")
    # counts as people say them, a dash (not "None") where nothing is recorded, headers in Chinese
    assert table.loc["qwen-base", "n_params"] == "500M" and table.loc["yi-chat", "n_params"] == "—"
    assert table.loc["qwen-base", "base_model"] == "—" and table.loc["qwen-sft", "base_model"] == "qwen-base"
    assert "None" not in table.astype(str).to_numpy()
    assert column_labels(at.dataframe[0]) >= {"模型", "基座模型", "参数量"}
    tree = at.code[0].value
    assert "qwen-base\n└─ qwen-sft" in tree and "yi-chat" in tree
    at.selectbox(key="models_pick").set_value("qwen-sft").run()
    assert "训练损失" in [h.value for h in at.subheader]
    assert '"method": "lora"' in at.code[1].value


def test_runs_page(seeded: Database) -> None:
    at = page("runs")
    assert not at.exception
    runs = at.dataframe[0].value
    assert {"ceval", "cmmlu", "longbench", "ppl"} <= set(runs["suite"])
    # the headline as `evals results` prints it; a dash, not "None", where a run has no such value
    by_id = runs.set_index("run")
    assert by_id.loc["ceval-qwen-sft", "headline"] == "acc 47.0%" and by_id.loc["ceval-qwen-sft", "status"] == "完成"
    assert by_id.loc["ppl-int4", "headline"] == "ppl 14.200"
    assert "None" not in by_id[["headline", "split", "shots", "quant"]].astype(str).to_numpy()
    assert column_labels(at.dataframe[0]) >= {"模型", "套件", "主要指标"}
    assert at.selectbox(key="runs_pick").format_func(by_id.index[0]).startswith(str(by_id.iloc[0]["model"]))


def test_app_navigation_and_language(seeded: Database) -> None:
    at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "投票"  # the vote page is the default
    at.toggle(key="_lang_toggle").set_value(True).run()
    assert at.title[0].value == "Vote"
    at.switch_page("views/leaderboard.py").run()
    assert at.title[0].value == "Leaderboard" and not at.exception
