"""The rebuilt 排行榜: toggles read their own stored snapshots, Elo mode, categories, the language
kept in the URL across reloads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from db import Database, arena_repo
from tests.dashboards.test_pages import page, seeded, store, texts


def test_style_method_and_category_toggles(seeded: Database) -> None:
    at = page("leaderboard")
    assert not at.exception
    at.toggle(key="lb_style").set_value(True).run()
    assert not at.exception
    board = at.dataframe[0].value
    assert list(board["model"]) == ["qwen-sft", "qwen-base"]
    assert "风格控制" in texts(at)
    with seeded.session(write=False) as s:
        assert len(arena_repo.latest_rating_snapshots(s, "bt+style", "human")) == 2  # its own snapshot

    at.radio(key="lb_method").set_value("elo").run()
    assert not at.exception
    board = at.dataframe[0].value
    assert list(board["rank"]) == [1, 2] and (board["ci"] == "—").all()
    assert "在线 Elo（K=4），无置信区间" in texts(at)

    at.radio(key="lb_method").set_value("bt").run()
    options = at.selectbox(key="lb_category").options
    assert any("通用知识" in o for o in options)
    at.selectbox(key="lb_category").set_value("通用知识").run()
    assert not at.exception
    assert "· 通用知识 ·" in texts(at)
    assert len(at.get("vega_lite_chart")) >= 2


def _language_probe() -> None:
    import streamlit as st

    from dashboards.i18n import lang, language_toggle

    language_toggle()
    st.markdown(f"lang={lang()}")


def test_language_choice_survives_a_reload_through_the_url() -> None:
    at = AppTest.from_function(_language_probe)
    at.query_params["lang"] = "en"  # what a reload of an English page carries
    at.run()
    assert "lang=en" in at.markdown[0].value
    fresh = AppTest.from_function(_language_probe).run()
    assert "lang=zh" in fresh.markdown[0].value
    fresh.toggle(key="_lang_toggle").set_value(True).run()
    assert fresh.query_params.get("lang") in ("en", ["en"])
    assert "lang=en" in fresh.markdown[0].value


@pytest.mark.skipif(
    importlib.util.find_spec("playwright") is None or not Path("/usr/bin/chromium").exists(),
    reason="needs playwright and /usr/bin/chromium",
)
def test_chromium_renders_readable_charts_at_desktop_and_phone_sizes(tmp_path: Path) -> None:
    from tests.dashboards.leaderboard_screens import shoot

    shots = shoot(tmp_path, 3) + shoot(tmp_path, 50)
    assert len(shots) == 4
    for shot in shots:
        assert (tmp_path / shot["file"]).stat().st_size > 10_000
        (ci_w, ci_h), (heat_w, heat_h) = shot["charts_px"][:2]
        width = shot["viewport"][0]
        assert ci_h >= 100 and heat_h >= 100 and heat_w >= 100  # never a 2-px strip
        assert ci_w <= width  # the CI chart fits the screen; a wide heatmap may scroll sideways
    big = [s for s in shots if "50models" in s["file"]]
    assert all(s["charts_px"][0][1] >= 50 * 20 for s in big)  # one labelled row per model
