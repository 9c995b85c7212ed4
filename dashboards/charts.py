"""Altair chart builders for the pages (presentation only: frames in, charts out)."""

from __future__ import annotations

import altair as alt
import pandas as pd

# What the builders return; altair's `mark_*` and `encode` are untyped, so results are pinned here.
Layered = alt.LayerChart | alt.FacetChart


def rating_ci(board: pd.DataFrame, title: str) -> Layered:
    """BT rating per model as a point with its 95 % bootstrap interval as an error bar."""
    data = board.dropna(subset=["bt"])
    order = data.sort_values("bt", ascending=False)["model"].tolist()
    y = alt.Y("model:N", sort=order, title=None)
    bars = (
        alt.Chart(data)
        .mark_rule(strokeWidth=2)
        .encode(y=y, x=alt.X("ci_low:Q", scale=alt.Scale(zero=False), title=title), x2="ci_high:Q")
    )
    points = alt.Chart(data).mark_point(filled=True, size=80).encode(
        y=y, x="bt:Q", tooltip=["model", alt.Tooltip("bt:Q", format=".1f"), alt.Tooltip("ci_low:Q", format=".1f"),
                                alt.Tooltip("ci_high:Q", format=".1f"), "battles"],
    )  # fmt: skip
    layered: Layered = (bars + points).properties(height=max(120, 32 * len(order)))
    return layered


def heatmap(pairs: pd.DataFrame, order: list[str], row_title: str, col_title: str) -> Layered:
    """Pairwise win rate of the row model over the column model, with the value printed in each cell."""
    base = alt.Chart(pairs).encode(
        y=alt.Y("model_a:N", sort=order, title=row_title), x=alt.X("model_b:N", sort=order, title=col_title)
    )
    cells = base.mark_rect().encode(
        color=alt.Color("win_rate:Q", scale=alt.Scale(scheme="redblue", domain=[0, 1]), title=None),
        tooltip=["model_a", "model_b", alt.Tooltip("win_rate:Q", format=".2f"), "battles"],
    )
    text = base.mark_text(fontSize=12).encode(text=alt.Text("win_rate:Q", format=".2f"))
    side = max(160, 48 * len(order))
    layered: Layered = (cells + text).properties(width=side, height=side)
    return layered


def grouped_bars(data: pd.DataFrame, x: str, value: str, group: str, title: str) -> alt.Chart:
    """Bars of `value` per `x`, one bar per `group` side by side (xOffset)."""
    chart: alt.Chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:N", title=None, axis=alt.Axis(labelAngle=-30)),
            xOffset=f"{group}:N",
            y=alt.Y(f"{value}:Q", title=title),
            color=alt.Color(f"{group}:N", title=None),
            tooltip=[x, group, alt.Tooltip(f"{value}:Q", format=".3f")],
        )
    )
    return chart


def size_vs_ppl(table: pd.DataFrame, x_title: str) -> Layered:
    """Weight size (GiB) against perplexity, one point per (model, quant), labelled by precision."""
    base = alt.Chart(table.dropna(subset=["size_gib"])).encode(
        x=alt.X("size_gib:Q", title=x_title), y=alt.Y("ppl:Q", scale=alt.Scale(zero=False), title="PPL"),
        color=alt.Color("model:N", title=None),
    )  # fmt: skip
    points = base.mark_point(filled=True, size=90).encode(tooltip=["model", "quant", "size_gib", "ppl"])
    layered: Layered = points + base.mark_text(dy=-10).encode(text="quant:N")
    return layered


def lines(data: pd.DataFrame, x: str, y: str, color: str | None, x_title: str, y_title: str) -> alt.Chart:
    """A line per `color` (or a single line) of `y` over `x`."""
    enc: dict[str, object] = {
        "x": alt.X(x, title=x_title),
        "y": alt.Y(f"{y}:Q", scale=alt.Scale(zero=False), title=y_title),
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=None)
    chart: alt.Chart = alt.Chart(data).mark_line(point=True).encode(**enc, tooltip=list(data.columns))
    return chart
