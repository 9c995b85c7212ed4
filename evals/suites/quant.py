"""Quantization loss (`evals run --suite quant`): PROTOCOLS.md "Leitai decisions" and §4.

Loads one model at each precision, runs the chosen suites as ordinary runs (stored, resumable, the
precision part of each run's identity through RunConfig.dtype/quant) and tabulates them against the
full-precision row, as CLA2 publishes: precision | weight size (GiB, measured from the loaded
weights) | PPL | C-Eval 0-shot / 5-shot.

    precision  CPU                               CUDA
    fp32       dtype float32 (reference)         dtype float32
    fp16/bf16  -                                 dtype float16 / bfloat16 (fp16 is the reference)
    int8/int4  optimum-quanto weight-only        bitsandbytes LLM.int8 / NF4 (see runners/_quant.py)

GGUF variants of one model (`--variants f16.gguf,q8_0.gguf,…` or a dir of .gguf files) replace the
precisions: each file is its own model (transformers dequantizes it to --dtype), its row is named by
the file's quant type and its size is the file size, as in llama.cpp's tables; the F32/F16/BF16 file
is the reference. Every row also has a speed column: ms/token for prompt processing and for
generation (runners.speed), measured right after that row's model is loaded, in the same run.

Options (SuiteOptions.extra): `precisions` (tuple; default fp32,int8,int4 on CPU and fp16,int8,int4
on CUDA), `variants` (tuple of GGUF paths, or one dir), `speed` (bool, default True), `suites` (tuple of ppl | ceval | cmmlu; default ppl,ceval), `ceval_data` / `cmmlu_data`
(the MC suites' data dirs; default their embedded samples) and the PPL options (mode, context,
stride). `--data` is the PPL corpus. C-Eval and CMMLU run 0-shot and 5-shot.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from evals.registry import capabilities, suite
from evals.suite_api import Suite, SuiteCapabilities, SuiteOptions

if TYPE_CHECKING:
    import torch
    from rich.console import Console

    from core.model_spec import ModelSpec
    from db import Database

FULL_PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
QUANT_PRECISIONS = ("int8", "int4")
SUB_SUITES = ("ppl", "ceval", "cmmlu")
MC_SHOTS = (0, 5)
DEFAULT_SUITES = ("ppl", "ceval")
GIB = 2**30


def supported_precisions(device: torch.device) -> tuple[str, ...]:
    """Precisions that really run on `device` (a torch.device) with what is installed."""
    from runners import supported_quant

    full = ("fp32",) if device.type != "cuda" else ("fp16", "bf16", "fp32")
    return full + tuple(q for q in QUANT_PRECISIONS if q in supported_quant(device))


def default_precisions(device: torch.device) -> tuple[str, ...]:
    full = "fp16" if device.type == "cuda" else "fp32"
    return (full,) + tuple(q for q in QUANT_PRECISIONS if q in supported_precisions(device))


def check_precisions(precisions: tuple[str, ...], device: torch.device) -> None:
    supported = supported_precisions(device)
    for p in precisions:
        if p not in supported:
            known = "" if p in (*FULL_PRECISIONS, *QUANT_PRECISIONS) else " (unknown precision)"
            raise UserError(f"precision {p} not supported on {device.type}{known}; supported: {', '.join(supported)}")
    if len(set(precisions)) != len(precisions):
        raise UserError(f"--precisions lists a precision twice: {','.join(precisions)}")


def run_settings(precision: str, reference: str | None, device: torch.device, dtype: str) -> tuple[str, str]:
    """(dtype, quant) for execute(). Quantized rows on CUDA compute in the reference's half type."""
    if precision in FULL_PRECISIONS:
        # fp32 on CPU is what "auto" loads: share runs with a plain `evals run` of the same suite.
        if device.type != "cuda" and precision == "fp32" and dtype == "auto":
            return "auto", "none"
        return FULL_PRECISIONS[precision], "none"
    if device.type == "cuda" and reference in ("fp16", "bf16"):
        return FULL_PRECISIONS[reference], precision
    return dtype, precision


def columns(suites: tuple[str, ...]) -> list[str]:
    """Metric columns of the table, e.g. ["ppl", "ceval_0shot", "ceval_5shot"]."""
    out: list[str] = []
    for s in suites:
        out += [f"{s}_{k}shot" for k in MC_SHOTS] if capabilities(s).multiple_choice else [s]
    return out


@dataclass(slots=True)
class QuantRow:
    precision: str
    dtype: str  # what was passed to the runner
    quant: str
    weight_bytes: int
    values: dict[str, float | None] = field(default_factory=dict)  # column -> value (accuracy 0-1, ppl)
    run_ids: dict[str, str] = field(default_factory=dict)  # column -> run id
    quant_method: str = ""
    speed: dict[str, Any] = field(default_factory=dict)  # runners.speed.Speed.as_dict(); {} when not measured
    model: str = ""  # the row's own model (GGUF variants); "" = the table's model
    file_bytes: int | None = None  # GGUF: the file's size (weight_bytes is then the same)


@dataclass(slots=True)
class QuantOutcome:
    suite: str
    model: str
    backend: str
    device: str
    columns: list[str]
    rows: list[QuantRow]
    reference: str | None  # the full-precision row the deltas compare against
    elapsed_s: float
    db_url: str
    details: dict[str, Any] = field(default_factory=dict)  # PPL settings actually used (n_ctx, mode, ...)

    def row(self, precision: str) -> QuantRow | None:
        return next((r for r in self.rows if r.precision == precision), None)

    def deltas(self, row: QuantRow) -> dict[str, float | None]:
        """Change against the reference row: relative for size and PPL, points (0-1 scale) for accuracies."""
        ref = self.row(self.reference) if self.reference else None
        if ref is None or ref is row:
            return {}
        out: dict[str, float | None] = {"weight": row.weight_bytes / ref.weight_bytes - 1 if ref.weight_bytes else None}
        for col in self.columns:
            a, b = row.values.get(col), ref.values.get(col)
            if a is None or b is None:
                out[col] = None
            elif col == "ppl":
                out[col] = a / b - 1
            else:
                out[col] = a - b
        return out

    def document(self) -> dict[str, Any]:
        """The `--json` document: {"suite": "quant", "rows": [{precision, weight_gib, ppl, ...}], ...}."""
        rows = []
        for r in self.rows:
            d = self.deltas(r)
            rows.append({
                "precision": r.precision, "dtype": r.dtype, "quant": r.quant, "quant_method": r.quant_method,
                "weight_bytes": r.weight_bytes, "weight_gib": r.weight_bytes / GIB,
                **{c: r.values.get(c) for c in self.columns},
                "prompt_ms_per_token": r.speed.get("prompt_ms_per_token"),
                "gen_ms_per_token": r.speed.get("gen_ms_per_token"), "speed": r.speed,
                **({"model": r.model, "file_bytes": r.file_bytes} if r.file_bytes is not None else {}),
                "delta": {("weight_gib" if k == "weight" else k): v for k, v in d.items()},
                "run_ids": r.run_ids,
            })  # fmt: skip
        return {
            "suite": self.suite, "model": self.model, "backend": self.backend, "device": self.device,
            "reference": self.reference, "columns": self.columns, "rows": rows, "details": self.details,
            "elapsed_s": round(self.elapsed_s, 3),
            "delta_note": "weight_gib and ppl deltas are relative (0.05 = +5%); accuracy deltas are absolute (0-1 scale)",
        }  # fmt: skip


@suite("quant")
class Quantization(Suite[Any, Any]):
    """Quantization loss: one model at fp16/fp32, int8, int4 on PPL and C-Eval 0/5-shot, with deltas."""

    # No items of its own: `evals run` calls orchestrate() instead of the engine.
    capabilities = SuiteCapabilities(
        title="Quantization",
        report="quantization",
        options=frozenset({"mode", "context", "stride", "precisions", "suites", "ceval_data", "variants"}),
        quantizable=False,  # its rows are the precisions (--precisions)
        shardable=False,
        composite=True,
    )

    def orchestrate(
        self,
        opts: SuiteOptions,
        model: ModelSpec | None,
        *,
        database: Database,
        backend: str = "hf",
        dtype: str = "auto",
        batch_size: int = 8,
        progress: bool = True,
        console: Console | None = None,
        runner_kwargs: Mapping[str, Any] | None = None,
    ) -> QuantOutcome:
        """Run every (precision, suite[, shots]) as an ordinary stored run and collect the table.

        Each precision's model is loaded once and reused for all its suites; already stored runs
        are resumed (a finished run costs only the model load).
        """
        from evals.engine import execute
        from runners import describe_quant, open_runner, resolve_device

        t0 = time.perf_counter()
        if backend != "hf":
            raise UserError(
                f"the quant suite loads local weights at several precisions; it needs --backend hf, not {backend}"
            )
        extra = opts.extra
        suites = tuple(extra.get("suites") or DEFAULT_SUITES)
        for s in suites:
            if s not in SUB_SUITES:
                raise UserError(f"--suites: {s!r} cannot run in the quant table; choose from {', '.join(SUB_SUITES)}")
        device = resolve_device("auto")
        variants = resolve_variants(extra.get("variants") or ())
        if variants:
            if extra.get("precisions"):
                raise UserError("--precisions and --variants exclude each other: GGUF variants are the rows")
            precisions = tuple(label for label, _ in variants)
            reference = next((label for label, v in variants if v.params["gguf"]["quant_type"] in GGUF_FULL), None)
        else:
            precisions = tuple(extra.get("precisions") or default_precisions(device))
            check_precisions(precisions, device)
            reference = next((p for p in precisions if p in FULL_PRECISIONS), None)
        sub_opts = self._sub_options(opts, suites)
        for s, o in sub_opts:  # validate every sub-suite's data and options before loading any model
            from evals.registry import get_suite

            get_suite(s).plan(o)
        from runners.speed import measure_speed

        specs = dict(variants)

        rows: list[QuantRow] = []
        details: dict[str, Any] = {}
        for precision in precisions:
            row_model = specs.get(precision, model)
            if row_model is None:  # no --model and no GGUF variant for this row: cannot happen past the checks above
                raise UserError("the quant table needs --model or --variants")
            if precision in specs:  # a GGUF file: dequantized to --dtype, no further quantization
                run_dtype, quant = dtype, "none"
            else:
                run_dtype, quant = run_settings(precision, reference, device, dtype)
            if console is not None:
                console.print(f"[bold]{precision}[/]: loading {row_model.name} (dtype {run_dtype}, quant {quant})")
            runner = open_runner(row_model, dtype=run_dtype, quant=quant)  # a LoRA model keeps its adapter
            row = QuantRow(
                precision, run_dtype, quant, runner.info.weight_bytes, quant_method=describe_quant(quant, device)
            )
            if precision in specs:
                g = row_model.params["gguf"]
                row.model, row.file_bytes, row.weight_bytes = row_model.name, g["file_bytes"], g["file_bytes"]
                row.quant_method = f"GGUF {g['quant_type']} ({g['file']}) dequantized to {runner.info.dtype}"
            try:
                if extra.get("speed", True):
                    row.speed = measure_speed(runner).as_dict()
                for (s, o), col in zip(sub_opts, columns(suites), strict=True):
                    out = execute(
                        s, o, row_model, database=database, backend=backend, dtype=run_dtype, quant=quant,
                        batch_size=batch_size, progress=progress, runner=runner, console=console,
                    )  # fmt: skip
                    row.run_ids[col] = out.run_id
                    headline = capabilities(s).headline
                    row.values[col] = out.metrics.get(headline.metric) if headline else None
                    if s == "ppl":
                        details.setdefault(
                            "ppl",
                            {
                                k: out.metrics.get(k)
                                for k in ("mode", "n_ctx", "stride", "scored_tokens", "corpus_sha256")
                            },
                        )
            finally:
                del runner
                gc.collect()
                _empty_cuda_cache()
            rows.append(row)
        return QuantOutcome(
            suite="quant", model=variants_name(variants) if variants or model is None else model.name, backend=backend, device=device.type, columns=columns(suites), rows=rows,
            reference=reference, elapsed_s=time.perf_counter() - t0, db_url=database.url, details=details,
        )  # fmt: skip

    @staticmethod
    def _sub_options(opts: SuiteOptions, suites: tuple[str, ...]) -> list[tuple[str, SuiteOptions]]:
        """SuiteOptions per table column: PPL gets --data and the PPL extras; MC suites 0- and 5-shot."""
        ppl_extra = {k: opts.extra[k] for k in ("mode", "context", "stride") if opts.extra.get(k) is not None}
        out = []
        for s in suites:
            if not capabilities(s).multiple_choice:  # PPL
                out.append((s, SuiteOptions(data=opts.data, limit=opts.limit, extra=ppl_extra)))
                continue
            data = opts.extra.get(f"{s}_data")
            for k in MC_SHOTS:
                out.append((s, dataclasses.replace(
                    opts, data=Path(data) if data else None, shots=k, extra={},
                )))  # fmt: skip
        return out


GGUF_FULL = ("F32", "F16", "BF16")  # unquantized GGUF files: the table's reference row


def resolve_variants(variants: tuple[str, ...] | list[str]) -> list[tuple[str, Any]]:
    """`--variants`: GGUF files (or one dir of them) -> [(row label, ModelSpec)], full precision first.

    Rows are labelled by the file's quant type (the file name where two files share one)."""
    from core.gguf_header import is_gguf_name
    from core.model_spec import spec_for_path

    paths: list[Path] = []
    for v in variants:
        p = Path(v).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and is_gguf_name(f))
            if not found:
                raise UserError(f"--variants: {p} holds no .gguf files")
            paths += found
        elif p.is_file() and is_gguf_name(p):
            paths.append(p)
        elif not p.exists():
            raise UserError(f"--variants: {p} does not exist")
        else:
            raise UserError(f"--variants: {p} is not a .gguf file (nor a dir of them)")
    specs = [spec_for_path(p) for p in dict.fromkeys(p.resolve() for p in paths)]
    specs.sort(key=lambda s: (s.params["gguf"]["quant_type"] not in GGUF_FULL, -s.params["gguf"]["file_bytes"]))
    types = [s.params["gguf"]["quant_type"] for s in specs]
    return [(t if types.count(t) == 1 else s.params["gguf"]["file"], s) for t, s in zip(types, specs)]


def variants_name(variants: list[tuple[str, Any]]) -> str:
    """The table's model name: the GGUF files' common directory name."""
    dirs = {Path(s.path).parent.name for _, s in variants}
    return dirs.pop() if len(dirs) == 1 else ", ".join(s.name for _, s in variants)


def _empty_cuda_cache() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass
