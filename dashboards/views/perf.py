"""性能 Performance: serving latency against concurrency (`evals run --suite perf`), one line per model.

Reads each model's newest finished perf run (its stored per-level metrics); open-loop (--rate) levels
have no fixed concurrency and are left out of the plots.
"""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data
from dashboards.i18n import t

st.title(t("性能", "Performance"))
db = data.database()
levels = data.perf_levels(db)
if levels.empty:
    st.info(t("还没有性能测试。试试 `evals run --suite perf --backend openai --base-url … --concurrency 1,4,16`。",
              "No performance runs yet — try `evals run --suite perf --backend openai --base-url … --concurrency 1,4,16`."))  # fmt: skip
    st.stop()
models = sorted(levels["model"].unique())
chosen = st.multiselect(t("模型", "Models"), models, default=models[:4], key="perf_models")
picked = levels[levels["model"].isin(chosen)]
if picked.empty:
    st.stop()
for latency, zh, en in (
    ("ttft", "首字延迟 TTFT", "Time to first token (TTFT)"),
    ("tpot", "每个输出词元耗时 TPOT", "Time per output token (TPOT)"),
):
    part = picked[picked["latency"] == latency]
    if part.empty:
        continue
    st.subheader(t(zh, en))
    st.altair_chart(
        charts.latency_vs_concurrency(part, "ms (p50 —, p99 - -)", t("并发数", "concurrency")), width="stretch"
    )
st.caption(t("实线 p50，虚线 p99；横轴为同时在途的请求数（对数刻度）。",
             "Solid p50, dashed p99; x: requests in flight (log scale)."))  # fmt: skip
with st.expander(t("数据", "Data")):
    table = picked.pivot_table(index=["model", "concurrency"], columns=["latency", "stat"], values="ms")
    table.columns = [f"{a}_{b}_ms" for a, b in table.columns]
    st.dataframe(table.reset_index(), hide_index=True, width="stretch",
                 column_config={"model": st.column_config.TextColumn(t("模型", "Model")),
                                "concurrency": st.column_config.NumberColumn(t("并发数", "Concurrency")),
                                **{c: st.column_config.NumberColumn(c, format="%.1f") for c in table.columns}})  # fmt: skip
