"""排行榜 Leaderboard: rank, rating ± CI, votes, provisional mark, win rate, static suites, charts, history.

Ratings come from the newest stored snapshot (`data.leaderboard`); a vote since then refreshes it
in the background, so the page never fits anything. Toggles pick the snapshot: style control,
rating method (Bradley–Terry with sandwich CIs, or online Elo) and a prompt category.
"""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data
from dashboards.i18n import t

MIN_VOTES = 50  # fewer battles: the rating is marked provisional (暂定)

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

left, middle, right = st.columns(3)
with left:
    method = st.radio(
        t("评分方法", "Rating method"), ["bt", "elo"], horizontal=True, key="lb_method",
        format_func=lambda m: t("Bradley–Terry（置信区间）", "Bradley–Terry (with CI)") if m == "bt" else t("在线 Elo", "Online Elo"),
    )  # fmt: skip
with middle:
    style = st.toggle(
        t("风格控制", "Style control"), key="lb_style",
        disabled=method == "elo",
        help=t("对回答长度、标题、粗体、列表做回归，评分只反映内容。", "Ratings net of answer length, headers, bold and lists."),
    )  # fmt: skip
with right:
    counts = data.voted_categories(db, kind)
    choice = st.selectbox(
        t("问题类别", "Category"), [""] + list(counts), key="lb_category",
        format_func=lambda c: t(f"全部（{n_votes} 票）", f"All ({n_votes} votes)") if not c else f"{c}（{counts[c]}）",
    )  # fmt: skip
category = choice or None

ratings = data.leaderboard(data.db_url(), kind, style=style and method == "bt", category=category)
static, static_labels = data.static_columns(db)
board = data.board_table(ratings, method, static, MIN_VOTES)
if method == "bt" and board["rating"].isna().all():
    st.warning(t("这一组投票还算不出 BT 评分（对战太少，或有模型全胜/全负）。",
                 "No BT ratings for these votes yet (too few battles, or a model won or lost them all)."))  # fmt: skip

how = (
    t("Bradley–Terry，三明治（稳健）95% 置信区间", "Bradley–Terry, sandwich (robust) 95% CI")
    + (t("，风格控制", ", style-controlled") if style else "")
    if method == "bt"
    else t("在线 Elo（K=4），无置信区间", "online Elo (K=4), no CI")
)
scope = f" · {category}" if category else ""
st.caption(
    t(f"{n_votes} 票{scope} · {len(board)} 个模型 · {how} · 排名 = 1 + 置信区间完全高于它的模型数 · 少于 {MIN_VOTES} 票为“暂定”",
      f"{n_votes} votes{scope} · {len(board)} models · {how} · rank = 1 + models whose interval lies entirely above · "
      f"fewer than {MIN_VOTES} votes: provisional")
)  # fmt: skip
if ratings.flagged:
    why = ", ".join(f"{n} {f}" for f, n in sorted(ratings.flagged.items()))
    st.caption(t(f"未计入评分的标记投票：{why}", f"Flagged votes left out of the ratings: {why}"))
if ratings.computed_at is not None:
    st.caption(t(f"评分快照时间 {ratings.computed_at:%Y-%m-%d %H:%M:%S}（有新投票时后台自动更新）",
                 f"Ratings snapshot of {ratings.computed_at:%Y-%m-%d %H:%M:%S} (refreshed in the background after votes)"))  # fmt: skip

columns = {
    "rank": st.column_config.NumberColumn(t("排名", "Rank"), help=t("1 + 置信区间完全高于它的模型数", "1 + models entirely above")),
    "model": st.column_config.TextColumn(t("模型", "Model")),
    "rating": st.column_config.NumberColumn(t("评分", "Rating"), format="%.0f"),
    "ci": st.column_config.TextColumn(t("95% 置信区间", "95% CI")),
    "votes": st.column_config.NumberColumn(t("票数", "Votes")),
    "provisional": st.column_config.CheckboxColumn(t("暂定", "Provisional"), help=t(f"少于 {MIN_VOTES} 票", f"< {MIN_VOTES} votes")),
    "win_rate": st.column_config.NumberColumn(t("胜率", "Win rate"), format="%.1f%%", help=t("不计平局", "ties left out")),
}  # fmt: skip
SPLITS_ZH = {"val": "验证集", "test": "测试集", "dev": "开发集", "train": "训练集"}


def static_label(col: str) -> str:
    """e.g. "C-Eval（验证集，5 样本）" / "C-Eval (val, 5-shot)": which split and shots a column shows."""
    name, split, shots = static_labels[col]
    parts = [t(SPLITS_ZH.get(split, split), split)] if split else []
    if shots is not None:
        parts.append(t(f"{shots} 样本", f"{shots}-shot"))
    if not parts:
        return name
    return t(f"{name}（{'，'.join(parts)}）", f"{name} ({', '.join(parts)})")


for col in static.columns:
    if col.endswith(" ±"):
        columns[col] = st.column_config.NumberColumn(
            "±", format="%.1f", help=t("95% 置信区间半宽", "95% CI half-width")
        )
    elif col.startswith("PPL"):
        columns[col] = st.column_config.NumberColumn(
            static_label(col), format="%.2f", help=t("困惑度，越低越好", "perplexity, lower is better")
        )
    elif col.startswith("LongBench"):
        columns[col] = st.column_config.NumberColumn(
            static_label(col), format="%.1f", help=t("LongBench 平均分（0–100）", "LongBench average (0–100)")
        )
    else:
        columns[col] = st.column_config.NumberColumn(
            f"{static_label(col)} %",
            format="%.1f",
            help=t("准确率 %，± 为 95% 置信区间半宽", "accuracy %; ± is the 95% CI half-width"),
        )
order_cols = [c for c in board.columns if c not in ("ci_low", "ci_high")]
order_cols = [c for c in order_cols if not (c.endswith(" ±") and board[c].isna().all())]  # no CI for this suite
st.dataframe(board, hide_index=True, width="stretch", column_config=columns, column_order=order_cols)
for warning in ratings.warnings[:5]:
    st.caption(f"⚠️ {warning}")

st.download_button(
    t("下载全部计分投票（FastChat 格式 JSON）", "Download all rated votes (FastChat JSON)"),
    data=lambda: data.rated_votes_json(db, kind), file_name=f"leitai_{kind}_votes.json", mime="application/json",
    help=t("用 `evals arena ratings --import 文件` 可复算本榜", "Recompute this board with `evals arena ratings --import FILE`"),
)  # fmt: skip

st.subheader(t("评分与 95% 置信区间", "Rating with 95% CI") if method == "bt" else t("在线 Elo", "Online Elo"))
if board["rating"].notna().any():
    st.altair_chart(charts.rating_ci(board, t("评分", "Rating")), width="stretch")
else:
    st.caption(t("对战太少，还没有评分。", "Too few battles for ratings yet."))

st.subheader(t("两两胜率（行模型胜列模型）", "Pairwise win rate (row beats column)"))
order = board["model"].tolist()
heat = charts.heatmap(data.win_rate_long(ratings), order, t("模型", "Model"), t("对手", "Opponent"))
st.altair_chart(heat, width="content")  # square cells of a fixed step; wide boards scroll sideways

history = data.rating_history(db, "bt", kind)
if history["computed_at"].nunique() > 1:
    st.subheader(t("评分历史", "Rating history"))
    st.altair_chart(
        charts.lines(history, "computed_at:T", "rating", "model", t("时间", "Time"), t("BT 评分", "BT rating")),
        width="stretch",
    )
