"""llama.cpp's BOS rule for chunks-mode PPL: does this vocabulary add BOS by default?

`llama-perplexity` tokenizes the text with `add_special = add_bos` and, only when `add_bos`, puts BOS
in place of each chunk's first token (`examples/perplexity/perplexity.cpp`: `if (add_bos && j == 0)
tokens[seq_start] = llama_vocab_bos(vocab)`). `add_bos` is the vocabulary's own default:

* HF checkpoint: whether the tokenizer puts BOS in front when called with its defaults
  (`add_bos_token` in tokenizer_config.json, or the post-processor of tokenizer.json; the GGUF
  converter derives `tokenizer.ggml.add_bos_token` from the same two places).
* GGUF file: the `tokenizer.ggml.add_bos_token` metadata key (`gguf_adds_bos`, the hook for a GGUF runner).

A runner that knows the answer itself (e.g. from GGUF metadata) exposes a bool attribute `adds_bos`;
otherwise it is read off the runner's declared verbs (does encoding with default specials start with BOS).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GGUF_ADD_BOS_KEY = "tokenizer.ggml.add_bos_token"


def hf_adds_bos(tokenizer: Any) -> bool:
    """True when an HF tokenizer adds BOS by default (the vocabulary's llama.cpp `add_bos`)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:  # no BOS token at all (Qwen and others): nothing to add
        return False
    ids = tokenizer("x")["input_ids"]
    return bool(ids) and int(ids[0]) == int(bos)


def gguf_adds_bos(metadata: Mapping[str, Any]) -> bool | None:
    """`tokenizer.ggml.add_bos_token` of a GGUF file's metadata; None when the key is absent (llama.cpp
    then falls back to its per-tokenizer-model default, which a GGUF runner must resolve itself)."""
    value = metadata.get(GGUF_ADD_BOS_KEY)
    return None if value is None else bool(value)


def runner_adds_bos(runner: Any) -> bool:
    """llama.cpp's `add_bos` for the model behind `runner` (see the module docstring)."""
    declared = getattr(runner, "adds_bos", None)
    if isinstance(declared, bool):
        return declared
    # the runner's `bos_token_id` stands in EOS for a missing BOS, so a BOS-less vocabulary never matches
    first: list[int] = runner.encode(["x"], specials=True)[0][:1]
    return first == [runner.bos_token_id]
