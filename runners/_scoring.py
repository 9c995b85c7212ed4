"""Turn last-position logits into per-choice scores (the `ChoiceScoring` modes of runners/base.py)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from runners._text import ChoiceIds
from runners.base import ChoiceScoring

# PROTOCOLS.md §1.5 step 1: the constructor config CLA2's evaluator generates with.
CLA2_REPETITION_PENALTY = 1.1


def repetition_penalty(logits: torch.Tensor, prompt_ids: Sequence[int], penalty: float) -> torch.Tensor:
    """CTRL-style penalty (as HF's RepetitionPenaltyLogitsProcessor): every id seen in the prompt,
    BOS included, gets logit * penalty if the logit is negative, else logit / penalty.

    Args:
        logits: (V,) logits of one position; not modified.
        prompt_ids: the full prompt's token ids.
        penalty: e.g. 1.1.

    Returns:
        A new (V,) tensor.
    """
    seen = torch.tensor(sorted(set(prompt_ids)), dtype=torch.long, device=logits.device)  # (U,)
    picked = logits[seen]  # (U,)
    out = logits.clone()
    out[seen] = torch.where(picked < 0, picked * penalty, picked / penalty)
    return out


def score_rows(
    last_logits: torch.Tensor,
    prompt_ids: Sequence[Sequence[int]],
    choice_ids: Sequence[ChoiceIds],
    scoring: ChoiceScoring,
) -> list[dict[str, float]]:
    """Score every choice for each row of last-position logits.

    Args:
        last_logits: (B, V) logits at each prompt's last real position.
        prompt_ids: the B full prompts' token ids (cla2 penalises the ids of the full prompt).
        choice_ids: from `TokenText.choice_ids` with the same `scoring`.
        scoring: see `runners.base.ChoiceScoring`.

    Returns:
        B dicts {label: score}.
    """
    logits = last_logits.float()  # (B, V) — score in fp32 whatever the model dtype
    if scoring == "logprob":
        logits = torch.log_softmax(logits, dim=-1)
    results: list[dict[str, float]] = []
    for row, ids in zip(logits, prompt_ids, strict=True):
        if scoring == "cla2":
            row = repetition_penalty(row, ids, CLA2_REPETITION_PENALTY)
        scores: dict[str, float] = {}
        for choice in choice_ids:
            picked = row[list(choice.ids)]  # (k,)
            value = torch.logsumexp(picked, dim=0) if scoring == "logprob" else picked.sum()
            scores[choice.label] = float(value)
        results.append(scores)
    return results
