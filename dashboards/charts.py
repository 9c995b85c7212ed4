"""Altair chart builders for the pages (presentation only: frames in, charts out)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

# altair's chart operators are untyped (`bars + points` is Any); every builder returns a chart of some kind
Chart = Any


def rating_ci(board: pd.DataFrame, title: str, rating: str = "rating") -> Chart:
    """Rating per model as a point with its confidence interval as a bar, best on top.

    Every model keeps its label (no truncation, one 22-px row each), so 3 and 50 models both read.
    """
    data = board.dropna(subset=[rating]).copy()
    data["lo"] = data["ci_low"].fillna(data[rating])
    data["hi"] = data["ci_high"].fillna(data[rating])
    order = data.sort_values(rating, ascending=False)["model"].tolist()
    y = alt.Y("model:N", sort=order, title=None, axis=alt.Axis(labelLimit=0, labelOverlap=False))
    x = alt.X("lo:Q", scale=alt.Scale(zero=False), title=title)
    bars = alt.Chart(data).mark_rule(strokeWidth=3, opacity=0.6).encode(y=y, x=x, x2="hi:Q")
    points = alt.Chart(data).mark_point(filled=True, size=70).encode(
        y=y, x=f"{rating}:Q",
        tooltip=["model", alt.Tooltip(f"{rating}:Q", format=".1f"), alt.Tooltip("lo:Q", format=".1f", title="CI −"),
                 alt.Tooltip("hi:Q", format=".1f", title="CI +"), "votes"],
    )  # fmt: skip
    return (bars + points).properties(height=alt.Step(22))


def heatmap(pairs: pd.DataFrame, order: list[str], row_title: str, col_title: str) -> Chart:
    """Pairwise win rate of the row model over the column model.

    Cells are square steps sized by the number of models (values printed up to 12 models), so
    the matrix never collapses into a strip; long names keep their full labels.
    """
    n = max(len(order), 1)
    step = 44 if n <= 6 else 30 if n <= 12 else 18 if n <= 30 else 12
    axis = alt.Axis(labelLimit=0, labelOverlap=False)
    base = alt.Chart(pairs).encode(
        y=alt.Y("model_a:N", sort=order, title=row_title, axis=axis),
        x=alt.X(
            "model_b:N", sort=order, title=col_title, axis=alt.Axis(labelLimit=0, labelOverlap=False, labelAngle=-45)
        ),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("win_rate:Q", scale=alt.Scale(scheme="redblue", domain=[0, 1]), title=None,
                        legend=alt.Legend(format=".0%")),
        tooltip=["model_a", "model_b", alt.Tooltip("win_rate:Q", format=".0%"), "battles"],
    )  # fmt: skip
    chart = cells
    if n <= 12:
        chart = cells + base.mark_text(fontSize=11).encode(text=alt.Text("win_rate:Q", format=".0%"))
    return chart.properties(width=alt.Step(step), height=alt.Step(step))


def grouped_bars(data: pd.DataFrame, x: str, value: str, group: str, title: str, fmt: str = ".3f") -> Chart:
    """Bars of `value` per `x`, one bar per `group` side by side (xOffset).

    The legend sits below the plot: on the right it took a third of a 390-px phone's width."""
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:N", title=None, axis=alt.Axis(labelAngle=-30, labelLimit=160)),
            xOffset=f"{group}:N",
            y=alt.Y(f"{value}:Q", title=title),
            color=alt.Color(f"{group}:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=300)),
            tooltip=[x, group, alt.Tooltip(f"{value}:Q", format=fmt)],
        )
    )


def size_vs_ppl(table: pd.DataFrame, x_title: str) -> Chart:
    """Weight size (GiB) against perplexity, one point per (model, quant), labelled by precision."""
    base = alt.Chart(table.dropna(subset=["size_gib"])).encode(
        x=alt.X("size_gib:Q", title=x_title), y=alt.Y("ppl:Q", scale=alt.Scale(zero=False), title="PPL"),
        color=alt.Color("model:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=300)),
    )  # fmt: skip
    points = base.mark_point(filled=True, size=90).encode(
        tooltip=["model", "quant", alt.Tooltip("size_gib:Q", format=".3f"), alt.Tooltip("ppl:Q", format=".3f")]
    )
    return points + base.mark_text(dy=-10).encode(text="quant:N")


def lines(data: pd.DataFrame, x: str, y: str, color: str | None, x_title: str, y_title: str) -> Chart:
    """A line per `color` (or a single line) of `y` over `x`; the legend below, as in `grouped_bars`."""
    enc: dict[str, Any] = {
        "x": alt.X(x, title=x_title),
        "y": alt.Y(f"{y}:Q", scale=alt.Scale(zero=False), title=y_title),
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=300))
    return alt.Chart(data).mark_line(point=True).encode(**enc, tooltip=list(data.columns))


def latency_vs_concurrency(data: pd.DataFrame, y_title: str, x_title: str = "concurrency") -> Chart:
    """Latency (ms) over concurrency (log 2 axis): a line per model, solid p50 and dashed p99.

    Legends sit below the plot, one entry per line, so the chart stays readable 390 px wide."""
    legend = alt.Legend(orient="bottom", direction="vertical", labelLimit=300, title=None)
    ticks = sorted(int(c) for c in data["concurrency"].unique())
    base = alt.Chart(data).encode(
        x=alt.X("concurrency:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(values=ticks, format="d"),
                title=x_title),
        y=alt.Y("ms:Q", title=y_title),
        color=alt.Color("model:N", legend=legend),
        tooltip=["model", "concurrency", "stat", alt.Tooltip("ms:Q", format=".1f")],
    )  # fmt: skip
    # the dash encoding on the line layer only, so its legend draws dashes rather than dots
    line = base.mark_line().encode(strokeDash=alt.StrokeDash("stat:N", legend=legend, sort=["p50", "p99"]))
    return (line + base.mark_point(filled=True)).properties(height=260)
