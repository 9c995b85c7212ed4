"""Which tokens a PPL run scores, and with which context (PROTOCOLS.md "Leitai decisions" PPL).

A window is `(window ids, first scored position)`, the input of `HFRunner.token_logprobs`, which
returns log p(ids[j] | ids[:j]) for j >= first.

chunks (llama.cpp `perplexity`, default), with llama.cpp's BOS rule (`evals.ppl.bos`):
    ids = [BOS] + tokenize(text, add_special_tokens=False) when the vocabulary adds BOS by default,
          tokenize(text, add_special_tokens=False) otherwise (nothing stands in for a missing BOS);
    n_chunk = len(ids) // n_ctx (remainder dropped; at least 2 chunks);
    chunk k = ids[k*n_ctx : (k+1)*n_ctx], its first token replaced by BOS only when BOS is added;
    scored  = positions n_ctx/2 + 1 .. n_ctx - 1  (n_ctx - 1 - n_ctx//2 tokens per chunk).
sliding (`--stride s`): ids = [BOS] + text tokens (EOS where the tokenizer has no BOS, so every text
    token is scored); `runners.windows.rolling_windows` — windows start at 0, s, 2s, ...; every
    token after the leading one is scored exactly once, with up to n_ctx - 1 tokens of context.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import UserError
from runners.windows import rolling_windows

MODES = ("chunks", "sliding")
DEFAULT_CONTEXT = 4096
MIN_CONTEXT = 4
MIN_AUTO_CONTEXT = 16  # the default context shrinks no further than this to fit a short text

Window = tuple[list[int], int]


def chunk_windows(ids: Sequence[int], n_ctx: int, bos: int | None) -> list[Window]:
    """llama.cpp chunks of `ids`. `bos` given: `ids` already start with it and it replaces each chunk's
    first token; `bos=None` (a vocabulary that adds no BOS): the chunks are the tokens as they are."""
    first = n_ctx // 2 + 1
    if bos is None:
        return [(list(ids[k * n_ctx : (k + 1) * n_ctx]), first) for k in range(len(ids) // n_ctx)]
    return [([bos, *ids[k * n_ctx + 1 : (k + 1) * n_ctx]], first) for k in range(len(ids) // n_ctx)]


def sliding_windows(ids: Sequence[int], n_ctx: int, stride: int) -> list[Window]:
    """Rolling windows of `ids` (which already start with BOS); see `runners.windows.rolling_windows`."""
    try:
        plan = rolling_windows(len(ids), n_ctx, stride)
    except ValueError as exc:
        raise UserError(f"--stride {stride}: {exc}") from None
    return [(list(ids[start:end]), first - start) for start, end, first in plan]


def default_stride(n_ctx: int) -> int:
    """Sliding mode without --stride: half a window, so every scored token sees >= n_ctx/2 tokens of
    context (as in chunks mode) at about twice the cost of back-to-back windows."""
    return max(1, n_ctx // 2)


def resolve_context(requested: int | None, model_max: int, mode: str, shortest: tuple[str, int]) -> tuple[int, str]:
    """The n_ctx to use and a note on how it was chosen ("" when it is simply the requested value).

    Args:
        requested: `--context` (None = the default, 4096).
        model_max: the model's maximum length; the context is clipped to it.
        mode: chunks | sliding.
        shortest: (key, token count as windowed, BOS included when one is put in front) of the shortest document.

    Raises:
        UserError: chunks mode with an explicit --context and a document shorter than 2·n_ctx.
    """
    base = requested if requested is not None else DEFAULT_CONTEXT
    n_ctx = min(base, model_max)
    note = f"--context {base} clipped to the model's maximum {model_max}" if n_ctx < base else ""
    key, n_tokens = shortest
    if mode != "chunks" or n_tokens >= 2 * n_ctx:
        return n_ctx, note
    if requested is not None:
        raise UserError(
            f"{key}: {n_tokens} tokens, but chunks mode with n_ctx={n_ctx} needs at least {2 * n_ctx} (2·n_ctx); "
            + (
                f"use --context {_fitting(n_tokens)} or smaller, or --mode sliding"
                if n_tokens >= 2 * MIN_CONTEXT
                else "use --mode sliding"
            )
        )
    fitted = n_ctx
    while fitted > MIN_AUTO_CONTEXT and n_tokens < 2 * fitted:
        fitted //= 2
    if n_tokens < 2 * fitted:
        raise UserError(
            f"{key}: {n_tokens} tokens is too short for chunks mode (needs at least {2 * MIN_AUTO_CONTEXT}); "
            "use --mode sliding"
        )
    return fitted, (
        f"default context {n_ctx} reduced to {fitted}: the shortest text ({key}) has {n_tokens} tokens and "
        f"chunks mode needs 2·n_ctx; pass --context to choose"
    )


def _fitting(n_tokens: int) -> int:
    """Largest power of two n with 2·n <= n_tokens (at least MIN_CONTEXT)."""
    n = MIN_CONTEXT
    while 4 * n <= n_tokens:
        n *= 2
    return n
