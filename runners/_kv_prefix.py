"""KV-cache reuse for prompts that share a token prefix (e.g. the 5-shot exemplars of one subject).

Plan: group prompts by their caller-given hint, find the longest common prefix of the groups' *token
ids* (never of the hint string: tokenizers can merge pieces across the hint's end, so only the ids of
the full prompts are trustworthy), run that prefix once with batch 1, then run only each prompt's
suffix against the cached keys/values.

    full prompt ids   t0 t1 ... tP-1 | s0 s1 ... sk
                      |- prefix P --|  |- suffix -|   (k >= 0: every prompt keeps >= 1 suffix token,
                                                       whose logits are the ones we score)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

from runners._batching import pad
from runners._forward import accepts_logits_to_keep, last_logits

# Below this many shared tokens the extra batch-1 pass costs more than the reuse saves.
MIN_PREFIX_TOKENS = 8

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values), each (1, H_kv, P, D)


@dataclass(frozen=True, slots=True)
class PrefixGroup:
    """Prompts (by request index) whose first `len(prefix)` token ids are `prefix`."""

    prefix: tuple[int, ...]
    members: tuple[int, ...]


def common_prefix_len(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix of the id lists."""
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for seq in seqs[1:]:
        i = 0
        while i < n and seq[i] == first[i]:
            i += 1
        n = i
    return n


def plan_prefix_groups(
    token_ids: Sequence[Sequence[int]],
    hints: Sequence[str | None],
    *,
    min_prefix: int = MIN_PREFIX_TOKENS,
    max_total: int | None = None,
) -> tuple[list[PrefixGroup], list[int]]:
    """Split requests into reusable prefix groups and the rest.

    Args:
        token_ids: full prompt ids per request.
        hints: per-request prefix hint (None = no hint). Only equality of hints matters.
        min_prefix: a group whose shared prefix is shorter runs without reuse.
        max_total: if set, groups holding a prompt longer than this run without reuse (used for
            sliding-window attention, where a plain cache of the whole prefix would be wrong).

    Returns:
        (groups, rest): groups with >= 2 members and a prefix of >= min_prefix tokens, and the
        request indices to run normally.
    """
    by_hint: dict[str, list[int]] = {}
    rest: list[int] = []
    for i, hint in enumerate(hints):
        (rest if hint is None else by_hint.setdefault(hint, [])).append(i)
    groups: list[PrefixGroup] = []
    for members in by_hint.values():
        seqs = [token_ids[i] for i in members]
        # Keep >= 1 suffix token per prompt: the last position must be computed in the suffix pass.
        shared = min(common_prefix_len(seqs), min(len(s) for s in seqs) - 1) if len(seqs) > 1 else 0
        too_long = max_total is not None and max(len(s) for s in seqs) > max_total
        if shared < min_prefix or too_long:
            rest.extend(members)
        else:
            groups.append(PrefixGroup(tuple(seqs[0][:shared]), tuple(members)))
    return groups, sorted(rest)


def _cache_tensors(cache: Any) -> KV:
    if hasattr(cache, "layers"):  # transformers >= 4.56: a list of cache layers
        return [(layer.keys, layer.values) for layer in cache.layers]
    if hasattr(cache, "key_cache"):  # 4.45 - 4.55
        return list(zip(cache.key_cache, cache.value_cache, strict=True))
    return [(kv[0], kv[1]) for kv in cache]  # legacy tuple of tuples


def run_prefix(model: Any, prefix: Sequence[int], device: torch.device) -> KV:
    """Run the shared prefix once (batch 1) and return its keys/values per layer."""
    ids = torch.tensor([list(prefix)], dtype=torch.long, device=device)  # (1, P)
    extra = {"logits_to_keep": 1} if accepts_logits_to_keep(type(model)) else {}
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, **extra)
    kv = _cache_tensors(out.past_key_values)
    if any(k.shape[-2] != len(prefix) for k, _ in kv):
        raise RuntimeError("prefix cache length does not match the prefix; cannot reuse it")
    return kv


def _expanded_cache(kv: KV, batch: int) -> DynamicCache:
    # The forward pass appends to the cache object it is given, so every batch gets a new one. The
    # tensors can be broadcast views of the prefix: DynamicCache appends with torch.cat, which writes
    # into new storage and never into the (shared) prefix tensors.
    legacy = tuple((k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in kv)
    if hasattr(DynamicCache, "from_legacy_cache"):
        return DynamicCache.from_legacy_cache(legacy)
    return DynamicCache(legacy)


def suffix_last_logits(
    model: Any, kv: KV, suffixes: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> torch.Tensor:
    """Logits at the last token of each suffix, attending to the cached prefix.

    Args:
        model: the causal LM that produced `kv`.
        kv: from `run_prefix`, P positions.
        suffixes: B non-empty id lists that follow the prefix.
        pad_id: any id; padding is masked.
        device: model device.

    Returns:
        (B, V) logits.
    """
    prefix_len = kv[0][0].shape[-2]
    batch = len(suffixes)
    ids, mask = pad(suffixes, pad_id, "right", device)  # (B, S), (B, S)
    width = ids.shape[1]
    full_mask = torch.cat([mask.new_ones((batch, prefix_len)), mask], dim=1)  # (B, P + S)
    cache_position = torch.arange(prefix_len, prefix_len + width, device=device)  # (S,)
    last = torch.tensor([len(s) - 1 for s in suffixes], device=device)  # (B,)
    return last_logits(
        model,
        ids,
        full_mask,
        last,
        past_key_values=_expanded_cache(kv, batch),
        position_ids=cache_position.unsqueeze(0).expand(batch, -1),  # (B, S)
        cache_position=cache_position,
        use_cache=True,
    )
