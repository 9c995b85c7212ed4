"""PPL throughput: our runner against a plain transformers loop and lm-eval's `loglikelihood_rolling`.

    PYTHONPATH=. .venv/bin/python benchmarks/ppl_throughput.py [--model DIR] [--data FILE] [--context 512]
        [--batch-size 8] [--repeat 3] [--threads N]

All three score the *same windows* of the same text with the *same model object* (fp32, CPU here):
lm-eval's rolling windows (prefix token, then disjoint spans of `max_length` predicted tokens, each read
with one token of context, except the last span, which is read with a full `max_length` window) are
rebuilt here as (ids, first scored) windows, so the three NLL sums must agree (checked, printed). Our
sliding mode with window n_ctx + 1 and stride n_ctx is the same except for that last window (it starts
at a multiple of the stride, PROTOCOLS.md). Timed: scoring the whole text, tokenization included, model
load excluded.

    ours     HFRunner.token_logprobs: length-sorted batches, logits kept only for scored positions,
             log-softmax over those rows only (what `evals run --suite ppl` runs)
    plain    the Hugging Face "perplexity of fixed-length models" loop: one window per forward pass,
             labels with -100 on context, loss × scored tokens
    lm-eval  HFLM.loglikelihood_rolling with the same model/tokenizer objects and batch size

Also printed: ours in the default chunks mode (llama.cpp) at the same n_ctx, scored and forward tokens/s.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lmeval_windows(ids: list[int], n_ctx: int) -> list[tuple[list[int], int]]:
    """Rolling windows as lm-eval's `loglikelihood_rolling` evaluates them, over ids = [prefix] + text.

    Predicted spans are positions 1..n_ctx, n_ctx+1..2·n_ctx, ...; each span is read in the window of
    n_ctx + 1 tokens that ends at the span's last token (so the last, shorter span gets more context).
    """
    out = []
    a = 1
    while a < len(ids):
        b = min(a + n_ctx, len(ids))
        start = max(0, b - n_ctx - 1)
        out.append((ids[start:b], a - start))
        a = b
    return out


def _widened_copy(model_dir: Path, vocab_size: int) -> Path:
    """A random-init model with `model_dir`'s config and tokenizer but `vocab_size` embeddings/logits."""
    import shutil
    import tempfile

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    out = Path(tempfile.mkdtemp(prefix="ppl_bench_"))
    config = AutoConfig.from_pretrained(model_dir)
    config.vocab_size = vocab_size
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    for f in model_dir.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")) or f.suffix == ".jinja":
            shutil.copy(f, out / f.name)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="HF model dir (default: the embedded tiny model)")
    p.add_argument("--data", type=Path, default=ROOT / "evals" / "resources" / "ppl" / "zh_sample.txt")
    p.add_argument("--context", type=int, default=512, help="lm-eval max_length = our n_ctx")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--skip-lmeval", action="store_true")
    p.add_argument(
        "--vocab-size",
        type=int,
        default=0,
        help="benchmark a random-init copy of --model with this many output logits (e.g. 55296, the "
        "Chinese-LLaMA-2 vocabulary): same text and tokens, the LM head as wide as a real Chinese model's",
    )
    a = p.parse_args()

    import torch

    from evals.ppl.windows import chunk_windows
    from runners.hf import HFRunner

    if a.threads:
        torch.set_num_threads(a.threads)
    if a.model is None:
        from training.tiny import default_tiny_dir

        a.model = str(default_tiny_dir(progress=False))
    if a.vocab_size:
        a.model = str(_widened_copy(Path(a.model), a.vocab_size))
    runner = HFRunner(a.model, device="cpu", dtype="float32")
    model, tok = runner.model, runner.tokenizer
    text = a.data.read_text(encoding="utf-8")
    n_ctx, bs = a.context, a.batch_size

    def ids_of(t: str) -> list[int]:
        return [runner.bos_token_id, *tok(t, add_special_tokens=False, verbose=False)["input_ids"]]

    ids = ids_of(text)
    windows = lmeval_windows(ids, n_ctx)
    n_scored = sum(len(w) - f for w, f in windows)
    fwd_tokens = sum(len(w) for w, _ in windows)

    def ours() -> float:
        w = lmeval_windows(ids_of(text), n_ctx)
        return -sum(float(lp.double().sum()) for lp in runner.token_logprobs(w, batch_size=bs))

    def plain() -> float:
        nll = 0.0
        with torch.no_grad():
            for window, first in lmeval_windows(ids_of(text), n_ctx):
                input_ids = torch.tensor([window])
                labels = input_ids.clone()
                labels[:, :first] = -100
                loss = model(input_ids=input_ids, labels=labels).loss
                nll += float(loss) * (len(window) - first)
        return nll

    methods = {"ours": ours, "plain": plain}
    if not a.skip_lmeval:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM

        # add_bos_token=False: lm-eval 0.4.13 otherwise encodes the text with the tokenizer's defaults, i.e.
        # a second BOS after its prefix token, and would score one token more than the others.
        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=bs, max_length=n_ctx, device="cpu", add_bos_token=False)
        req = [Instance(request_type="loglikelihood_rolling", doc={}, arguments=(text,), idx=0)]
        methods["lm-eval"] = lambda: -float(lm.loglikelihood_rolling(req, disable_tqdm=True)[0])

    print(
        f"model {a.model} ({runner.info.n_params / 1e6:.1f}M params, vocab {runner.info.vocab_size}), "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"text {a.data.name}: {len(text)} chars, {len(ids) - 1} tokens; n_ctx {n_ctx}, batch {bs}: "
        f"{len(windows)} windows, {n_scored} scored tokens, {fwd_tokens} forward tokens"
    )
    # Warm-up once each, then interleave the repeats so a change in machine load hits every method alike.
    nll = {name: fn() for name, fn in methods.items()}
    wall: dict[str, list[float]] = {name: [] for name in methods}
    cpu: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(a.repeat):
        for name, fn in methods.items():
            t, c = time.perf_counter(), time.process_time()
            nll[name] = fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    for name in methods:
        print(
            f"  {name:8s} wall best {min(wall[name]):.3f}s median {statistics.median(wall[name]):.3f}s · "
            f"CPU best {min(cpu[name]):.3f}s · NLL {nll[name]:.4f}"
        )
    for name, value in nll.items():
        assert math.isclose(value, nll["ours"], rel_tol=1e-4), f"{name} NLL {value} != ours {nll['ours']}"
    print(f"NLL agrees (rel 1e-4); PPL {math.exp(nll['ours'] / n_scored):.4f} over {n_scored} tokens")
    best = {k: min(v) for k, v in wall.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    print("\n| method | wall best s | scored tokens/s (wall) | CPU best s | speed-up of ours (wall / CPU) |")
    print("|---|---|---|---|---|")
    for name, sec in best.items():
        print(
            f"| {name} | {sec:.3f} | {n_scored / sec:,.0f} | {best_cpu[name]:.3f} | "
            f"{sec / best['ours']:.2f}× / {best_cpu[name] / best_cpu['ours']:.2f}× |"
        )

    chunks = chunk_windows(ids, n_ctx, runner.bos_token_id)
    if chunks:
        c_scored = sum(len(w) - f for w, f in chunks)
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            runner.token_logprobs(chunk_windows(ids_of(text), n_ctx, runner.bos_token_id), batch_size=bs)
            times.append(time.perf_counter() - t)
        sec = min(times)
        print(
            f"\nours, chunks mode (llama.cpp) n_ctx {n_ctx}: {len(chunks)} chunks, {c_scored} scored tokens, "
            f"best {sec:.3f}s = {c_scored / sec:,.0f} scored tokens/s, {len(chunks) * n_ctx / sec:,.0f} forward tokens/s"
        )


if __name__ == "__main__":
    main()
