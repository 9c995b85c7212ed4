"""The one Typer app; command groups live in their own modules and register themselves here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="evals",
    help="Leitai (擂台): evaluate Chinese LLMs (C-Eval, CMMLU, LongBench, PPL, quantization) and run arena battles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
