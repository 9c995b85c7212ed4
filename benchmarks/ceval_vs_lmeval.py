"""C-Eval throughput: our `evals run` vs lm-evaluation-harness (hf backend) on the same model and questions.

    python benchmarks/ceval_vs_lmeval.py                       # ~88M random-init Llama, 4 subjects x 20 val
    python benchmarks/ceval_vs_lmeval.py --items 30 --subjects 4 --shots 0,5
    python benchmarks/ceval_vs_lmeval.py --model DIR --data CEVAL_DIR --items 10
    python benchmarks/ceval_vs_lmeval.py --threads 1           # 1 torch thread per side (robust on a busy host)
    python benchmarks/ceval_vs_lmeval.py --no-record           # do not touch benchmarks/RESULTS.md

Both sides run as fresh subprocesses, timed end to end (interpreter start, imports, model load, data,
scoring, writing results): ours is `python -m evals.cli run --suite ceval ...` on a new SQLite db each
time (nothing resumed); lm-eval is `lm_eval.simple_evaluate(model="hf", ...)` on a local-CSV task per
subject whose prompt text equals ours (checked). items/s = questions / wall seconds. Model-compute-only
seconds are reported too (ours: the engine's compute time from `--json`; lm-eval: time inside
`HFLM._loglikelihood_tokens`).

Correctness: a one-prompt-at-a-time reference implementation of the CLA2 protocol
(benchmarks/ceval_lmeval/reference.py, plain transformers) scores the same questions; our `--json`
predictions must equal it. lm-eval's accuracy is shown for information only: it ranks the letters by
log p("A" | prompt) etc., not by the CLA2 two-logit rule, so its predictions may differ.

Everything runs offline (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE / TRANSFORMERS_OFFLINE are set).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ceval_lmeval import data as bdata  # noqa: E402
from benchmarks.ceval_lmeval import lmeval_task, reference  # noqa: E402

SECTION = "## C-Eval vs lm-evaluation-harness"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
)
# ~88M parameters: 12 x (4·768² attention + 3·768·2048 MLP) + 2 x vocab·768 embeddings/head.
BENCH_ARCH = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "num_key_value_heads": 12,
              "intermediate_size": 2048, "max_position_embeddings": 4096}  # fmt: skip


# ---------------------------------------------------------------------------------------------- model


def tiny_checkpoint() -> Path:
    """The tiny checkpoint whose tokenizer we borrow: the newest path in /tmp/leitai_tiny_ready, else the cached build."""
    ready = Path("/tmp/leitai_tiny_ready")
    if ready.is_file():
        for line in reversed(ready.read_text().splitlines()):
            words = line.split()
            if words and (Path(words[0]) / "tokenizer.json").is_file():
                return Path(words[0])
    from training.tiny import default_tiny_dir

    return Path(default_tiny_dir(progress=False))


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "leitai" / "bench"


def bench_model(tokenizer_dir: Path, seed: int) -> Path:
    """Build (once) a random-init ~88M LlamaForCausalLM with `tokenizer_dir`'s tokenizer; return its dir."""
    tok_hash = hashlib.sha256((tokenizer_dir / "tokenizer.json").read_bytes()).hexdigest()[:12]
    arch_hash = hashlib.sha256(json.dumps([BENCH_ARCH, seed], sort_keys=True).encode()).hexdigest()[:8]
    out = cache_root() / f"llama88m-{tok_hash}-{arch_hash}"
    if (out / "model.safetensors").is_file():
        return out
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    print(f"building the benchmark model into {out} (random init, seed {seed}) ...", flush=True)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      tie_word_embeddings=False, **BENCH_ARCH)  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent if out.parent.exists() else None))
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy2(tokenizer_dir / name, tmp / name)
    (tmp / "leitai_bench.json").write_text(json.dumps({"random_init_seed": seed, "tokenizer_from": str(tokenizer_dir),
                                                       "arch": BENCH_ARCH}, indent=1))  # fmt: skip
    try:
        tmp.rename(out)
    except OSError:  # built concurrently by another run
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def describe_model(model_dir: Path) -> str:
    cfg = json.loads((model_dir / "config.json").read_text())
    n = _param_count(model_dir)
    note = (
        " random init (fixed seed; timing only, accuracy is chance)"
        if (model_dir / "leitai_bench.json").is_file()
        else ""
    )
    return (f"{cfg.get('architectures', ['?'])[0]} {n / 1e6:.1f}M params (hidden {cfg.get('hidden_size')}, "
            f"{cfg.get('num_hidden_layers')} layers, vocab {cfg.get('vocab_size')}), fp32,{note}")  # fmt: skip


def _param_count(model_dir: Path) -> int:
    from safetensors import safe_open

    total = 0
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(f, "pt") as st:
            for k in st.keys():
                total += _prod(st.get_slice(k).get_shape())
    return total


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# ---------------------------------------------------------------------------------------------- runs


THREADS: int | None = None  # --threads: OMP/MKL threads of every timed subprocess (None = torch's default)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    if THREADS:
        env.update(OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(cmd: list[str], env: dict[str, str], what: str) -> tuple[float, float]:
    """Run to completion; return (wall seconds, CPU seconds of the child: user + system)."""
    cpu0 = _cpu_children()
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    cpu = _cpu_children() - cpu0
    if proc.returncode != 0:
        sys.stderr.write(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}\n"
        )
        raise SystemExit(1)
    return wall, cpu


def run_ours(model: Path, data_dir: Path, shots: int, work: Path, args, subjects: list[str]) -> dict:
    out = work / f"ours_{shots}shot.json"
    db = work / f"ours_{shots}shot.sqlite"
    cmd = [sys.executable, "-m", "evals.cli", "run", "--suite", "ceval", "--model", str(model), "--data", str(data_dir),
           "--shots", str(shots), "--no-progress", "--json", str(out), "--db", f"sqlite:///{db}",
           "--batch-size", str(args.batch_size), "--dtype", "float32", "--subjects", ",".join(subjects)]  # fmt: skip
    if args.items:
        cmd += ["--limit", str(args.items)]
    load = os.getloadavg()[0]
    wall, cpu = _run(cmd, _env(), "evals run")
    doc = json.loads(out.read_text(encoding="utf-8"))
    n = doc["n_items"]
    compute = n / doc["items_per_s"] if doc.get("items_per_s") else float("nan")
    preds = {(it["subject"], str(it["id"])): it for it in doc["items"]}
    return {"wall_s": wall, "n": n, "compute_s": compute, "engine_s": doc["elapsed_s"], "acc": doc["metrics"].get("accuracy"),
            "preds": preds, "load": load, "cpu_s": cpu}  # fmt: skip


def run_lmeval(model: Path, files: dict, shots: int, work: Path, args) -> dict:
    task_dir = work / f"lmeval_tasks_{shots}shot"
    names = lmeval_task.write_tasks(task_dir, files, shots=shots)
    out = work / f"lmeval_{shots}shot.json"
    env = _env()
    env["HF_DATASETS_CACHE"] = str(work / f"hf_datasets_{shots}shot")  # fresh, like our fresh db
    cmd = [sys.executable, str(ROOT / "benchmarks" / "ceval_lmeval" / "run_lmeval.py"), "--tasks-dir", str(task_dir),
           "--tasks", ",".join(names), "--model", str(model), "--shots", str(shots), "--batch-size",
           str(args.lmeval_batch_size or args.batch_size), "--out", str(out)]  # fmt: skip
    load = os.getloadavg()[0]
    wall, cpu = _run(cmd, env, "lm-eval")
    doc = json.loads(out.read_text(encoding="utf-8"))
    n = sum(t["n"] for t in doc["tasks"].values())
    acc = sum(t["acc"] * t["n"] for t in doc["tasks"].values()) / n
    preds = {}
    for name, t in doc["tasks"].items():
        subject = name.removeprefix("leitai_ceval_")
        preds.update({(subject, i): p for i, p in t["preds"].items()})
    return {"wall_s": wall, "n": n, "acc": acc, "preds": preds, "timing": doc["timing"], "tasks": doc["tasks"],
            "compute_s": doc["timing"]["compute_s"], "load": load, "cpu_s": cpu}  # fmt: skip


# ---------------------------------------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(
            next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1]
        )
        mem = f"{mem_kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        mem = "? RAM"
    from importlib.metadata import version

    import torch

    vers = ", ".join(f"{p} {version(p)}" for p in ("torch", "transformers", "lm_eval", "datasets"))
    threads = f"{THREADS} thread(s) per side" if THREADS else f"{torch.get_num_threads()} torch threads (default)"
    return (f"{cpu}, {os.cpu_count()} logical CPUs ({threads}), {mem}, no GPU; "
            f"Python {platform.python_version()}, {vers}")  # fmt: skip


def agreement(ours: dict, ref: dict) -> tuple[int, int, float]:
    same = sum(ours[k]["pred"] == ref[k]["pred"] for k in ref if k in ours)
    diff = max(
        (abs(ours[k]["scores"][x] - ref[k]["scores"][x]) for k in ref if k in ours for x in reference.LETTERS),
        default=0.0,
    )
    return same, len(ref), diff


def update_results(path: Path, heading: str, block: str) -> None:
    """Put `block` under `heading` in our section of RESULTS.md (replacing a block with the same heading,
    keeping our other blocks), leaving every other section of the file as it is."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start = text.find(SECTION)
    if start < 0:
        before, mine, after = text.rstrip("\n") + "\n\n", "", ""
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        before, mine, after = (
            text[:start],
            text[start : nxt + 1 if nxt >= 0 else len(text)],
            text[nxt + 1 :] if nxt >= 0 else "",
        )
    blocks = {}
    for part in mine.split("\n### ")[1:]:
        head, _, body = part.partition("\n")
        blocks["### " + head.strip()] = body.strip("\n")
    blocks[heading] = block.strip("\n")
    section = "\n\n".join([SECTION, INTRO.strip("\n"), *(f"{h}\n\n{b}" for h, b in blocks.items())]) + "\n"
    text = before + section + ("\n" + after if after else "")
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--model",
        type=Path,
        help="local HF checkpoint (default: a cached ~88M random-init Llama with the tiny tokenizer)",
    )
    p.add_argument(
        "--tokenizer-from",
        type=Path,
        help="checkpoint whose tokenizer the default model uses (default: the tiny model)",
    )
    p.add_argument("--data", type=Path, help="existing C-Eval-layout dir (default: synthetic data)")
    p.add_argument("--subjects", type=int, default=4, help="number of subjects")
    p.add_argument("--items", type=int, default=20, help="val questions per subject")
    p.add_argument("--shots", default="0,5", help="comma-separated shot settings")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass (both sides)")
    p.add_argument("--lmeval-batch-size", default=None, help="lm-eval's batch size if different (e.g. auto)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch/OpenMP threads for both sides (default: torch's default = all cores); 1 is far more "
        "robust when the machine is shared, since 2-thread OpenMP regions stall on a busy host",
    )
    p.add_argument(
        "--ref-threads", type=int, default=1, help="torch threads of the in-process reference (timing not compared)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-reference", action="store_true", help="skip the one-at-a-time reference check")
    p.add_argument(
        "--no-ref-cache",
        action="store_true",
        help="recompute the reference even if cached (cache key: weights, tokenizer, exact prompts, versions)",
    )
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    p.add_argument("--no-record", action="store_true", help="do not update RESULTS.md")
    p.add_argument("--keep", action="store_true", help="keep the temp work dir")
    args = p.parse_args()
    global THREADS
    THREADS = args.threads
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    shots_list = [int(s) for s in args.shots.split(",")]
    host = machine()
    t_start = time.perf_counter()

    model = args.model.resolve() if args.model else bench_model(args.tokenizer_from or tiny_checkpoint(), args.seed)
    work = Path(tempfile.mkdtemp(prefix="leitai_ceval_vs_lmeval_"))
    try:
        if args.data:
            data_dir = args.data.resolve()
            data = bdata.read_dataset(data_dir, n_subjects=args.subjects, n_val=args.items)
        else:
            data_dir = work / "ceval"
            data = bdata.build_dataset(data_dir, n_subjects=args.subjects, n_val=args.items, seed=args.seed)
        files = bdata.write_lmeval_copy(data, work / "lmeval_csv")
        subjects = list(data)
        n_items = sum(len(s["val"]) for s in data.values())
        print(f"model : {model}\n        {describe_model(model)}")
        print(f"data  : {data_dir} ({len(subjects)} subjects x {args.items or 'all'} val, {n_items} questions; "
              f"{'synthetic, ' if not args.data else ''}dev = 5 exemplars/subject)")  # fmt: skip
        print(f"host  : {host}\n", flush=True)

        rows = []
        for shots in shots_list:
            ours = run_ours(model, data_dir, shots, work, args, subjects)
            print(f"[{shots}-shot] ours    : {ours['wall_s']:7.1f} s wall, {ours['compute_s']:7.1f} s compute, "
                  f"{ours['cpu_s']:7.1f} CPU-s, {ours['n'] / ours['wall_s']:.2f} items/s (load avg {ours['load']:.1f})", flush=True)  # fmt: skip
            lme = run_lmeval(model, files, shots, work, args)
            tm = lme["timing"]
            print(f"[{shots}-shot] lm-eval : {lme['wall_s']:7.1f} s wall, {lme['compute_s']:7.1f} s compute, "
                  f"{lme['cpu_s']:7.1f} CPU-s, {lme['n'] / lme['wall_s']:.2f} items/s (imports {tm['imports_s']:.1f} s, simple_evaluate "
                  f"{tm['simple_evaluate_s']:.1f} s; load avg {lme['load']:.1f})", flush=True)  # fmt: skip
            if ours["n"] != lme["n"] or ours["n"] != n_items:
                raise SystemExit(f"item counts differ: ours {ours['n']}, lm-eval {lme['n']}, data {n_items}")
            rows.append({"shots": shots, "ours": ours, "lmeval": lme})

        ref_note = "skipped"
        if not args.no_reference:
            import torch

            torch.set_num_threads(args.ref_threads)
            tok, ref_model = reference.load(str(model))
            notes = []
            for row in rows:
                ref, secs, cached = reference.cached_score(
                    tok, ref_model, data, row["shots"], model, None if args.no_ref_cache else cache_root() / "reference"
                )
                row["ref"] = ref
                row["ref_s"] = secs
                same, total, diff = agreement(row["ours"]["preds"], ref)
                row["agree"] = (same, total, diff)
                row["lme_agree"] = sum(row["lmeval"]["preds"].get(k) == v["pred"] for k, v in ref.items())
                # lm-eval's context for the first question of each subject must be our prompt, byte for byte.
                row["prompt_equal"] = all(
                    t["first_context"] == ref[(name.removeprefix("leitai_ceval_"), t["first_doc_id"])]["prompt"]
                    for name, t in row["lmeval"]["tasks"].items()
                )
                how = "cached result" if cached else f"{secs:.1f} s, {args.ref_threads} thread(s)"
                notes.append(
                    f"{row['shots']}-shot {'cached' if cached else f'{secs:.0f} s at {args.ref_threads} thread(s)'}"
                )
                print(f"[{row['shots']}-shot] reference (1 prompt at a time; {how}): ours == reference on "
                      f"{same}/{total}, max |score diff| {diff:.2e}; lm-eval prompt == ours: {row['prompt_equal']}", flush=True)  # fmt: skip
            ref_note = "; ".join(notes)

        hdr = ("| setting | questions | ours items/s | lm-eval items/s | ratio | ours compute s | lm-eval compute s "
               "| compute ratio | CPU-s ratio | ours == reference | ours acc | lm-eval acc |")  # fmt: skip
        table = [hdr, "|" + "---|" * (hdr.count("|") - 1)]
        for row in rows:
            o, lm = row["ours"], row["lmeval"]
            ois, lis = o["n"] / o["wall_s"], lm["n"] / lm["wall_s"]
            if "agree" in row:
                s, t, d = row["agree"]
                agree = f"{100 * s / t:.1f}% ({s}/{t}, max Δscore {d:.1e})"
            else:
                agree = "not checked"
            table.append(
                f"| {row['shots']}-shot | {o['n']} | {ois:.2f} | {lis:.2f} | **{ois / lis:.2f}×** | {o['compute_s']:.1f} | "
                f"{lm['compute_s']:.1f} | {lm['compute_s'] / o['compute_s']:.2f}× | {lm['cpu_s'] / o['cpu_s']:.2f}× | {agree} | {o['acc']:.3f} | {lm['acc']:.3f} |"
            )
        total_s = time.perf_counter() - t_start
        print("\n" + "\n".join(table))
        print(
            f"\n(items/s = questions / end-to-end wall seconds of a fresh subprocess; total benchmark time {total_s:.0f} s)"
        )
        if not args.no_record:
            heading, block = render_block(
                rows, model, data_dir if args.data else None, n_items, subjects, args, table, total_s, ref_note, host
            )
            update_results(args.results, heading, block)
            print(f"recorded in {args.results}")
    finally:
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


INTRO = """
Written by `benchmarks/ceval_vs_lmeval.py` (one block per command line; re-running a command replaces its block).
Same local model, same C-Eval-layout questions, both sides as fresh subprocesses timed end to end
(interpreter start, imports, model load, data, scoring, output). **items/s = questions / wall seconds.**

- Ours: `python -m evals.cli run --suite ceval --shots k --dtype float32 --batch-size B` on a fresh SQLite db
  (CLA2 prompt and scoring; one KV-cached 5-shot prefix per subject chunk).
- lm-eval 0.4.13: `simple_evaluate(model="hf", model_args="pretrained=…,dtype=float32", batch_size=B)` on one
  local-CSV task per subject (`dataset_path: csv`, explanation column dropped; dev as `fewshot_split` with
  `sampler: first_n`; description = the CLA2 header for k > 0; `target_delimiter: ""`, `fewshot_delimiter: "\\n\\n"`),
  so its context is byte-identical to our prompt (checked per subject). It scores each question in one forward
  pass (4 single-token continuations share the context) but recomputes the 5-shot exemplars for every question.
- Compute s: ours = the engine's item-computation time from `--json` (tokenization, forward passes, storing rows);
  lm-eval = time inside `HFLM._loglikelihood_tokens`. CPU-s = user + system CPU seconds of the subprocess
  (less sensitive than wall time to other jobs on a shared machine).
- "ours == reference": our `--json` predictions vs a one-prompt-at-a-time implementation of the protocol
  (`benchmarks/ceval_lmeval/reference.py`: whole prompt, one forward, last logits, repetition penalty 1.1 over
  the prompt ids, logit(▁X) + logit(X), first argmax). lm-eval's accuracy uses its own rule (log p of the letter)
  and is shown for information only.
"""


def render_block(rows, model, data_dir, n_items, subjects, args, table, total_s, ref_note, host) -> tuple[str, str]:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    loads = ", ".join(
        f"{r['shots']}-shot ours {r['ours']['load']:.1f} / lm-eval {r['lmeval']['load']:.1f}" for r in rows
    )
    cmd = "python benchmarks/ceval_vs_lmeval.py" + "".join(
        f" {flag} {val}" for flag, val, default in (
            ("--subjects", args.subjects, 4), ("--items", args.items, 20), ("--shots", args.shots, "0,5"),
            ("--batch-size", args.batch_size, 8), ("--lmeval-batch-size", args.lmeval_batch_size, None),
            ("--threads", args.threads, None),
        ) if val != default
    ) + (f" --model {args.model}" if args.model else "") + (f" --data {args.data}" if args.data else "")  # fmt: skip
    prompt_eq = ", ".join(
        f"{r['shots']}-shot {'yes' if r.get('prompt_equal') else 'NO'}" for r in rows if "prompt_equal" in r
    )
    lines = [
        f"{when}; whole benchmark {total_s:.0f} s.",
        "",
        f"- Machine: {host}. 1-min load average when each timed run started: {loads}"
        + (
            " — a shared, oversubscribed machine (other jobs running): absolute numbers are noisy, ratios less so."
            if max(max(r["ours"]["load"], r["lmeval"]["load"]) for r in rows) > (os.cpu_count() or 1)
            else "."
        ),
        f"- Model: {describe_model(model)}.",
        f"- Data: {'synthetic C-Eval layout' if data_dir is None else data_dir}, {len(subjects)} subjects "
        f"({', '.join(subjects)}) × {args.items or 'all'} val = {n_items} questions, 5 dev exemplars per subject"
        + (" (questions 40–80 chars, options 5–15 chars, from the tiny model's corpus)." if data_dir is None else "."),
        f"- Batch size {args.batch_size} (lm-eval {args.lmeval_batch_size or args.batch_size}); lm-eval context == our prompt: "
        f"{prompt_eq or 'not checked'}; reference: {ref_note}.",
        "",
        *table,
    ]
    return f"### `{cmd}`", "\n".join(lines)


if __name__ == "__main__":
    main()
