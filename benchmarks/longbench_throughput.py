"""LongBench generation throughput: the suite's path through `HFRunner.generate` vs a plain transformers loop.

    python benchmarks/longbench_throughput.py                      # tiny checkpoint, embedded sample set
    python benchmarks/longbench_throughput.py --model DIR --data LongBench/data --limit 20 --batch-size 8
    python benchmarks/longbench_throughput.py --context-scale 4    # each context repeated 4x: longer inputs

Both sides get the *same* request texts: the suite's own prompt building (official template, middle
truncation to max_length - max_gen, no chat). "ours" runs `LongBench.predict` (length-sorted
batches through the runner, left padding, greedy); "plain" is the loop of the official `pred.py`
shape: one prompt at a time, `tokenizer(text, return_tensors="pt")`, `model.generate(...,
do_sample=False, num_beams=1, max_new_tokens=max_gen)`, decode of the new tokens.

Reported per side: wall time, prompt tokens/s (sum of prompt tokens / wall) and generated tokens/s
(sum of generated tokens / wall; both sides count generated tokens the same way: the decoded
prediction re-tokenized without special tokens), and how many predictions are identical.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model dir (default: the project's tiny checkpoint)")
    ap.add_argument("--data", type=Path, default=None, help="official-layout data dir (default: embedded sample)")
    ap.add_argument("--tasks", default=None, help="comma-separated tasks (default: the Chinese + code set)")
    ap.add_argument("--limit", type=int, default=None, help="items per task")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="override every task's max_gen")
    ap.add_argument("--max-length", type=int, default=None, help="context (default: the model's)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--context-scale", type=int, default=1, help="repeat each item's context K times")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    args = ap.parse_args()

    import torch

    from evals.longbench import generation as gen
    from evals.longbench.tasks import get_task
    from evals.suite_api import SuiteOptions
    from evals.suites.longbench import LongBench
    from runners.hf import HFRunner

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model is None:
        from training.tiny import default_tiny_dir

        args.model = str(default_tiny_dir())
    runner = HFRunner(args.model)
    tok, model = runner.tokenizer, runner.model
    suite = LongBench()
    extra = {
        "tasks": tuple(t for t in (args.tasks or "").split(",") if t),
        "max_new_tokens": args.max_new_tokens,
        "max_length": args.max_length,
    }
    plan = suite.plan(SuiteOptions(data=args.data, limit=args.limit, extra=extra))
    if args.context_scale > 1:
        plan.items = [
            replace(it, item=replace(it.item, context=it.item.context * args.context_scale)) for it in plan.items
        ]
    n_gen = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])  # noqa: E731

    # ours: the suite's predict path (truncation + length-sorted batches through the runner)
    t0 = time.perf_counter()
    rows = [r for chunk in suite.predict(runner, plan, plan.items, batch_size=args.batch_size) for r in chunk]
    ours_s = time.perf_counter() - t0
    ours = {r["item_id"]: r["pred"] for r in rows}
    prompt_tokens = sum(r["extra"]["prompt_tokens"] for r in rows)

    # plain: one prompt at a time with model.generate, same texts, same max_new_tokens
    max_length = args.max_length or runner.info.max_length
    plain: dict[str, str] = {}
    t0 = time.perf_counter()
    with torch.inference_mode():
        for it in plan.items:
            spec = get_task(it.item.task)
            max_gen = gen.task_max_gen(spec, args.max_new_tokens)
            text = gen.middle_truncate(
                tok,
                gen.request_text({"context": it.item.context, "input": it.item.input}, spec.name),
                max_length - max_gen,
            ).text
            enc = tok(text, return_tensors="pt").to(runner.device)
            out = model.generate(
                **enc, max_new_tokens=max_gen, do_sample=False, num_beams=1, pad_token_id=tok.eos_token_id
            )
            plain[it.key] = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    plain_s = time.perf_counter() - t0

    same = sum(ours[k] == plain[k] for k in ours)
    gen_ours = sum(n_gen(p or "") for p in ours.values())
    gen_plain = sum(n_gen(p) for p in plain.values())
    longest = max(r["extra"]["prompt_tokens"] for r in rows)
    print(
        f"model {runner.info.name} on {runner.info.device} ({runner.info.dtype}), torch threads "
        f"{torch.get_num_threads()}; {len(rows)} items, {prompt_tokens} prompt tokens "
        f"(longest {longest}), batch size {args.batch_size}, context scale {args.context_scale}"
    )
    print(f"{'side':<6} {'wall s':>8} {'prompt tok/s':>13} {'gen tokens':>11} {'gen tok/s':>10}")
    for name, secs, ntok in (("ours", ours_s, gen_ours), ("plain", plain_s, gen_plain)):
        print(f"{name:<6} {secs:8.2f} {prompt_tokens / secs:13.0f} {ntok:11d} {ntok / secs:10.1f}")
    print(f"speedup {plain_s / ours_s:.2f}x; identical predictions {same}/{len(ours)}")


if __name__ == "__main__":
    main()
