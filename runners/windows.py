"""Window plans for scoring long token sequences (pure Python, no torch).

Shared by `HFRunner.rolling_loglikelihood` and the PPL suite, so both cut texts the same way.
"""

from __future__ import annotations


def rolling_windows(n_tokens: int, max_length: int, stride: int | None = None) -> list[tuple[int, int, int]]:
    """Sliding windows that score every token after the first exactly once.

        tokens     t0 t1 t2 ... tN-1          (t0 = BOS)
        window k   [start_k, end_k) with start_k = k * stride, end_k = min(start_k + max_length, N)
        scores     positions max(end_{k-1}, start_k + 1) .. end_k - 1   (end_{-1} = 0)

    The last window is the first one that reaches N. A window's first token is never scored (nothing
    in the window predicts it), so windows must overlap by at least one token: stride <= max_length - 1.
    The default stride = max_length - 1 gives back-to-back scored spans, each window reading the
    previous window's last token as its only context; smaller strides re-read max_length - stride
    tokens of context that they do not score.

    Args:
        n_tokens: N, the sequence length including the leading BOS.
        max_length: tokens per window (the model context to use), >= 2.
        stride: step between window starts, in [1, max_length - 1]; None means max_length - 1. With
            stride = max_length the token at each window start would never be scored.

    Returns:
        (start, end, first_scored) triples; empty when N < 2 (nothing to predict).
    """
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    stride = max_length - 1 if stride is None else stride
    if not 1 <= stride <= max_length - 1:
        raise ValueError(
            f"stride must be in [1, max_length - 1 = {max_length - 1}] so every token is scored once, got {stride}"
        )
    windows: list[tuple[int, int, int]] = []
    prev_end = 0
    start = 0
    while prev_end < n_tokens and n_tokens >= 2:
        end = min(start + max_length, n_tokens)
        windows.append((start, end, max(prev_end, start + 1)))
        prev_end = end
        start += stride
    return windows
