"""Corpus PPL from stored per-document rows (so a resumed run aggregates exactly like a fresh one).

Each row's `extra` holds sums, never ratios: `nll` (Σ −log p, natural log), `nll_sq` (Σ (−log p)²),
`scored` (scored tokens), `tokens` (text tokens, BOS excluded), `chars` (Python `len` of the text).

    ppl            = exp(Σnll / Σscored)
    ppl_stderr     = ppl · sqrt(var / (Σscored − 1)),  var = Σnll_sq/Σscored − mean²   (llama.cpp's "±")
    bits_per_char  = (Σnll / Σscored) / ln 2 · Σtokens / Σchars
    chars_per_token = Σchars / Σtokens

In sliding mode every text token is scored once (Σscored = Σtokens), so bits_per_char is exactly
(Σnll / ln 2) / Σchars as PROTOCOLS.md defines it. In chunks mode only the second half of each chunk
is scored; the same formula then scales the mean per-token loss by the corpus's tokens per
character (the scored tokens stand in for the text).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MAX_BY_DOCUMENT = 200  # per-document PPLs go into metrics only for corpora up to this many documents


def document_stats(logprob_sums: Sequence[tuple[float, float, int]], *, tokens: int, chars: int) -> dict[str, Any]:
    """A row's `extra` from its windows' (Σ log p, Σ (log p)², n scored)."""
    nll = -sum(s for s, _, _ in logprob_sums)
    return {
        "nll": nll,
        "nll_sq": sum(q for _, q, _ in logprob_sums),
        "scored": sum(n for _, _, n in logprob_sums),
        "tokens": tokens,
        "chars": chars,
        "windows": len(logprob_sums),
        "window_nll": [-s for s, _, _ in logprob_sums],
    }


def corpus_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Headline PPL metrics over the stored rows (see the module docstring)."""
    extras = [r["extra"] for r in rows]
    nll = sum(e["nll"] for e in extras)
    nll_sq = sum(e["nll_sq"] for e in extras)
    scored = sum(e["scored"] for e in extras)
    tokens = sum(e["tokens"] for e in extras)
    chars = sum(e["chars"] for e in extras)
    out: dict[str, Any] = {"scored_tokens": scored, "tokens": tokens, "characters": chars,
                           "n_documents": len(rows), "n_windows": sum(e["windows"] for e in extras)}  # fmt: skip
    if scored == 0:
        return out
    mean = nll / scored
    ppl = math.exp(mean)
    var = max(0.0, nll_sq / scored - mean * mean)
    out.update({
        "ppl": ppl,
        "ppl_stderr": ppl * math.sqrt(var / (scored - 1)) if scored > 1 else 0.0,
        "nll": nll,
        "nll_per_token": mean,
        "bits_per_char": mean / math.log(2) * tokens / chars if chars else None,
        "chars_per_token": chars / tokens if tokens else None,
    })  # fmt: skip
    if 1 < len(rows) <= MAX_BY_DOCUMENT:
        out["by_document"] = {
            r["item_id"]: math.exp(r["extra"]["nll"] / r["extra"]["scored"]) for r in rows if r["extra"]["scored"]
        }
    return out
