"""Checkpoints both transformers majors load: what we save under 5.x is rewritten to the 4.x layout.

transformers 5 writes a tokenizer_config.json that 4.x cannot load ("tokenizer_class":
"TokenizersBackend" for generic fast tokenizers, "LlamaTokenizer" without `add_bos_token`, which
4.x's LlamaTokenizerFast would read as "no BOS") and a config.json whose RoPE settings live only in
`rope_parameters` (4.x reads `rope_theta`/`rope_scaling`). 5.x reads the 4.x names as well, so
every checkpoint Leitai writes (tiny builder, `evals train …`, merges) gets them after saving:

    tokenizer_class  TokenizersBackend -> PreTrainedTokenizerFast; X -> XFast when tokenizer.json is
                     the tokenizer (no slow sentencepiece file), e.g. LlamaTokenizer -> LlamaTokenizerFast
    add_bos_token / add_eos_token   what the tokenizer really does, measured by encoding a text
    rope_theta / rope_scaling       copied out of rope_parameters
    torch_dtype                     copied from dtype

Files already in the 4.x layout are left as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GENERIC_5X = "TokenizersBackend"


def make_portable(target: Path, tokenizer: Any | None = None) -> None:
    """Rewrite `target`'s tokenizer_config.json and config.json (if present) to load under 4.x and 5.x."""
    target = Path(target)
    tok_cfg = target / "tokenizer_config.json"
    if tok_cfg.is_file():
        _update_json(tok_cfg, lambda d: _portable_tokenizer_config(d, target, tokenizer))
    config = target / "config.json"
    if config.is_file():
        _update_json(config, _portable_model_config)


def _portable_tokenizer_config(d: dict[str, Any], target: Path, tokenizer: Any | None) -> None:
    cls = d.get("tokenizer_class")
    fast_file = (target / "tokenizer.json").is_file()
    if cls == GENERIC_5X:
        d["tokenizer_class"] = "PreTrainedTokenizerFast"
    elif isinstance(cls, str) and fast_file and not cls.endswith("Fast") and not (target / "tokenizer.model").is_file():
        d["tokenizer_class"] = cls + "Fast"
    if tokenizer is not None and getattr(tokenizer, "bos_token_id", None) is not None:
        ids = tokenizer("a")["input_ids"]
        d["add_bos_token"] = bool(ids) and ids[0] == tokenizer.bos_token_id
        eos = getattr(tokenizer, "eos_token_id", None)
        d["add_eos_token"] = bool(ids) and eos is not None and ids[-1] == eos
    if d.get("tokenizer_class") == "LlamaTokenizerFast":
        d.setdefault("legacy", True)  # what 5.x's Llama tokenizer does; 4.x asks otherwise


def _portable_model_config(d: dict[str, Any]) -> None:
    rope = d.get("rope_parameters")
    if isinstance(rope, dict) and "rope_theta" not in d and "rope_theta" in rope:
        d["rope_theta"] = rope["rope_theta"]
        if "rope_scaling" not in d:
            scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
            d["rope_scaling"] = None if scaling.get("rope_type", "default") == "default" else scaling
    if "dtype" in d and "torch_dtype" not in d:
        d["torch_dtype"] = d["dtype"]


def _update_json(path: Path, edit: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    before = json.dumps(data, sort_keys=True)
    edit(data)
    if json.dumps(data, sort_keys=True) != before:
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
