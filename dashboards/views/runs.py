"""运行 Runs: every stored run with its headline metric; pick one to see all its metrics.

Model, suite and the headline (as `evals results` prints it, e.g. "acc 47.0%") come first, so a phone
shows what matters without scrolling sideways; the run id comes last.
"""

from __future__ import annotations

import streamlit as st

from dashboards.data import database, run_metrics_frame, runs_frame
from dashboards.i18n import lang, t
from dashboards.tables import dashed, in_language, when

st.title(t("运行", "Runs"))
db = database()
runs = runs_frame(db)
if runs.empty:
    st.info(t("还没有运行结果。试试 `evals run --suite ceval`。", "No runs yet — try `evals run --suite ceval`."))
    st.stop()

suites = sorted(runs["suite"].unique())
chosen = st.multiselect(t("套件", "Suite"), suites, default=suites, key="runs_suites")
view = runs[runs["suite"].isin(chosen)]
STATUS = {"finished": ("完成", "finished"), "running": ("进行中", "running"), "failed": ("失败", "failed"),
          "interrupted": ("已中断", "interrupted")}  # fmt: skip
shown = dashed(in_language(view, ["quant"], lang() == "zh"), ["headline", "split", "shots", "quant"]).assign(
    finished=view["finished"].map(when), status=[t(*STATUS[x]) if x in STATUS else x for x in view["status"]]
)
text = st.column_config.TextColumn
st.dataframe(
    shown, hide_index=True, width="stretch",
    column_order=["model", "suite", "headline", "status", "split", "shots", "quant", "items", "finished", "run"],
    column_config={
        "model": text(t("模型", "Model")), "suite": text(t("套件", "Suite")),
        "headline": text(t("主要指标", "Headline"), help=t("与 `evals results` 相同", "as `evals results` shows it")),
        "status": text(t("状态", "Status")), "split": text(t("数据划分", "Split")), "shots": text(t("样本数", "Shots")),
        "quant": text(t("量化", "Quantization")), "items": st.column_config.NumberColumn(t("题数", "Items")),
        "finished": text(t("完成时间", "Finished")), "run": text(t("运行 ID", "Run id")),
    },
)  # fmt: skip

labels = {r.run: f"{r.model} · {r.suite} · {r.run[:12]}" for r in view.itertuples()}
run_id = st.selectbox(t("运行详情", "Run details"), view["run"].tolist(), format_func=labels.__getitem__,
                      key="runs_pick")  # fmt: skip
metrics = run_metrics_frame(db, run_id) if run_id else None
if metrics is not None and metrics.empty:
    st.caption(t("这个运行还没有指标（可能还在进行中）。", "This run has no metrics yet (it may still be running)."))
elif metrics is not None:
    st.dataframe(metrics, hide_index=True, width="stretch",
                 column_config={"metric": text(t("指标", "Metric")), "subset": text(t("子集", "Subset")),
                                "value": st.column_config.NumberColumn(t("数值", "Value"), format="%.4g")})  # fmt: skip
    cats = metrics[metrics["metric"] == "by_category"]
    if not cats.empty:
        st.bar_chart(cats.set_index("subset")["value"], x_label=t("类别", "Category"), y_label=t("数值", "Value"))
