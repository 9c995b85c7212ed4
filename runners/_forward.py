"""Forward passes that keep only the logits a caller needs.

A causal LM's full output is (B, T, V); at V = 55k and T = 2k that is gigabytes per batch, while choice
scoring needs one position per row and window scoring only the scored span. Most transformers models
accept `logits_to_keep` (an int = keep the last n positions, or a 1-D tensor of positions); where a
model does not, we fall back to the full logits.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

import torch


def accepts_logits_to_keep(model: Any) -> bool:
    """Whether `model.forward` takes `logits_to_keep` (cached per model class)."""
    return _forward_takes_logits_to_keep(model.__class__)


@lru_cache(maxsize=32)
def _forward_takes_logits_to_keep(model_class: Any) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(model_class.forward).parameters
    except (TypeError, ValueError):
        return False


def last_logits(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    last_pos: torch.Tensor,
    **extra: Any,
) -> torch.Tensor:
    """Logits at one position per row.

    Args:
        model: a causal LM.
        input_ids: (B, T).
        attention_mask: (B, T) or (B, P + T) when `extra` carries a KV cache of P positions.
        last_pos: (B,) column of each row's last real token in `input_ids`.
        **extra: passed to the model (past_key_values, position_ids, cache_position).

    Returns:
        (B, V) logits, in the model's dtype.
    """
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)  # (B,)
    if accepts_logits_to_keep(model):
        keep = torch.unique(last_pos)  # (K,) sorted; K <= B and usually tiny after length sorting
        kept: torch.Tensor = model(
            input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep, **extra
        ).logits
        return kept[rows, torch.searchsorted(keep, last_pos)]  # (B, K, V) -> (B, V)
    logits: torch.Tensor = model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits
    return logits[rows, last_pos]  # (B, T, V) -> (B, V)


def target_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    lengths: list[int],
    score_from: list[int],
    *,
    with_greedy: bool = True,
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Log-probability of each scored token given everything before it in its row.

    Args:
        model: a causal LM.
        input_ids: (B, T) right-padded.
        attention_mask: (B, T).
        lengths: real length of each row.
        score_from: first scored position of each row (>= 1: position 0 has no prediction).
        with_greedy: also compute is_greedy (an argmax over the vocabulary per position); when False
            the second element of each pair is None.

    Returns:
        Per row, (logprobs, is_greedy) for positions score_from .. length-1, both (n,) on CPU;
        logprobs in float32.
    """
    width = input_ids.shape[1]
    # Position p is predicted by the logits at p - 1, so keep columns min(score_from) - 1 .. T - 1.
    first_col = min(score_from) - 1
    logits: torch.Tensor
    if accepts_logits_to_keep(model):
        logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=width - first_col).logits
    else:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, first_col:]
    # logits: (B, T - first_col, V); column c holds the prediction for position first_col + c + 1.
    results: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    for row, (length, start) in enumerate(zip(lengths, score_from, strict=True)):
        pred = logits[row, start - 1 - first_col : length - 1 - first_col].float()  # (n, V); no copy if fp32
        targets = input_ids[row, start:length]  # (n,)
        # log_softmax gathered at the targets, without materialising the (n, V) log_softmax.
        logprobs = pred.gather(1, targets[:, None]).squeeze(1) - torch.logsumexp(pred, dim=-1)  # (n,)
        greedy = (pred.argmax(dim=-1) == targets).cpu() if with_greedy else None  # (n,)
        results.append((logprobs.cpu(), greedy))
    return results
