"""KV prefix reuse in `HFRunner.choice_logprobs`: 5-shot C-Eval-style prompts with and without `prefixes`.

    python benchmarks/prefix_reuse.py                 # the project's tiny checkpoint
    python benchmarks/prefix_reuse.py --model DIR --groups 4 --per-group 50 --batch-size 16

Prompts follow PROTOCOLS.md §1.3 (answer-only k-shot, `with_prompt=False`): a header, k exemplar
questions with answers, then the test question. Prompts of one "subject" share the header and
exemplars, so their common token prefix is most of the prompt, which is what reuse saves.
Prints items/s of both paths, the speedup, and checks the predictions (argmax) are identical.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from pathlib import Path

LETTERS = ("A", "B", "C", "D")


def _sentences(seed: int) -> list[str]:
    """Chinese sentences to build questions from: the tiny model's corpus when available."""
    try:
        from training.tiny import corpus_text

        text = corpus_text()
    except (ImportError, OSError):
        text = "中国的首都是北京。操作系统负责管理计算机的硬件与软件资源。传输层的协议包括传输控制协议。" * 20
    parts = [s.strip() for s in re.split(r"[。！？\n]", text) if 8 <= len(s.strip()) <= 80]
    random.Random(seed).shuffle(parts)
    return parts


def _question(rng: random.Random, pool: list[str]) -> str:
    stem = rng.choice(pool)
    options = [rng.choice(pool)[: rng.randint(4, 16)] for _ in LETTERS]
    return stem + "，以下说法正确的是\n" + "\n".join(f"{x}. {o}" for x, o in zip(LETTERS, options))


def build_prompts(groups: int, per_group: int, shots: int, seed: int) -> tuple[list[str], list[str]]:
    """`groups * per_group` k-shot prompts and, per prompt, its exemplar block as the prefix hint."""
    rng = random.Random(seed)
    pool = _sentences(seed)
    prompts: list[str] = []
    hints: list[str] = []
    for g in range(groups):
        head = f"以下是中国关于subject_{g}考试的单项选择题，请选出其中的正确答案。\n\n"
        exemplars = "".join(f"{_question(rng, pool)}\n答案：{rng.choice(LETTERS)}\n\n" for _ in range(shots))
        for _ in range(per_group):
            prompts.append(head + exemplars + _question(rng, pool) + "\n答案：")
            hints.append(head + exemplars)
    return prompts, hints


def _timed(fn, repeats: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="HF model dir (default: the tiny checkpoint)")
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--per-group", type=int, default=20)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--scoring", default="cla2", choices=["cla2", "logprob", "bare_logit"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per mode (median reported)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from runners._kv_prefix import plan_prefix_groups
    from runners.hf import HFRunner

    if args.model is None:
        from training.tiny import default_tiny_dir

        args.model = default_tiny_dir()
    runner = HFRunner(str(args.model), device=args.device, dtype=args.dtype)
    prompts, hints = build_prompts(args.groups, args.per_group, args.shots, args.seed)
    ids = [runner.tokenizer(p)["input_ids"] for p in prompts]
    groups, rest = plan_prefix_groups(ids, hints)
    prefix_tokens = sum(len(g.prefix) * len(g.members) for g in groups) / max(1, len(prompts) - len(rest))

    def score(reuse: bool) -> list[dict[str, float]]:
        return runner.choice_logprobs(
            prompts, LETTERS, scoring=args.scoring, prefixes=hints if reuse else None, batch_size=args.batch_size
        )

    score(False), score(True)  # warm-up (allocator, kernels, lazy imports)
    t_plain, plain = _timed(lambda: score(False), args.repeats)
    t_reuse, reused = _timed(lambda: score(True), args.repeats)

    argmax = [max(LETTERS, key=s.__getitem__) for s in plain]
    same = sum(a == max(LETTERS, key=s.__getitem__) for a, s in zip(argmax, reused, strict=True))
    max_diff = max(abs(a[k] - b[k]) for a, b in zip(plain, reused, strict=True) for k in LETTERS)
    info = runner.info
    print(
        f"model {info.name}  {info.n_params / 1e6:.2f}M params  {info.dtype} on {info.device} "
        f"({torch.get_num_threads()} threads)  scoring={args.scoring}"
    )
    print(
        f"{len(prompts)} prompts in {args.groups} groups, {args.shots}-shot; "
        f"mean prompt {statistics.mean(map(len, ids)):.0f} tokens, shared prefix {prefix_tokens:.0f} tokens; "
        f"batch {args.batch_size}, median of {args.repeats}"
    )
    print(f"no reuse     {t_plain:7.3f} s  {len(prompts) / t_plain:8.1f} items/s")
    print(f"prefix reuse {t_reuse:7.3f} s  {len(prompts) / t_reuse:8.1f} items/s")
    print(f"speedup      {t_plain / t_reuse:.2f}x   argmax identical {same}/{len(prompts)}   max |diff| {max_diff:.2e}")
    if same != len(prompts):
        raise SystemExit("prefix reuse changed a prediction")


if __name__ == "__main__":
    main()
