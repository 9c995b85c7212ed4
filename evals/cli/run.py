"""`evals run`: run (or resume) a suite on a model and store the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, JsonOpt, open_database, split_csv, write_json_atomic


@app.command()
def run(
    suite: Annotated[str, typer.Option("--suite", "-s", help="Suite: ceval (see `evals suites`).")] = "ceval",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model dir or registered name (default: the embedded tiny model).")] = None,
    model_name: Annotated[Optional[str], typer.Option("--model-name", help="Name to register the model under (default: dir name).")] = None,
    backend: Annotated[str, typer.Option(help="Runner backend.")] = "hf",
    data: Annotated[Optional[Path], typer.Option("--data", help="Data dir in the suite's official layout (default: embedded sample).")] = None,
    split: Annotated[Optional[str], typer.Option(help="Split (C-Eval: val | test | dev).")] = None,
    shots: Annotated[int, typer.Option(help="Few-shot exemplars from dev (0 or 5 as published).")] = 0,
    subjects: Annotated[Optional[str], typer.Option(help="Comma-separated subject handles (default: all in the data).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="At most N items per subject.")] = None,
    chat: Annotated[bool, typer.Option("--chat/--no-chat", help="Wrap prompts in the chat template (chat models).")] = False,
    template: Annotated[str, typer.Option(help="Chat wrapper: llama2 (CLA2 [INST] <<SYS>>) | auto (the tokenizer's own).")] = "llama2",
    scoring: Annotated[str, typer.Option(help="cla2 (two-token constrained logits, default) | logprob.")] = "cla2",
    protocol: Annotated[str, typer.Option(help="CMMLU: cla2 (default) | official (CMMLU's own prompt, bare-letter logits, macro averages).")] = "cla2",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Prompts per forward pass.")] = 8,
    dtype: Annotated[str, typer.Option(help="auto (fp32 on CPU, bf16/fp16 on CUDA) | float32 | bfloat16 | float16.")] = "auto",
    quant: Annotated[str, typer.Option(help="Weight quantization: none | int8 | int4.")] = "none",
    db: DbOpt = None,
    json_out: JsonOpt = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Run a suite; re-running the same command resumes and finishes only missing items."""
    from rich.console import Console

    from evals.engine import execute
    from evals.errors import UserError
    from evals.model_spec import resolve_model
    from evals.registry import get_suite
    from evals.report import render_outcome
    from evals.suite_api import SuiteOptions

    if scoring not in ("cla2", "logprob"):
        raise UserError(f"unknown --scoring {scoring!r} (cla2 | logprob)")
    if template not in ("llama2", "auto"):
        raise UserError(f"unknown --template {template!r} (llama2 | auto)")
    if protocol not in ("cla2", "official"):
        raise UserError(f"unknown --protocol {protocol!r} (cla2 | official)")
    get_suite(suite)  # unknown suite -> clear error before anything else
    opts = SuiteOptions(
        data=data, split=split, shots=shots, subjects=split_csv(subjects), limit=limit, chat=chat,
        template=template, scoring=scoring, protocol=protocol,
    )
    if data is not None and not data.exists():
        raise UserError(f"data dir {data} does not exist")
    database = open_database(db)
    spec = resolve_model(model, name=model_name, database=database, backend=backend)
    outcome = execute(
        suite, opts, spec, database=database, backend=backend, dtype=dtype, quant=quant,
        batch_size=batch_size, progress=progress,
    )
    render_outcome(outcome, Console())
    if json_out:
        write_json_atomic(json_out, outcome_document(outcome))
        Console(stderr=True).print(f"wrote {json_out}")


def outcome_document(outcome) -> dict:
    """The stable `--json` document of DESIGN.md."""
    return {
        "run_id": outcome.run_id, "suite": outcome.suite, "model": outcome.model, "backend": outcome.backend,
        "split": outcome.split, "shots": outcome.shots, "metrics": outcome.metrics, "n_items": outcome.n_items,
        "elapsed_s": round(outcome.elapsed_s, 3), "items_per_s": round(outcome.items_per_s, 3),
        "config": outcome.config, "items": outcome.items,
    }
