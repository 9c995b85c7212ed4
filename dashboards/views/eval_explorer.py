"""评测 Evals: overall and per-category bars, per-subject gaps, LongBench lengths, quantization vs PPL.

Reads finished runs and their stored metrics (newest run per model and precision); no scoring here.
Accuracies of C-Eval/CMMLU show as % (as `evals run` prints them); headers are in the UI language.
"""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data
from dashboards.i18n import lang, t
from dashboards.tables import in_language

st.title(t("评测", "Evals"))
db = data.database()
suites = data.finished_suites(db)
if not suites:
    st.info(
        t("还没有完成的评测。试试 `evals run --suite ceval`。", "No finished runs yet — try `evals run --suite ceval`.")
    )
    st.stop()

MODEL = st.column_config.TextColumn(t("模型", "Model"))
QUANT = st.column_config.TextColumn(t("量化", "Quantization"), help=t("无 = 未量化（原精度）", "none = not quantized"))

suite_tab, quant_tab = st.tabs([t("套件", "Suite"), t("量化", "Quantization")])
with quant_tab:
    quant = in_language(data.quant_table(db), ("quant",), lang() == "zh")
    if quant.empty:
        st.info(t("还没有困惑度（PPL）结果。试试 `evals run --suite ppl --data 语料.txt`。",
                  "No perplexity (PPL) results yet — try `evals run --suite ppl --data corpus.txt`."))  # fmt: skip
    else:
        st.dataframe(quant, hide_index=True, width="stretch",
                     column_config={"model": MODEL, "quant": QUANT, "suite": st.column_config.TextColumn(t("套件", "Suite")),
                                    "size_gib": st.column_config.NumberColumn(t("权重 GiB", "Weights GiB"), format="%.3f"),
                                    "ppl": st.column_config.NumberColumn("PPL", format="%.3f")})  # fmt: skip
        if quant["size_gib"].notna().any():
            st.altair_chart(charts.size_vs_ppl(quant, t("权重大小 (GiB)", "Weight size (GiB)")), width="stretch")

with suite_tab:
    suite = st.selectbox(t("套件", "Suite"), suites, key="ev_suite")
    percent = data.percent_suite(suite)
    metrics = data.as_percent(data.suite_metrics(db, suite))
    metrics = metrics[metrics["quant"] == "none"] if (metrics["quant"] == "none").any() else metrics
    all_models = sorted(metrics["model"].unique())
    chosen = st.multiselect(t("模型", "Models"), all_models, default=all_models[:6], key="ev_models")
    picked = metrics[metrics["model"].isin(chosen)]
    if picked.empty:
        st.info(t("选一个或几个模型。", "Pick one or more models."))
        st.stop()  # the quantization tab above is already drawn

    score = t("准确率 (%)", "Accuracy (%)") if percent else t("分数", "Score")
    fmt, tip = ("%.1f%%", ".1f") if percent else ("%.2f", ".2f")
    value_col = st.column_config.NumberColumn(t("数值", "Value"), format=fmt)
    zh = lang() == "zh"
    head = in_language(data.overall(picked), ("name", "quant"), zh)
    st.subheader(t("总体", "Overall"))
    st.dataframe(head, hide_index=True, width="stretch",
                 column_config={"model": MODEL, "quant": QUANT, "name": st.column_config.TextColumn(t("指标", "Metric")),
                                "value": value_col})  # fmt: skip
    st.altair_chart(charts.grouped_bars(head, "name", "value", "model", score, tip), width="stretch")

    cats = picked[picked["name"] == "by_category"]
    if not cats.empty:
        st.subheader(t("分类别", "By category"))
        cats = in_language(cats, ("subset",), zh)
        st.altair_chart(charts.grouped_bars(cats, "subset", "value", "model", score, tip), width="stretch")

    if (picked["name"] == "by_subject").any() and len(chosen) >= 2:
        st.subheader(t("分学科差距", "Per-subject gap"))
        a_col, b_col = st.columns(2)
        model_a = a_col.selectbox(t("模型 A", "Model A"), chosen, index=0, key="ev_a")
        model_b = b_col.selectbox(t("模型 B", "Model B"), chosen, index=1, key="ev_b")
        st.caption(t("差距 = A − B（百分点），按绝对值从大到小；点表头可重新排序。",
                     "gap = A − B (percentage points), largest |gap| first; click a header to sort.")
                   if percent else t("差距 = A − B，按绝对值从大到小；点表头可重新排序。",
                                     "gap = A − B, largest |gap| first; click a header to sort."))  # fmt: skip
        gap = data.subject_gap(picked, model_a, model_b)
        if zh:  # 法学 · law: the Chinese name, and the handle `--subjects` takes
            names = data.subject_names(suite)
            gap["subject"] = [f"{names[h]} · {h}" if h in names else h for h in gap["subject"]]
        st.dataframe(gap, hide_index=True, width="stretch",
                     column_config={"subject": st.column_config.TextColumn(t("学科", "Subject")),
                                    model_a: st.column_config.NumberColumn(model_a, format=fmt),
                                    model_b: st.column_config.NumberColumn(model_b, format=fmt),
                                    "gap": st.column_config.NumberColumn(t("差距", "Gap"), format="%+.1f" if percent else "%+.3f")})  # fmt: skip

    if (picked["name"] == "by_task").any():
        st.subheader(t("分任务", "By task"))
        tasks = picked[picked["name"] == "by_task"].pivot_table(index="subset", columns="model", values="value")
        st.dataframe(tasks.rename_axis(t("任务", "Task")), width="stretch",
                     column_config={m: st.column_config.NumberColumn(m, format="%.1f") for m in tasks.columns})  # fmt: skip
    buckets = data.length_buckets(picked)
    if not buckets.empty:
        st.subheader(t("按长度区间（各任务平均）", "By length bucket (mean over tasks)"))
        per_bucket = buckets.groupby(["model", "bucket"], as_index=False)["value"].mean()
        st.altair_chart(charts.grouped_bars(per_bucket, "bucket", "value", "model", score, tip), width="stretch")
