"""hf vs vllm backends on the same model, in one run: 5-shot C-Eval-style items/s and PPL tokens/s,
each set against a floor computed from FLOPs.

    .venv-vllm/bin/python benchmarks/hf_vs_vllm.py                  # tiny checkpoint, vLLM CPU build
    python benchmarks/hf_vs_vllm.py --model DIR --dtype bfloat16    # a GPU host with `leitai[vllm]`

Floor: the time a perfect engine would need if every matmul ran at the rate this device reaches on a
plain square matmul in the model's dtype (measured here, first): 2 x params x tokens / rate, with
params = the model's weights minus the input embedding (a lookup, no FLOPs). "% of floor" is
floor time / measured time. C-Eval tokens are all prompt tokens, so with prefix caching (vLLM) or
prefix KV reuse (hf) an engine can beat 100%: shared exemplars are computed once, not per item.
Both backends score log-probabilities of the letters (the only choice scoring both share) and the
script prints how often their argmax agrees.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from prefix_reuse import build_prompts

LETTERS = ["A", "B", "C", "D"]


def matmul_rate(device: str, dtype: str) -> float:
    """FLOP/s of a square matmul in `dtype` on `device` (best of a few)."""
    import torch

    dt = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    n = 8192 if device.startswith("cuda") else 1024
    a, b = torch.randn(n, n, device=device, dtype=dt), torch.randn(n, n, device=device, dtype=dt)
    best = math.inf
    for _ in range(5):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(4):
            a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t) / 4)
    return 2 * n**3 / best


def compute_params(model_dir: Path) -> int:
    """Weights that take part in matmuls: all parameters minus the input embedding."""
    from safetensors import safe_open

    total, embed = 0, 0
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            for k in st.keys():
                n = math.prod(st.get_slice(k).get_shape())
                total += n
                if k.endswith("embed_tokens.weight"):
                    embed += n
    return total - embed


def corpus_windows(tokenizer, bos: int, n_ctx: int, repeat: int) -> list[tuple[list[int], int]]:
    """llama.cpp-style PPL chunks of the embedded corpus (repeated to get enough tokens)."""
    from evals.ppl.windows import chunk_windows
    from evals.resources import resource

    text = (resource("ppl") / "zh_sample.txt").read_text(encoding="utf-8") * repeat
    ids = [bos, *tokenizer(text, add_special_tokens=False)["input_ids"]]
    return chunk_windows(ids, n_ctx, bos)


def bench(runner, prompts, hints, windows, batch_size: int) -> dict:
    t = time.perf_counter()
    scores = runner.choice_logprobs(prompts, LETTERS, scoring="logprob", prefixes=hints, batch_size=batch_size)
    mc_s = time.perf_counter() - t
    t = time.perf_counter()
    runner.token_logprobs(windows, batch_size=batch_size)
    ppl_s = time.perf_counter() - t
    return {"mc_s": mc_s, "ppl_s": ppl_s, "pred": [max(s, key=s.get) for s in scores]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="HF model dir (default: the project's tiny checkpoint)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--groups", type=int, default=4, help="subjects (each shares its 5 exemplars)")
    ap.add_argument("--per-group", type=int, default=25)
    ap.add_argument("--n-ctx", type=int, default=512, help="PPL chunk length")
    ap.add_argument("--repeat", type=int, default=4, help="PPL corpus repetitions")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from runners.hf import HFRunner
    from runners.vllm_backend import VLLMRunner, check_available

    model = args.model
    if model is None:
        from training.tiny import default_tiny_dir

        model = default_tiny_dir()
    vdevice = check_available()
    device = "cuda" if vdevice == "cuda" else "cpu"
    rate = matmul_rate(device, args.dtype)
    params = compute_params(Path(model))
    prompts, hints = build_prompts(args.groups, args.per_group, 5, seed=0)

    results: dict[str, dict] = {}
    for backend in ("hf", "vllm"):
        runner = (HFRunner(str(model), device=device, dtype=args.dtype) if backend == "hf"
                  else VLLMRunner(str(model), dtype=args.dtype))  # fmt: skip
        windows = corpus_windows(runner.tokenizer, runner.bos_token_id, args.n_ctx, args.repeat)
        mc_tokens = sum(runner.count_tokens(p) + 1 for p in prompts)
        ppl_tokens = sum(len(ids) for ids, _ in windows)
        bench(runner, prompts[:8], hints[:8], windows[:1], args.batch_size)  # warm-up
        r = bench(runner, prompts, hints, windows, args.batch_size)
        r.update(mc_tokens=mc_tokens, ppl_tokens=ppl_tokens, device=runner.info.device)
        results[backend] = r
        if hasattr(runner, "close"):
            runner.close()
        del runner
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()

    print(f"model {model} ({params / 1e6:.2f} M matmul params, {args.dtype}); device {results['hf']['device']}; "
          f"matmul rate {rate / 1e9:.1f} GFLOP/s; torch {torch.__version__}")  # fmt: skip
    print(f"{'':8}{'C-Eval items/s':>16}{'% of floor':>12}{'PPL tok/s':>12}{'% of floor':>12}")
    for backend, r in results.items():
        n = len(prompts)
        mc_floor = 2 * params * r["mc_tokens"] / rate
        ppl_floor = 2 * params * r["ppl_tokens"] / rate
        r.update(items_per_s=n / r["mc_s"], mc_pct_floor=100 * mc_floor / r["mc_s"],
                 ppl_tok_per_s=r["ppl_tokens"] / r["ppl_s"], ppl_pct_floor=100 * ppl_floor / r["ppl_s"])  # fmt: skip
        print(
            f"{backend:8}{r['items_per_s']:16.1f}{r['mc_pct_floor']:11.1f}%{r['ppl_tok_per_s']:12.0f}{r['ppl_pct_floor']:11.1f}%"
        )
    h, v = results["hf"], results["vllm"]
    agree = sum(a == b for a, b in zip(h["pred"], v["pred"])) / len(prompts)
    print(f"vllm/hf: C-Eval {v['items_per_s'] / h['items_per_s']:.2f}x, PPL {v['ppl_tok_per_s'] / h['ppl_tok_per_s']:.2f}x; "
          f"argmax agreement {agree:.1%} on {len(prompts)} items ({h['mc_tokens']} prompt tokens; "
          f"PPL {h['ppl_tokens']} tokens)")  # fmt: skip
    if args.json:
        for r in results.values():
            r.pop("pred")
        args.json.write_text(
            json.dumps({"rate_flops": rate, "params": params, "agreement": agree, **results}, indent=2)
        )


if __name__ == "__main__":
    main()
