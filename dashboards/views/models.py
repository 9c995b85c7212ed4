"""模型 Models: every registered model, the base → fine-tune lineage tree, and training loss curves."""

from __future__ import annotations

import json

import streamlit as st

from dashboards import charts, data
from dashboards.i18n import t

st.title(t("模型", "Models"))
db = data.database()
models = data.models_frame(db)
if models.empty:
    st.info(t("还没有登记的模型。试试 `evals models add` 或 `evals run`。",
              "No models registered yet — try `evals models add` or `evals run`."))  # fmt: skip
    st.stop()

st.dataframe(models.drop(columns=["lineage"]), hide_index=True, width="stretch")

st.subheader(t("谱系（基座 → 微调）", "Lineage (base → fine-tune)"))
st.code("\n".join(data.lineage_lines(models)), language=None)

name = st.selectbox(t("模型详情", "Model details"), models["model"].tolist(), key="models_pick")
lineage = models.set_index("model").at[name, "lineage"]
curve = data.loss_curve(lineage)
if not curve.empty:
    st.subheader(t("训练损失", "Training loss"))
    st.altair_chart(charts.lines(curve, "step:Q", "loss", None, t("步数", "Step"), t("损失", "Loss")),
                    width="stretch")  # fmt: skip
shown = {k: v for k, v in lineage.items() if k != "loss_curve"}
if shown:
    st.code(json.dumps(shown, ensure_ascii=False, indent=2), language="json")
elif curve.empty:
    st.caption(t("没有谱系记录。", "No lineage recorded."))
