"""排行榜 Leaderboard: BT ratings with 95 % CIs, online Elo, win rates, static suites, lineage, history.

Ratings come from the newest stored snapshot (`data.leaderboard`); a vote since then refreshes it
in the background, so the page never fits anything.
"""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data
from dashboards.i18n import t

st.title(t("排行榜", "Leaderboard"))
db = data.database()
kind = "human"
if data.rated_vote_count(db, "judge"):
    judge = st.toggle(t("显示裁判模型（LLM-as-judge）的投票", "Show LLM-as-judge votes"), key="lb_judge")
    kind = "judge" if judge else "human"
n_votes = data.rated_vote_count(db, kind)
if not n_votes:
    st.info(t("还没有投票。去“投票”页投几票，排行榜就会出现。", "No votes yet. Cast a few on the Vote page."))
    st.stop()

ratings = data.leaderboard(data.db_url(), kind)
board = data.leaderboard_frame(ratings, data.headline_table(db), data.models_frame(db))
st.caption(t(f"{n_votes} 票 · {len(ratings.models)} 个模型 · Bradley–Terry，三明治（稳健）95% 置信区间",
             f"{n_votes} votes · {len(ratings.models)} models · Bradley–Terry, sandwich (robust) 95% CI"))  # fmt: skip
if ratings.flagged:
    why = ", ".join(f"{n} {f}" for f, n in sorted(ratings.flagged.items()))
    st.caption(t(f"未计入评分的标记投票：{why}", f"Flagged votes left out of the ratings: {why}"))
st.dataframe(
    board,
    hide_index=True,
    width="stretch",
    column_config={
        "rank": st.column_config.NumberColumn(t("排名", "Rank"), help=t("置信区间意义下的名次", "Rank by CI")),
        "model": t("模型", "Model"),
        "bt": st.column_config.NumberColumn(t("BT 评分", "BT rating"), format="%.1f"),
        "ci_low": st.column_config.NumberColumn("95% CI −", format="%.1f"),
        "ci_high": st.column_config.NumberColumn("95% CI +", format="%.1f"),
        "elo": st.column_config.NumberColumn(t("在线 Elo", "Online Elo"), format="%.1f"),
        "win_rate": st.column_config.NumberColumn(t("胜率", "Win rate"), format="%.3f"),
        "battles": t("对战数", "Battles"),
        "C-Eval": st.column_config.NumberColumn("C-Eval %", format="%.1f"),
        "CMMLU": st.column_config.NumberColumn("CMMLU %", format="%.1f"),
        "LongBench Avg": st.column_config.NumberColumn("LongBench Avg", format="%.1f"),
        "base_model": t("基座模型", "Base model"),
    },
)
for warning in ratings.warnings:
    st.caption(f"⚠️ {warning}")

left, right = st.columns(2)
with left:
    st.subheader(t("BT 评分与 95% 置信区间", "BT rating with 95% CI"))
    if board["bt"].notna().any():
        st.altair_chart(charts.rating_ci(board, t("评分", "Rating")), width="stretch")
    else:
        st.caption(t("对战太少，还没有 BT 评分。", "Too few battles for BT ratings yet."))
with right:
    st.subheader(t("两两胜率（行胜列）", "Pairwise win rate (row beats column)"))
    order = board["model"].tolist()
    st.altair_chart(charts.heatmap(data.win_rate_long(ratings), order, t("模型", "Model"), t("对手", "Opponent")))

history = data.rating_history(db, "bt", kind)
if history["computed_at"].nunique() > 1:
    st.subheader(t("评分历史", "Rating history"))
    st.altair_chart(
        charts.lines(history, "computed_at:T", "rating", "model", t("时间", "Time"), t("BT 评分", "BT rating")),
        width="stretch",
    )
