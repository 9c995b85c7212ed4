"""Batched, seeded text generation with stop strings on top of `model.generate`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from runners._batching import length_sorted_batches, pad
from runners._progress import progress_bar
from runners.base import GenParams


class StopOnStrings(StoppingCriteria):
    """Marks a row done once its generated text contains any stop string."""

    def __init__(self, tokenizer: Any, stops: Sequence[str], prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.stops = tuple(stops)
        self.prompt_width = prompt_width
        # Only the tail can hold a stop string that was not there a step ago; a generous token
        # window (pieces can be single bytes) keeps each check O(1) in the output length.
        self.tail = 4 * max(len(s) for s in self.stops) + 8

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_width :][:, -self.tail :]  # (B, <= tail)
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        done = [any(stop in text for stop in self.stops) for text in texts]
        return cast(torch.BoolTensor, torch.tensor(done, dtype=torch.bool, device=input_ids.device))


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """`text` up to (not including) the earliest occurrence of any stop string."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:cut]


def generation_config(params: GenParams, model: Any, tokenizer: Any, pad_id: int) -> GenerationConfig:
    """A fresh config from `params` alone, so a checkpoint's own sampling defaults never leak in."""
    eos = model.generation_config.eos_token_id
    sampling = params.temperature > 0
    make: Any = GenerationConfig  # its __init__ carries no annotations
    config: GenerationConfig = make(
        max_new_tokens=params.max_new_tokens,
        min_new_tokens=params.min_new_tokens or None,
        do_sample=sampling,
        # Greedy leaves the sampling knobs unset (transformers warns about unused ones).
        temperature=params.temperature if sampling else None,
        top_p=params.top_p if sampling else None,
        top_k=params.top_k if sampling else None,  # 0 disables top-k
        repetition_penalty=params.repetition_penalty,
        pad_token_id=pad_id,
        eos_token_id=eos if eos is not None else tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    return config


def generate_batches(
    model: Any,
    tokenizer: Any,
    token_ids: Sequence[Sequence[int]],
    params: GenParams,
    *,
    pad_id: int,
    device: torch.device,
    batch_size: int,
    progress: bool,
) -> list[str]:
    """Generate for every prompt (already token ids); returns texts in request order.

    Left padding puts every prompt's last token in the last column, where new tokens are appended;
    transformers derives position ids from the attention mask, so padding does not shift positions.
    """
    config = generation_config(params, model, tokenizer, pad_id)
    outputs: list[str] = [""] * len(token_ids)
    devices = [device] if device.type == "cuda" else []
    # fork_rng: seeding for reproducibility without changing the caller's global RNG stream.
    with torch.random.fork_rng(devices=devices), progress_bar(len(token_ids), "generate", progress) as advance:
        torch.manual_seed(params.seed)
        for batch in length_sorted_batches([len(t) for t in token_ids], batch_size):
            input_ids, mask = pad([token_ids[i] for i in batch], pad_id, "left", device)  # (B, T)
            width = input_ids.shape[1]
            stopping = StoppingCriteriaList([StopOnStrings(tokenizer, params.stop, width)]) if params.stop else None
            out = model.generate(
                input_ids=input_ids, attention_mask=mask, generation_config=config, stopping_criteria=stopping
            )  # (B, T + new)
            texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
            for i, text in zip(batch, texts, strict=True):
                outputs[i] = cut_at_stop(text, params.stop)
            advance(len(batch))
    return outputs
