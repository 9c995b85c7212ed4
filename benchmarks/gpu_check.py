"""One-command GPU check (issue 16): throughput of our hf backend on a 7B-shaped model, bf16 numerics,
LoRA and DeepSpeed ZeRO-2 training, in under 8 minutes on one H200.

    bash benchmarks/gpu_check.sh [--out FILE.json] [--stages a,b,...]     # a CUDA host
    bash benchmarks/gpu_check.sh --cpu-smoke --out FILE.json              # the same stages, small, on CPU

Stages (each timed and guarded: a failure is reported and the others still run; exit 1 if any failed; a stage
that would start after `--budget-s`, 480 s by default, is not run; `--out` is rewritten after every stage):
    tiny       the project's tiny Chinese Llama (tokenizer for everything, the small model)
    matmul     bf16 n x n matmul rate on the device (the FLOP floor's denominator)
    build      random-init Llama, 7B shape (hidden 4096, 32 layers, 32 heads, FFN 11008, vocab 32000), bf16,
               created on the device and saved as a checkpoint dir
    load       that dir through `runners.open_runner` (hf backend, bf16, on the device)
    ceval      C-Eval val 5-shot, synthetic items (official layout), `evals.engine.execute` + hf backend:
               items/s, forward tokens/s, fraction of the FLOP floor (2 x params x tokens / matmul rate)
    ppl        the PPL suite (chunks mode) over about 260k synthetic tokens: the same numbers
    agreement  next-token argmax of the tiny model, bf16 vs fp32, at every position of the held-out text
    lora       a few LoRA steps on the tiny model with bf16 base weights (`training.loop.train_torch`)
    deepspeed  a few full fine-tuning steps with `transformers.Trainer` + DeepSpeed ZeRO-2 (our config,
               torch AdamW), world size 1

DeepSpeed and its dependencies ship as wheels in benchmarks/wheels/; any that the interpreter lacks (or has
older) are installed with `pip --no-index --no-deps --target` into a site dir put first on sys.path (the host's
environment is not modified). The floor counts every forwarded position (padding included) and the matmul
FLOPs of all parameters; attention's own FLOPs are not in it, so 1.0 is a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WHEELS = Path(__file__).resolve().parent / "wheels"
# Installed or shadowed together: pydantic pins its exact pydantic_core.
GROUPS = [{"pydantic", "pydantic-core"}]


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def shipped_wheels() -> dict[str, str]:
    """{distribution: version} of the wheels in benchmarks/wheels/ (all Python versions of one release)."""
    found: dict[str, str] = {}
    for f in sorted(WHEELS.glob("*.whl")):
        name, version = f.name.split("-")[:2]
        found[_norm(name)] = version
    return found


def wanted_wheels(site: Path) -> list[str]:
    """`name==version` of every shipped wheel that is missing or older here (site dir included)."""
    sys.path.insert(0, str(site))
    shipped = shipped_wheels()
    need: set[str] = set()
    for name, version in shipped.items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            need.add(name)
            continue
        if _version_tuple(have) < _version_tuple(version):
            need.add(name)
    for group in GROUPS:
        if need & group:
            need |= group & shipped.keys()
    return [f"{n}=={shipped[n]}" for n in sorted(need)]


def ensure_wheels(site: Path) -> dict[str, Any]:
    """Install what `wanted_wheels` names from benchmarks/wheels/ into `site` (no index, no dependency
    resolution: the list is the dependency closure that a torch/transformers/accelerate host may lack)."""
    import importlib
    import importlib.util

    site.mkdir(parents=True, exist_ok=True)
    need = wanted_wheels(site)
    how = "pip"
    if need and importlib.util.find_spec("pip") is not None:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--upgrade",
               "--find-links", str(WHEELS), "--target", str(site), *need]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            print(f"[gpu_check] pip failed ({' / '.join(tail)}); unpacking the wheels instead", flush=True)
            how = unzip_wheels(need, site)
    elif need:  # an interpreter without pip (some uv-made environments)
        how = unzip_wheels(need, site)
    importlib.invalidate_caches()
    return {"installed": need, "how": how if need else None, "site": str(site)}


def unzip_wheels(need: list[str], site: Path) -> str:
    """Unpack each `name==version` wheel whose tags this interpreter accepts into `site` (a wheel is a zip of
    its install tree; nothing here needs its scripts or a RECORD)."""
    import zipfile

    from packaging.tags import sys_tags
    from packaging.utils import parse_wheel_filename

    accepted = set(sys_tags())
    for spec in need:
        name, version = spec.split("==")
        for f in sorted(WHEELS.glob("*.whl")):
            dist, ver, _build, tags = parse_wheel_filename(f.name)
            if _norm(str(dist)) == name and str(ver) == version and tags & accepted:
                with zipfile.ZipFile(f) as z:
                    z.extractall(site)
                break
        else:
            raise RuntimeError(f"no wheel of {spec} in {WHEELS} fits Python {sys.version.split()[0]} on this platform")
    return "unzip"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--cpu-smoke", action="store_true", help="every stage with a small model on CPU (no GPU needed)")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument("--stages", help="comma-separated subset (default: all); tiny is added when a stage needs it")
    p.add_argument("--work", type=Path, help="scratch dir (default: a temp dir, removed at the end)")
    p.add_argument("--site", type=Path, default=ROOT / ".gpu_check_site", help="where shipped wheels are installed")
    p.add_argument("--no-wheels", action="store_true",
                   help="use this interpreter's packages as they are (install no shipped wheel)")  # fmt: skip
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty())
    p.add_argument(
        "--budget-s",
        type=float,
        default=480.0,
        help="stages that would start after this many seconds are not run (reported as failed); 0 = none",
    )
    return p.parse_args(argv)


# What a stage reads from earlier ones (`--stages` adds these).
NEEDS = {"build": ["tiny"], "load": ["build"], "ceval": ["load", "matmul"], "ppl": ["load", "matmul"],
         "agreement": ["tiny"], "lora": ["tiny"], "deepspeed": ["tiny"]}  # fmt: skip


def selected_stages(spec: str | None, order: list[str]) -> list[str]:
    """The stages to run, in `order`: all, or those named in `spec` plus what they need."""
    if not spec:
        return order
    asked = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in asked if s not in order]
    if unknown:
        raise SystemExit(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(order)}")
    wanted: set[str] = set()

    def add(name: str) -> None:
        if name not in wanted:
            wanted.add(name)
            for dep in NEEDS.get(name, []):
                add(dep)

    for name in asked:
        add(name)
    return [n for n in order if n in wanted]


def run_stages(
    args: argparse.Namespace, work: Path, t0: float, report: Callable[[dict[str, dict[str, Any]]], None]
) -> dict[str, dict[str, Any]]:
    """Run the selected stages in order; `report(stages so far)` after each (a cut-off run keeps its numbers)."""
    from benchmarks import gpu_check_stages as S

    names = selected_stages(args.stages, list(S.STAGES))
    profile = S.PROFILES["cpu-smoke" if args.cpu_smoke else "gpu"]
    check = S.Check(profile=profile, work=work, progress=args.progress)
    stages: dict[str, dict[str, Any]] = {}
    for name in names:
        spent = time.perf_counter() - t0
        if args.budget_s and spent > args.budget_s:
            stages[name] = {"status": "failed", "error": f"not started: {spent:.0f} s of the {args.budget_s:.0f} s "
                            "budget spent", "seconds": 0.0}  # fmt: skip
            print(f"[gpu_check] {name}: {stages[name]['error']}", flush=True)
        else:
            stages[name] = _guarded(name, S.STAGES[name], check, profile.name)
        if name == "ppl" or (name == "ceval" and "ppl" not in names):
            check.release_big()  # the training stages get the device to themselves
        report(stages)
    check.release_big()
    return stages


def _guarded(name: str, fn: Any, check: Any, mode: str) -> dict[str, Any]:
    print(f"[gpu_check] {name} ...", flush=True)
    t = time.perf_counter()
    try:
        numbers = fn(check)
        out = {"status": "ok", **numbers}
    except ModuleNotFoundError as exc:
        out = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:
        out = {"status": "failed", "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
               "traceback": traceback.format_exc(limit=8)}  # fmt: skip
    if name == "deepspeed" and mode == "cpu-smoke" and out["status"] == "failed":
        # DeepSpeed's CPU accelerator is not what the check is for; on CPU a failure is a skip with its reason.
        out = {"status": "skipped", "reason": out["error"]}
    out["seconds"] = round(time.perf_counter() - t, 2)
    print(f"[gpu_check] {name}: {out['status']} in {out['seconds']:.1f} s"
          + (f" ({out.get('error') or out.get('reason')})" if out["status"] != "ok" else ""), flush=True)  # fmt: skip
    if out["status"] == "failed" and "traceback" in out:
        print(out["traceback"], file=sys.stderr, flush=True)
    return out


def environment(mode: str) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {"mode": mode, "python": sys.version.split()[0], "torch": torch.__version__}
    for pkg in ("transformers", "peft", "accelerate", "deepspeed"):
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            env[pkg] = None
    if torch.cuda.is_available():
        env["device"] = torch.cuda.get_device_name(0)
        env["device_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    else:
        env["device"] = "cpu"
        env["cpu_threads"] = torch.get_num_threads()
    return env


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# What the table shows of each stage (the JSON has everything).
SHOWN = {
    "tiny": [],
    "matmul": ["tflops", "n"],
    "build": ["params", "init_s", "save_s", "weights_gib"],
    "load": ["n_params", "weight_gib", "dtype", "device"],
    "ceval": ["items", "items_per_s", "forward_tokens", "tokens_per_s", "floor_fraction"],
    "ppl": ["scored_tokens", "scored_tokens_per_s", "forward_tokens", "tokens_per_s", "floor_fraction"],
    "agreement": ["agreement", "positions", "max_abs_logprob_diff"],
    "lora": ["first_loss", "last_loss", "steps", "tokens_per_s", "base_dtypes"],
    "deepspeed": ["first_loss", "last_loss", "steps", "zero_stage", "bf16", "deepspeed"],
}


def table(doc: dict[str, Any]) -> str:
    lines = [f"GPU check ({doc['env']['mode']}) on {doc['env']['device']}: total {doc['total_s']:.1f} s", "",
             "| stage | status | seconds | numbers |", "|---|---|---|---|"]  # fmt: skip
    for name, st in doc["stages"].items():
        if st["status"] == "ok":
            what = ", ".join(f"{k} {_fmt(st.get(k))}" for k in SHOWN.get(name, []))
        else:
            what = st.get("error") or st.get("reason") or ""
        lines.append(f"| {name} | {st['status']} | {st['seconds']:.1f} | {what} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    mode = "cpu-smoke" if args.cpu_smoke else "gpu"
    if args.cpu_smoke:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # read when deepspeed is imported
    # Before torch is imported: a shipped wheel may have to shadow an older copy (typing_extensions).
    try:
        wheels: dict[str, Any] = (
            {"status": "skipped"} if args.no_wheels else {"status": "ok", **ensure_wheels(args.site)}
        )
    except Exception as exc:
        wheels = {"status": "failed", "error": str(exc)}
    wheels["seconds"] = round(time.perf_counter() - t0, 2)
    print(f"[gpu_check] wheels: {wheels.get('installed') or wheels.get('error') or 'all present'}", flush=True)

    import torch

    if mode == "gpu" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible; use --cpu-smoke for the CPU run", file=sys.stderr)
        return 2
    doc: dict[str, Any] = {"started_at": started, "env": environment(mode), "wheels": wheels, "stages": {}}

    def report(stages: dict[str, dict[str, Any]]) -> None:
        doc["stages"] = stages
        doc["total_s"] = round(time.perf_counter() - t0, 2)
        doc["ok"] = wheels["status"] == "ok" and all(s["status"] != "failed" for s in stages.values())
        if args.out:  # rewritten after every stage, so a run cut off by a time limit keeps what it measured
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report(run_stages(args, work, t0, report))
    print(table(doc))
    if args.out:
        print(f"[gpu_check] wrote {args.out}")
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
