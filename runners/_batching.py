"""Length-sorted batching and padding of token-id lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Yield index batches, longest first, so each batch pads little and an OOM shows up at once."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def pad(
    seqs: Sequence[Sequence[int]], pad_id: int, side: str, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists to one length.

    Args:
        seqs: B token-id lists (each non-empty).
        pad_id: id written into padding; its value never matters because the mask hides it.
        side: "right" (scoring: real tokens keep positions 0..L-1) or "left" (generation: every row ends
            at the last column, where new tokens are appended).
        device: where the tensors go.

    Returns:
        input_ids (B, T) long and attention_mask (B, T) long with 1 on real tokens.
    """
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)  # (B, T)
    for row, seq in enumerate(seqs):
        span = slice(0, len(seq)) if side == "right" else slice(width - len(seq), width)
        ids[row, span] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, span] = 1
    return ids.to(device), mask.to(device)
