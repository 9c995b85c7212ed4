"""Milliseconds per token for prompt processing and for generation, as llama.cpp's tables report them.

Prompt processing: one forward pass over a prompt of `prompt_tokens` tokens (the median of `repeats`
passes), divided by its length. Generation: `gen_tokens` greedy decoding steps of one token each on the
KV cache of that prompt, total time divided by the steps. A short warm-up pass runs first so one-time
costs (kernel selection, quantized-weight packing) do not land in the numbers. hf backend only: it
needs the torch model (`runner.model`) and its tokenizer.
"""

from __future__ import annotations

import inspect
import statistics
import time
from dataclasses import dataclass
from typing import Any

# Any text works (speed does not depend on content); the tokens are repeated up to the prompt length.
_FILLER = "中国的首都是北京。长江是中国最长的河流，全长约六千三百公里。The quick brown fox jumps over the lazy dog. "


@dataclass(frozen=True, slots=True)
class Speed:
    prompt_ms_per_token: float
    gen_ms_per_token: float
    prompt_tokens: int
    gen_tokens: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "prompt_ms_per_token": round(self.prompt_ms_per_token, 4), "gen_ms_per_token": round(self.gen_ms_per_token, 4),
            "prompt_tokens": self.prompt_tokens, "gen_tokens": self.gen_tokens,
        }  # fmt: skip


def measure_speed(runner: Any, *, prompt_tokens: int = 128, gen_tokens: int = 32, repeats: int = 3) -> Speed:
    """Time `runner` (an HFRunner) on a prompt of `prompt_tokens` tokens and `gen_tokens` decoding steps."""
    import torch

    model, tok, device = runner.model, runner.tokenizer, runner.device
    prompt_tokens = max(2, min(prompt_tokens, int(runner.info.max_length) - gen_tokens - 1))
    filler = [i for i in tok(_FILLER, add_special_tokens=False)["input_ids"]]
    ids = ([runner.bos_token_id] + filler * (prompt_tokens // max(1, len(filler)) + 1))[:prompt_tokens]
    x = torch.tensor([ids], device=device)

    # transformers 5.25 renamed the KV-cache argument and output to `cache` (past_key_values goes in 5.40)
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def cache_of(out: Any) -> Any:
        return out["cache"] if "cache" in out else out.past_key_values

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with torch.inference_mode():
        model(x[:, : min(8, prompt_tokens)], use_cache=False)  # warm-up
        sync()
        times = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            out = model(x, use_cache=True)
            sync()
            times.append(time.perf_counter() - t0)
        past, nxt = cache_of(out), out.logits[:, -1].argmax(-1, keepdim=True)
        t0 = time.perf_counter()
        for _ in range(gen_tokens):
            out = model(nxt, use_cache=True, **{cache_kw: past})
            past, nxt = cache_of(out), out.logits[:, -1].argmax(-1, keepdim=True)
        sync()
        gen_s = time.perf_counter() - t0
    return Speed(
        prompt_ms_per_token=1000 * statistics.median(times) / prompt_tokens,
        gen_ms_per_token=1000 * gen_s / max(1, gen_tokens),
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
    )
