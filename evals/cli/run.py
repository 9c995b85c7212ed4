"""`evals run`: run (or resume) a suite on a model and store the result."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, JsonOpt, open_database, path_value, split_csv, text_value, write_json_atomic
from evals.registry import all_capabilities, capabilities, suite_families

if TYPE_CHECKING:
    from evals.suite_api import Outcome

# Suite names in the help come from the registry (importing the suite modules loads no torch).
_CAPS = {**all_capabilities(), **{usage: capabilities(f"{p}:") for p, usage in suite_families().items()}}
SUITE_HELP = "Suite: " + " | ".join(_CAPS) + " (see `evals suites`)."


def read_by(key: str) -> str:
    """' (suites: ppl, quant)': the suites that declare they read the suite-specific option `key`."""
    return " (suites: " + ", ".join(name for name, caps in _CAPS.items() if key in caps.options) + ")"


def parse_counts(value: str | None) -> tuple[int, ...]:
    """`--concurrency 1,4,16` -> (1, 4, 16); anything but whole numbers >= 1 is a user error."""
    from core.errors import UserError

    out = []
    for part in split_csv(value):
        if not part.isdigit() or int(part) < 1:
            raise UserError(f"--concurrency: {part!r} is not a whole number of at least 1")
        out.append(int(part))
    if value is not None and not out:
        raise UserError("--concurrency is empty")
    return tuple(out)


def parse_rates(value: str | None) -> tuple[float, ...]:
    """`--rate 0.5,2,inf` -> requests/s; a value that is not a positive number (or inf) is a user error."""
    from core.errors import UserError

    out = []
    for part in split_csv(value):
        try:
            r = float(part)
        except ValueError:
            raise UserError(f"--rate: {part!r} is not a number of requests/s") from None
        if not r > 0 or math.isnan(r):
            raise UserError(f"--rate: {part} must be above zero (inf sends all requests at once)")
        out.append(r)
    if value is not None and not out:
        raise UserError("--rate is empty")
    return tuple(out)


@app.command()
def run(
    suite: Annotated[str, typer.Option("--suite", "-s", help=SUITE_HELP)] = "ceval",
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model", "-m", parser=text_value, help="Model dir or registered name (default: the embedded tiny model)."
        ),
    ] = None,
    model_name: Annotated[
        Optional[str],
        typer.Option("--model-name", parser=text_value, help="Name to register the model under (default: dir name)."),
    ] = None,
    backend: Annotated[str, typer.Option(help="Runner backend.")] = "hf",
    data: Annotated[
        Optional[Path],
        typer.Option(
            "--data", parser=path_value, help="Data dir in the suite's official layout (default: embedded sample)."
        ),
    ] = None,
    split: Annotated[Optional[str], typer.Option(parser=text_value, help="Split (C-Eval: val | test | dev).")] = None,
    shots: Annotated[int, typer.Option(min=0, help="Few-shot exemplars from dev (0 or 5 as published).")] = 0,
    subjects: Annotated[
        Optional[str],
        typer.Option(parser=text_value, help="Comma-separated subject handles (default: all in the data)."),
    ] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="At most N items per subject.")] = None,
    chat: Annotated[
        bool, typer.Option("--chat/--no-chat", help="Wrap prompts in the chat template (chat models).")
    ] = False,
    template: Annotated[
        str, typer.Option(help="Chat wrapper: llama2 (CLA2 [INST] <<SYS>>) | auto (the tokenizer's own).")
    ] = "llama2",
    scoring: Annotated[str, typer.Option(help="cla2 (two-token constrained logits, default) | logprob.")] = "cla2",
    protocol: Annotated[
        str,
        typer.Option(help="CMMLU: cla2 (default) | official (CMMLU's own prompt, bare-letter logits, macro averages)."),
    ] = "cla2",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Prompts per forward pass.")] = 8,
    dtype: Annotated[
        str, typer.Option(help="auto (fp32 on CPU, bf16/fp16 on CUDA) | float32 | bfloat16 | float16.")
    ] = "auto",
    quant: Annotated[str, typer.Option(help="Weight quantization: none | int8 | int4.")] = "none",
    tasks: Annotated[
        Optional[str],
        typer.Option(
            "--tasks", help="Comma-separated datasets (LongBench default: the Chinese + code set)." + read_by("tasks")
        ),
    ] = None,
    sampling: Annotated[
        str,
        typer.Option(
            help="Decoding: greedy (official, default) | cla2 (CLA2 sampling settings)." + read_by("sampling")
        ),
    ] = "greedy",
    max_length: Annotated[
        Optional[int],
        typer.Option(
            "--max-length",
            min=2,
            help="Model context in tokens; prompts are middle-truncated to it minus the task's max_gen (default: the model's max length)."
            + read_by("max_length"),
        ),
    ] = None,
    max_new_tokens: Annotated[
        Optional[int],
        typer.Option(
            "--max-new-tokens",
            min=1,
            help="Debugging override of every task's max_gen (enters the run identity; not comparable to published numbers)."
            + read_by("max_new_tokens"),
        ),
    ] = None,
    by_length: Annotated[
        bool,
        typer.Option(
            "--by-length",
            help="LongBench: add the LongBench-E length buckets 0-4k/4-8k/8k+ per task (official eval.py --e).",
        ),
    ] = False,
    mode: Annotated[
        str,
        typer.Option("--mode", help="PPL windows: chunks (llama.cpp-compatible, default) | sliding." + read_by("mode")),
    ] = "chunks",
    context: Annotated[
        Optional[int],
        typer.Option(
            "--context",
            min=2,
            help="n_ctx tokens per PPL window (default 4096, clipped to the model's maximum; shrunk to fit a short text unless given)."
            + read_by("context"),
        ),
    ] = None,
    stride: Annotated[
        Optional[int],
        typer.Option(
            "--stride",
            min=1,
            help="Sliding mode: tokens between window starts (default n_ctx/2; at most n_ctx-1)." + read_by("stride"),
        ),
    ] = None,
    precisions: Annotated[
        Optional[str],
        typer.Option(
            "--precisions",
            help="Comma-separated fp32|fp16|bf16|int8|int4 (default fp32,int8,int4 on CPU; fp16,int8,int4 on CUDA)."
            + read_by("precisions"),
        ),
    ] = None,
    variants: Annotated[
        Optional[str],
        typer.Option(
            "--variants",
            help="quant: GGUF files of one model (comma-separated) or a dir of them; the rows instead of --precisions.",
        ),
    ] = None,
    sub_suites: Annotated[
        Optional[str],
        typer.Option(
            "--suites",
            help="Suites in the table, from ppl,ceval,cmmlu (default ppl,ceval; MC suites run 0- and 5-shot)."
            + read_by("suites"),
        ),
    ] = None,
    ceval_data: Annotated[
        Optional[Path],
        typer.Option(
            "--ceval-data",
            parser=path_value,
            help="C-Eval data dir for its columns (default: embedded sample; --data is the PPL corpus)."
            + read_by("ceval_data"),
        ),
    ] = None,
    base_url: Annotated[
        Optional[str],
        typer.Option(
            "--base-url",
            parser=text_value,
            envvar="EVALS_BASE_URL",
            help="openai backend: API root of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.",
        ),
    ] = None,
    served_model_name: Annotated[
        Optional[str],
        typer.Option(
            "--served-model-name",
            parser=text_value,
            help="openai backend: the model name the server knows (default: --model).",
        ),
    ] = None,
    api_key_env: Annotated[
        Optional[str],
        typer.Option(
            "--api-key-env",
            help="openai backend: env var holding the API key (default: EVALS_API_KEY, then OPENAI_API_KEY).",
        ),
    ] = None,
    concurrency: Annotated[
        Optional[str],
        typer.Option(
            "--concurrency",
            help="openai backend: requests in flight at once (default 8). perf: the levels to sweep, e.g. 1,4,16; "
            "with --rate the cap on requests in flight; with --sla the search's ceiling (two values: its range).",
        ),
    ] = None,
    rate: Annotated[
        Optional[str],
        typer.Option(
            "--rate", help="perf: open-loop Poisson arrivals, requests/s per level, e.g. 1,4 (inf: all at once)."
        ),
    ] = None,
    sla: Annotated[
        Optional[str],
        typer.Option(
            "--sla",
            help="perf: find the highest concurrency meeting e.g. 'p99_ttft<1s' (terms: mean|p50|p90|p99 _ "
            "ttft|tpot|itl|e2el, < or <=, s or ms; comma = and).",
        ),
    ] = None,
    num_prompts: Annotated[
        Optional[int],
        typer.Option(
            "--num-prompts",
            min=1,
            max=1_000_000,
            help="perf: requests per level (default 4 x concurrency, at least 8; 32 with --rate).",
        ),
    ] = None,
    input_len: Annotated[
        Optional[int],
        typer.Option(
            "--input-len",
            min=1,
            max=1_000_000,
            help="perf: tokens per fixed prompt (default 256; characters without a tokenizer).",
        ),
    ] = None,
    output_len: Annotated[
        Optional[int],
        typer.Option("--output-len", min=1, max=1_000_000, help="perf: max_tokens of every request (default 128)."),
    ] = None,
    perf_prompts: Annotated[
        str,
        typer.Option("--prompts", help="perf: fixed (synthetic, --input-len) | ceval | longbench (--data) | bank."),
    ] = "fixed",
    duration: Annotated[
        Optional[float],
        typer.Option(
            "--duration", min=0.001, max=7 * 86400, help="perf: stop sending new requests of a level after S seconds."
        ),
    ] = None,
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, max=100_000, help="perf: requests sent first and not counted.")
    ] = 1,
    tokenizer: Annotated[
        Optional[str],
        typer.Option("--tokenizer", help="perf: model dir whose tokenizer cuts fixed prompts to --input-len tokens."),
    ] = None,
    ignore_eos: Annotated[
        bool,
        typer.Option("--ignore-eos", help="perf: ask the server (vLLM) to generate exactly --output-len tokens."),
    ] = False,
    log_exchanges: Annotated[
        bool,
        typer.Option(
            "--log-exchanges/--no-log-exchanges",
            help="openai backend: store every request/response in the database (table api_exchanges; never the API key).",
        ),
    ] = True,
    tensor_parallel: Annotated[
        int,
        typer.Option("--tensor-parallel-size", min=1, help="vllm backend: GPUs per model replica (tensor parallel)."),
    ] = 1,
    pipeline_parallel: Annotated[
        int,
        typer.Option("--pipeline-parallel-size", min=1, help="vllm backend: pipeline stages (multi-node through Ray)."),
    ] = 1,
    gpu_memory_utilization: Annotated[
        Optional[float],
        typer.Option(
            "--gpu-memory-utilization",
            min=0.01,
            max=1.0,
            help="vllm backend: share of GPU memory for weights + KV cache (default 0.9; on vLLM's CPU build a share of node memory, default a 1 GiB KV cache).",
        ),
    ] = None,
    data_parallel: Annotated[
        int,
        typer.Option(
            "--data-parallel",
            min=1,
            help="Shard items over N worker processes (one replica per GPU; CPU threads split otherwise).",
        ),
    ] = 1,
    lmeval_include: Annotated[
        Optional[Path],
        typer.Option(
            "--lmeval-include", parser=path_value, help="Extra dir of lm-eval task YAMLs." + read_by("lmeval_include")
        ),
    ] = None,
    db: DbOpt = None,
    json_out: JsonOpt = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Run a suite; re-running the same command resumes and finishes only missing items."""
    from rich.console import Console

    from core.errors import UserError
    from evals.cli import preflight
    from evals.cli.options import resolve_model_arg
    from evals.engine import execute
    from evals.registry import get_suite
    from evals.report import render_outcome
    from evals.suite_api import RAW_LOGIT_SCORINGS, SuiteOptions

    if scoring not in ("cla2", "logprob"):
        raise UserError(f"unknown --scoring {scoring!r} (cla2 | logprob)")
    if template not in ("llama2", "auto"):
        raise UserError(f"unknown --template {template!r} (llama2 | auto)")
    if protocol not in ("cla2", "official"):
        raise UserError(f"unknown --protocol {protocol!r} (cla2 | official)")
    suite_obj = get_suite(suite)  # unknown suite -> clear error before anything else
    caps = suite_obj.capabilities
    preflight.check_backend(backend)
    preflight.check_dtype(dtype)
    preflight.check_output_path(json_out)
    lists = {"--subjects": subjects, "--tasks": tasks, "--precisions": precisions, "--suites": sub_suites,
             "--variants": variants}  # fmt: skip
    for option, value in lists.items():
        if value is not None and not split_csv(value):  # "," or " , ": not the same as leaving it out
            raise UserError(f"{option} {value!r} names nothing; give comma-separated names or leave it out")
    levels = parse_counts(concurrency)
    if len(levels) > 1 and "concurrency" not in caps.options:
        raise UserError(f"--concurrency takes one number for the {suite} suite (a list is a perf sweep)")
    # Every suite-specific option by its SuiteOptions.extra key; a suite gets those it declares it reads.
    extra: dict[str, Any] = {
        "tasks": split_csv(tasks), "sampling": sampling, "max_length": max_length, "max_new_tokens": max_new_tokens,
        "mode": mode, "context": context, "stride": stride, "precisions": split_csv(precisions) or None,
        "suites": split_csv(sub_suites) or None, "ceval_data": ceval_data, "lmeval_include": lmeval_include,
        "by_length": by_length, "variants": split_csv(variants) or None,
        "concurrency": levels or None, "rate": parse_rates(rate) or None, "sla": sla, "num_prompts": num_prompts,
        "input_len": input_len, "output_len": output_len, "prompts": perf_prompts, "duration": duration,
        "warmup": warmup, "tokenizer": tokenizer, "ignore_eos": ignore_eos,
    }  # fmt: skip
    opts = SuiteOptions(
        data=data,
        split=split,
        shots=shots,
        subjects=split_csv(subjects),
        limit=limit,
        chat=chat,
        template=template,
        scoring=scoring,
        protocol=protocol,
        extra={k: v for k, v in extra.items() if k in caps.options},
    )
    choice_scoring = suite_obj.choice_scoring(opts)
    raw_logits = choice_scoring in RAW_LOGIT_SCORINGS
    if backend == "openai" and raw_logits:
        # said before anything is sent: servers return log-probabilities, never the raw logits cla2 reads
        fix = "add --scoring logprob" if choice_scoring == "cla2" else "use --protocol cla2 --scoring logprob"
        raise UserError(f"--backend openai returns log-probabilities, not raw logits: {fix} "
                        f"({choice_scoring} scoring runs on the hf and vllm backends)")  # fmt: skip
    if quant != "none" and not caps.quantizable:
        hint = "; choose its rows with --precisions" if "precisions" in caps.options else ""
        raise UserError(f"--quant does not apply to the {suite} suite{hint}")
    if data is not None and not data.exists():
        raise UserError(f"data dir {data} does not exist")
    database = open_database(db)
    runner_kwargs: dict[str, Any] = {}
    if backend == "openai":
        from core.model_spec import remote_model

        spec = remote_model(served_model_name or model, base_url=base_url, name=model_name)
        runner_kwargs.update(base_url=spec.params["base_url"], api_key_env=api_key_env,
                             concurrency=levels[0] if levels else 8)  # fmt: skip
        if log_exchanges and data_parallel == 1:  # with --data-parallel each worker makes its own logger
            from db.exchange_log import exchange_logger

            runner_kwargs["on_exchange"] = exchange_logger(database, spec.name)
    elif "variants" in caps.options and variants:
        if model is not None:
            raise UserError("--variants lists the models of the quant table; leave out --model")
        spec = None  # the GGUF variants are the models
    else:
        spec = resolve_model_arg(model, name=model_name, database=database, backend=backend)
        preflight.check_context(context, spec.path)
        preflight.check_context(max_length, spec.path, "--max-length")
    if backend == "vllm":
        runner_kwargs.update(tensor_parallel_size=tensor_parallel, pipeline_parallel_size=pipeline_parallel)
        if gpu_memory_utilization is not None:
            runner_kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        # cla2 and CMMLU's official protocol read raw logits, which a vLLM engine returns only when asked at start
        runner_kwargs["raw_logits"] = raw_logits
    outcome: Outcome
    if caps.composite:  # a suite made of other suites' runs (quant)
        outcome = suite_obj.orchestrate(
            opts,
            spec,
            database=database,
            backend=backend,
            dtype=dtype,
            batch_size=batch_size,
            progress=progress,
            console=Console(stderr=True),
            runner_kwargs=runner_kwargs,
        )
    elif spec is None:  # only the quant table's GGUF variants come without --model
        raise UserError(f"--variants applies to the quant suite, not {suite}")
    elif data_parallel > 1:
        from evals.parallel import execute_parallel

        outcome = execute_parallel(
            suite,
            opts,
            spec,
            n=data_parallel,
            database=database,
            backend=backend,
            dtype=dtype,
            quant=quant,
            batch_size=batch_size,
            runner_kwargs=runner_kwargs,
            progress=progress,
            console=Console(stderr=True),
            log_exchanges=log_exchanges,
        )
    else:
        outcome = execute(
            suite,
            opts,
            spec,
            database=database,
            backend=backend,
            dtype=dtype,
            quant=quant,
            batch_size=batch_size,
            progress=progress,
            runner_kwargs=runner_kwargs,
        )
    render_outcome(outcome, Console())
    if json_out:
        write_json_atomic(json_out, outcome.document())
        Console(stderr=True).print(f"wrote {json_out}")
