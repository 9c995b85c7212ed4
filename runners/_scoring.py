"""Turn last-position logits into per-choice scores (the `ChoiceScoring` modes of runners/base.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from runners.base import ChoiceScoring

# PROTOCOLS.md §1.5 step 1: the constructor config CLA2's evaluator generates with.
CLA2_REPETITION_PENALTY = 1.1


@dataclass(frozen=True, slots=True)
class ChoiceIds:
    """Token ids a choice label is read from; `ids` may hold the same id twice (cla2 counts it twice)."""

    label: str
    ids: tuple[int, ...]


def choice_token_ids(tokenizer, choices: Sequence[str], scoring: ChoiceScoring) -> list[ChoiceIds]:
    """Resolve each choice label to the token ids its score is built from.

    Args:
        tokenizer: a Hugging Face tokenizer.
        choices: labels such as ("A", "B", "C", "D").
        scoring: "cla2" and "logprob" use id1 = encode(X, no specials)[0] and id2 = encode("：" + X)[-1]
            (the Chinese full-width colon, with the tokenizer's default specials, exactly as CLA2 does);
            "bare_logit" uses the vocabulary piece X itself.

    Returns:
        One `ChoiceIds` per label, in order.

    Raises:
        ValueError: a label has no token (empty encoding, or not a vocabulary piece for "bare_logit").
    """
    out: list[ChoiceIds] = []
    for label in choices:
        if scoring == "bare_logit":
            tid = tokenizer.convert_tokens_to_ids(label)
            if tid is None or tid == tokenizer.unk_token_id:
                raise ValueError(f"choice {label!r} is not a single vocabulary piece of this tokenizer")
            out.append(ChoiceIds(label, (int(tid),)))
            continue
        first = tokenizer.encode(label, add_special_tokens=False)
        colon = tokenizer.encode("：" + label)
        if not first or not colon:
            raise ValueError(f"choice {label!r} encodes to no tokens")
        id1, id2 = int(first[0]), int(colon[-1])
        if scoring == "cla2":
            out.append(ChoiceIds(label, (id1, id2)))
        elif scoring == "logprob":
            # Distinct ids only: the same token must not be counted twice in a probability sum.
            out.append(ChoiceIds(label, (id1,) if id1 == id2 else (id1, id2)))
        else:
            raise ValueError(f"unknown choice scoring {scoring!r}; choose cla2, logprob or bare_logit")
    return out


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
        choice_ids: from `choice_token_ids` with the same `scoring`.
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
