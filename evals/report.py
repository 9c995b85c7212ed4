"""Rich tables for run results (what people compare: overall, categories, best/worst subjects)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def render_outcome(outcome: Any, console: Console) -> None:
    m = outcome.metrics
    title = f"{outcome.suite} · {outcome.split} · {outcome.shots}-shot · {outcome.model}"
    if "accuracy" in m or "n_scored" in m:
        _render_mc(outcome, console, title)
    else:
        table = Table(title=title)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for k, v in m.items():
            if isinstance(v, (int, float)):
                table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
        console.print(table)
    _footer(outcome, console)


def _subject_name(suite: str, subject: str) -> str:
    try:
        from evals.registry import get_suite

        return get_suite(suite).subject_label(subject)
    except Exception:  # noqa: BLE001 - a label is cosmetic
        return subject


def _render_mc(outcome: Any, console: Console, title: str) -> None:
    m = outcome.metrics
    if "accuracy" not in m:
        console.print(f"[bold]{title}[/]: {m.get('n_items', 0)} items predicted; this split has no labels.")
        console.print(f"Export the official submission with: [cyan]evals export ceval-submission --run {outcome.run_id}[/]")
        return
    table = Table(title=title, show_lines=False)
    table.add_column("", style="bold")
    table.add_column("accuracy %", justify="right")
    # CMMLU's official protocol headlines the macro number; accuracy_micro keeps this row honest.
    table.add_row("Overall (micro)", pct(m.get("accuracy_micro", m["accuracy"])))
    table.add_row("Overall (macro over subjects)", pct(m["accuracy_macro"]))
    table.add_section()
    for cat, v in m.get("by_category", {}).items():
        table.add_row(cat, pct(v))
    console.print(table)
    subjects = sorted(m.get("by_subject", {}).items(), key=lambda kv: kv[1])
    if len(subjects) >= 2:
        k = min(3, len(subjects) // 2)
        st = Table(title="weakest / strongest subjects")
        st.add_column("subject")
        st.add_column("", justify="left")
        st.add_column("accuracy %", justify="right")
        for s, v in subjects[:k]:
            st.add_row(s, _subject_name(outcome.suite, s), pct(v))
        st.add_section()
        for s, v in subjects[-k:]:
            st.add_row(s, _subject_name(outcome.suite, s), pct(v))
        console.print(st)


def _footer(outcome: Any, console: Console) -> None:
    reused = outcome.n_items - outcome.computed
    speed = f"{outcome.items_per_s:.1f} items/s" if outcome.computed else "nothing to compute"
    console.print(
        f"items: {outcome.n_items} ({outcome.computed} computed, {reused} from the store) · {speed} · "
        f"wall {outcome.elapsed_s:.1f}s"
    )
    console.print(f"run [bold]{outcome.run_id}[/] stored in {outcome.db_url}")
    console.print("open the dashboard: [cyan]evals dashboard[/]   list results: [cyan]evals results[/]")
