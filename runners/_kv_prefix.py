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

# Suffix batches may hold more rows than `batch_size` (see `suffix_batches`) as long as their keys/values
# span at most this many positions in all (or a full `batch_size` batch's, if that is more): e.g.
# 16384 x 512 KiB = 8 GiB for a 7B fp16 model.
KV_TOKEN_BUDGET = 16384
# A suffix batch holds at most this many times `batch_size` rows, with padding at most this share of its
# real tokens. Measured (88M Llama, 5-shot, CPU): 32 rows instead of 8 cut wall time ~2.5x at 2 threads
# (per-op thread sync dominates small batches); at 1 thread the extra padding costs ~10-15%.
SUFFIX_ROWS_FACTOR = 4
SUFFIX_MAX_PADDING = 1.0

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
    extra = {"logits_to_keep": 1} if accepts_logits_to_keep(model) else {}
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, **extra)
    kv = _cache_tensors(out.past_key_values)
    if any(k.shape[-2] != len(prefix) for k, _ in kv):
        raise RuntimeError("prefix cache length does not match the prefix; cannot reuse it")
    return kv


def _expanded_cache(kv: KV, batch: int) -> DynamicCache:
    # The forward pass appends to the cache object it is given, so every batch gets a new one.
    # Building it from the batch-1 prefix copies only 1 row per layer (DynamicCache's first update is a
    # torch.cat into fresh storage); the layers then hold broadcast views (stride 0 over the batch), so
    # the only B-row copy is the forward pass's own torch.cat of prefix + suffix, again into new
    # storage. Nothing ever writes into the caller's `kv` tensors (they may be cached across calls).
    legacy: Any = tuple(kv)  # transformers annotates this argument as a 1-tuple
    cache = _dynamic_cache(legacy)
    if hasattr(cache, "layers"):  # transformers >= 4.56
        layers: list[Any] = list(cache.layers)  # 5.x annotates layer kinds without keys/values
        for layer in layers:
            assert layer.keys is not None and layer.values is not None  # filled from `kv` above
            layer.keys = layer.keys.expand(batch, -1, -1, -1)
            layer.values = layer.values.expand(batch, -1, -1, -1)
    elif hasattr(cache, "key_cache"):  # 4.45 - 4.55
        old: Any = cache  # attributes these versions have and the installed annotations lack
        for i in range(len(old.key_cache)):
            old.key_cache[i] = old.key_cache[i].expand(batch, -1, -1, -1)
            old.value_cache[i] = old.value_cache[i].expand(batch, -1, -1, -1)
    else:  # unknown layout: fall back to materialised broadcast views
        legacy = tuple((k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in kv)
        cache = _dynamic_cache(legacy)
    return cache


def suffix_batches(
    suffix_lens: Sequence[int],
    prefix_len: int,
    batch_size: int,
    *,
    max_rows_factor: int = SUFFIX_ROWS_FACTOR,
    max_padding: float = SUFFIX_MAX_PADDING,
) -> list[list[int]]:
    """Length-sorted (longest first) batches of suffixes sized by a token budget rather than a row count.

    A suffix row is much cheaper than a full prompt, so `batch_size` suffix rows make small matmuls where
    per-op overhead (thread sync on CPU, launches on GPU) dominates. Each batch takes `batch_size` rows
    (as the no-reuse path) and then grows, while its longest suffix S and prefix P satisfy
        R * S       <= batch_size * (P + S)                        (no more tokens than a full batch)
        R * (P + S) <= max(batch_size * (P + S), KV_TOKEN_BUDGET)  (keys/values held by attention)
        R           <= max_rows_factor * batch_size
        padded tokens <= (1 + max_padding) * real tokens            (padding is wasted compute)

    Returns:
        Index batches into `suffix_lens`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(suffix_lens)), key=lambda i: (-suffix_lens[i], i))
    batches: list[list[int]] = []
    start = 0
    while start < len(order):
        longest = max(1, suffix_lens[order[start]])
        full = prefix_len + longest
        cap = min(
            batch_size * full // longest,
            max(batch_size * full, KV_TOKEN_BUDGET) // full,
            max_rows_factor * batch_size,
        )
        end = min(len(order), start + batch_size)
        real = sum(suffix_lens[i] for i in order[start:end])
        while end < len(order) and end - start < cap:
            nxt = real + suffix_lens[order[end]]
            if (end - start + 1) * longest > (1 + max_padding) * nxt:
                break
            real, end = nxt, end + 1
        batches.append(order[start:end])
        start = end
    return batches


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


def _dynamic_cache(legacy: Any) -> DynamicCache:
    """A DynamicCache from per-layer (key, value) pairs: `from_legacy_cache` up to 4.x, the constructor in 5.x."""
    make: Any = getattr(DynamicCache, "from_legacy_cache", None) or DynamicCache
    cache: DynamicCache = make(legacy)
    return cache
