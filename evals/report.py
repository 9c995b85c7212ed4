"""Rich tables for run results (what people compare: overall, categories, best/worst subjects)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from evals.engine import RunOutcome
from evals.registry import capabilities, get_suite
from evals.suite_api import Outcome

if TYPE_CHECKING:
    from evals.suites.quant import QuantOutcome


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def render_outcome(outcome: Outcome, console: Console) -> None:
    """The tables of a run, in the form its suite declares (`SuiteCapabilities.report`)."""
    kind = capabilities(outcome.suite).report
    if kind == "quantization":
        from evals.suites.quant import QuantOutcome

        if isinstance(outcome, QuantOutcome):
            _render_quant(outcome, console)
            return
    if kind == "perf":
        from evals.perf.outcome import PerfOutcome

        if isinstance(outcome, PerfOutcome):
            outcome.render(console)
            return
    if not isinstance(outcome, RunOutcome):
        raise TypeError(f"no {kind} report for a {type(outcome).__name__} (suite {outcome.suite})")
    title = f"{outcome.suite} · {outcome.split} · {outcome.shots}-shot · {outcome.model}"
    if kind == "longbench":
        _render_longbench(outcome, console)
    elif kind == "perplexity":
        _render_ppl(outcome, console)
    elif kind == "multiple_choice":
        _render_mc(outcome, console, title)
    else:
        _render_metrics(outcome, console, title)
    _footer(outcome, console)


def _render_metrics(outcome: RunOutcome, console: Console, title: str) -> None:
    """Any suite's top-level numbers, one per row."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in outcome.metrics.items():
        if isinstance(v, (int, float)):
            table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(table)


def _render_mc(outcome: RunOutcome, console: Console, title: str) -> None:
    m = outcome.metrics
    if "accuracy" not in m:
        console.print(f"[bold]{title}[/]: {m.get('n_items', 0)} items predicted; this split has no labels.")
        console.print(
            f"Export the official submission with: [cyan]evals export ceval-submission --run {outcome.run_id}[/]"
        )
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
        label = get_suite(outcome.suite).subject_label
        for s, v in subjects[:k]:
            st.add_row(s, label(s), pct(v))
        st.add_section()
        for s, v in subjects[-k:]:
            st.add_row(s, label(s), pct(v))
        console.print(st)


def _render_longbench(outcome: RunOutcome, console: Console) -> None:
    """The seed-style category row and the per-task table of evals/longbench/report.py, plus skips."""
    from evals.longbench.report import category_row, task_table
    from evals.longbench.scoring import CategoryTable, ItemScore, LongBenchScore

    m = outcome.metrics
    zh = CategoryTable(m.get("by_category", {}), m.get("avg"), tuple(m.get("categories_missing", ())))
    items = [
        ItemScore(it["id"], it["task"], it["pred"] or "", tuple(it["answers"]), it["length"] or 0, it["score"] or 0.0)
        for it in outcome.items
        if not it.get("skipped")
    ]
    result = LongBenchScore(by_task=m.get("by_task", {}), by_length=m.get("by_length"), zh=zh, en=None, items=items)
    console.print(category_row(zh, f"LongBench 中文 (+代码) · {outcome.model}"))
    if result.by_task:
        console.print(task_table(result))
    longest = m.get("longest_input_tokens")
    line = (
        f"context {m.get('max_length', '?')} tokens · longest input generated for: "
        f"{'–' if longest is None else longest} tokens · truncated: {m.get('n_truncated', 0)}"
    )
    if m.get("n_skipped"):
        reasons = ", ".join(f"{k}: {v}" for k, v in m.get("skipped_by_reason", {}).items())
        line += (
            f" · [bold red]skipped {m['n_skipped']}[/] ({reasons}; shortest {m.get('shortest_skipped_tokens')} tokens)"
        )
    console.print(line)


def _render_ppl(outcome: RunOutcome, console: Console) -> None:
    """PPL with llama.cpp's ±, and the vocabulary-independent numbers (bits/char, chars/token) beside it."""
    m = outcome.metrics
    window = f"{m.get('mode')} · n_ctx {m.get('n_ctx')}" + (f" · stride {m['stride']}" if m.get("stride") else "")
    if "ppl" not in m:
        console.print(f"[bold]ppl · {outcome.model} · {window}[/]: nothing was scored")
        return
    table = Table(title=f"ppl · {outcome.model} · {window}")
    table.add_column("")
    table.add_column("value", justify="right")
    for label, value in (
        ("PPL", f"{m['ppl']:.4f} ± {m.get('ppl_stderr', 0):.4f}"),
        ("bits / char", f"{m['bits_per_char']:.4f}"),
        ("chars / token", f"{m['chars_per_token']:.4f}"),
        ("scored tokens", f"{m['scored_tokens']:,}"),
        ("tokens", f"{m['tokens']:,}"),
        ("characters", f"{m['characters']:,}"),
        ("NLL sum (nats)", f"{m['nll']:.2f}"),
    ):
        table.add_row(label, value)
    console.print(table)
    console.print(
        f"corpus sha256 {m.get('corpus_sha256', '?')} · {m.get('n_documents')} document(s), {m.get('n_windows')} windows"
        " · PPL per token depends on the vocabulary; compare models with different tokenizers by bits / char"
    )
    if m.get("context_note"):
        console.print(f"[yellow]note:[/] {m['context_note']}")


def _render_quant(outcome: QuantOutcome, console: Console) -> None:
    """CLA2's quantization table: precision | weight size | PPL | C-Eval 0/5-shot, each with its change
    against the full-precision row (relative for size and PPL, points for accuracy)."""

    def rel(d: float | None) -> str:
        return "" if d is None else f" ({100 * d:+.1f}%)"

    mc = [c for c in outcome.columns if c != "ppl"]
    table = Table(title=f"quantization · {outcome.model} · {outcome.device} (Δ vs {outcome.reference or '–'})")
    table.add_column("precision", style="bold")
    gguf = any(r.file_bytes for r in outcome.rows)
    table.add_column("size GiB" if gguf else "weights GiB", justify="right")
    if "ppl" in outcome.columns:
        table.add_column("PPL", justify="right")
    suites = list(dict.fromkeys(c.rsplit("_", 1)[0] for c in mc))
    for s in suites:
        table.add_column(f"{capabilities(s).title} 0 / 5-shot %", justify="right")
    speed = any(r.speed for r in outcome.rows)
    if speed:
        table.add_column("ms/token prompt / gen", justify="right")
    for row in outcome.rows:
        d = outcome.deltas(row)
        gib = row.weight_bytes / 2**30
        cells = [row.precision, (f"{gib:.2f}" if gib >= 1 else f"{gib:.4f}") + rel(d.get("weight"))]
        if "ppl" in outcome.columns:
            v = row.values.get("ppl")
            cells.append(("–" if v is None else f"{v:.4f}") + rel(d.get("ppl")))
        for s in suites:
            zero, five = row.values.get(f"{s}_0shot"), row.values.get(f"{s}_5shot")
            delta = ""
            d0, d5 = d.get(f"{s}_0shot"), d.get(f"{s}_5shot")
            if d0 is not None and d5 is not None:
                delta = f" ({100 * d0:+.1f} / {100 * d5:+.1f})"
            cells.append(f"{pct(zero)} / {pct(five)}{delta}")
        if speed:
            sp = row.speed
            cells.append(f"{sp['prompt_ms_per_token']:.2f} / {sp['gen_ms_per_token']:.2f}" if sp else "–")
        table.add_row(*cells)
    console.print(table)
    methods = [f"{r.precision} = {r.quant_method}" for r in outcome.rows if r.quant_method]
    if methods:
        console.print("quantization: " + "; ".join(methods))
    ppl = outcome.details.get("ppl")
    if ppl:
        console.print(
            f"PPL: {ppl.get('mode')} · n_ctx {ppl.get('n_ctx')} · {ppl.get('scored_tokens')} scored tokens · "
            f"corpus sha256 {str(ppl.get('corpus_sha256'))[:16]}…"
        )
    console.print(
        "sizes are the GGUF file sizes in GiB"
        if gguf
        else "weight sizes are bytes of the loaded weights (quantized storage incl. scales) in GiB; "
        "only the deltas are comparable with published tables"
    )
    first_speed = next((r.speed for r in outcome.rows if r.speed), {})
    if first_speed:
        sp = first_speed
        console.print(
            f"speed: ms/token over a {sp['prompt_tokens']}-token prompt (one forward pass, median of 3) and "
            f"{sp['gen_tokens']} greedy generation steps on its KV cache, each row right after its load on "
            f"{outcome.device}" + (" (GGUF rows run dequantized in torch, not llama.cpp)" if gguf else "")
        )
    console.print(
        f"{len(outcome.rows)} precisions in {outcome.elapsed_s:.1f}s · runs stored in {outcome.db_url} "
        f"(see [cyan]evals results --suite ppl[/])"
    )


def _footer(outcome: RunOutcome, console: Console) -> None:
    reused = outcome.n_items - outcome.computed
    speed = f"{outcome.items_per_s:.1f} items/s" if outcome.computed else "nothing to compute"
    console.print(
        f"items: {outcome.n_items} ({outcome.computed} computed, {reused} from the store) · {speed} · "
        f"wall {outcome.elapsed_s:.1f}s"
    )
    console.print(f"run [bold]{outcome.run_id}[/] stored in {outcome.db_url}")
    console.print("open the dashboard: [cyan]evals dashboard[/]   list results: [cyan]evals results[/]")
