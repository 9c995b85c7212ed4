"""运行 Runs: every stored run with its headline metrics; pick one to see all its metrics."""

from __future__ import annotations

import streamlit as st

from dashboards.data import database, run_metrics_frame, runs_frame
from dashboards.i18n import t

st.title(t("运行", "Runs"))
db = database()
runs = runs_frame(db)
if runs.empty:
    st.info(t("还没有运行结果。试试 `evals run --suite ceval`。", "No runs yet — try `evals run --suite ceval`."))
    st.stop()

suites = sorted(runs["suite"].unique())
chosen = st.multiselect(t("套件", "Suite"), suites, default=suites, key="runs_suites")
view = runs[runs["suite"].isin(chosen)]
st.dataframe(view, hide_index=True, width="stretch")

run_id = st.selectbox(t("运行详情", "Run details"), view["run"].tolist(), format_func=lambda r: r[:10], key="runs_pick")
if run_id:
    metrics = run_metrics_frame(db, run_id)
    st.dataframe(metrics, hide_index=True, width="stretch")
    cats = metrics[metrics["metric"] == "by_category"]
    if not cats.empty:
        st.bar_chart(cats.set_index("subset")["value"])
