"""模型 Models: every registered model, the base → fine-tune lineage tree, and training loss curves."""

from __future__ import annotations

import json

import streamlit as st

from dashboards import charts, data
from dashboards.i18n import lang, t
from dashboards.tables import count, dashed, in_language, when

st.title(t("模型", "Models"))
db = data.database()
models = data.models_frame(db)
if models.empty:
    st.info(t("还没有登记的模型。试试 `evals models add` 或 `evals run`。",
              "No models registered yet — try `evals models add` or `evals run`."))  # fmt: skip
    st.stop()

shown = dashed(
    in_language(models.drop(columns=["lineage"]), ["quantization"], lang() == "zh"),
    ["base_model", "backend", "quantization", "path"],
).assign(n_params=models["n_params"].map(count), created=models["created"].map(when))
text = st.column_config.TextColumn
st.dataframe(shown, hide_index=True, width="stretch",
             column_config={"model": text(t("模型", "Model")), "base_model": text(t("基座模型", "Base model")),
                            "backend": text(t("后端", "Backend")), "quantization": text(t("量化", "Quantization")),
                            "n_params": text(t("参数量", "Parameters")), "path": text(t("路径", "Path")),
                            "created": text(t("登记时间", "Registered"))})  # fmt: skip

st.subheader(t("谱系（基座 → 微调）", "Lineage (base → fine-tune)"))
st.code("\n".join(data.lineage_lines(models)), language=None)

name = st.selectbox(t("模型详情", "Model details"), models["model"].tolist(), key="models_pick")
lineage = models.set_index("model").at[name, "lineage"]
curve = data.loss_curve(lineage)
if not curve.empty:
    st.subheader(t("训练损失", "Training loss"))
    st.altair_chart(charts.lines(curve, "step:Q", "loss", None, t("步数", "Step"), t("损失", "Loss")),
                    width="stretch")  # fmt: skip
shown_lineage = {k: v for k, v in lineage.items() if k != "loss_curve"}
if shown_lineage:
    st.caption(t("训练记录（谱系字段）", "Training record (lineage fields)"))
    st.code(json.dumps(shown_lineage, ensure_ascii=False, indent=2), language="json")
elif curve.empty:
    st.caption(t("没有谱系记录。", "No lineage recorded."))
