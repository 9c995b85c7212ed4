"""Write a Llama checkpoint dir as a GGUF file (F32, F16 or Q8_0) with the `gguf` package.

The GGUF files Leitai tests and compares come from our own checkpoints: this writes the llama.cpp
layout that transformers' GGUF loader reads back (llama.cpp key names, `blk.N.*` tensor names, the
Q/K rows permuted as llama.cpp's converter does, 1-D norms kept in F32), with the checkpoint's own
BPE vocabulary and merges as a "llama" (sentencepiece-style) tokenizer. Only the architectures we
build (LlamaForCausalLM) are written; other models come from llama.cpp's converter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import UserError

QUANT_TYPES = ("F32", "F16", "Q8_0")
# llama.cpp's LlamaFileType numbers (general.file_type) of the types written here
_FILE_TYPE = {"F32": 0, "F16": 1, "Q8_0": 7}
# tokenizer.ggml.token_type values (llama.cpp's llama_token_type)
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6


def export_gguf(checkpoint: Path, out: Path, quant: str = "F16") -> Path:
    """Write `checkpoint` (a Llama HF dir) to `out` in `quant`; returns `out`. Written to a temp name first."""
    quant = quant.upper()
    if quant not in QUANT_TYPES:
        raise UserError(f"GGUF quant type {quant} cannot be written here; choose {', '.join(QUANT_TYPES)}")
    try:
        import gguf
    except ImportError:
        raise UserError("writing GGUF files needs the gguf package (pip install 'leitai[gguf]')") from None
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    if config.get("architectures") != ["LlamaForCausalLM"]:
        raise UserError(f"{checkpoint}: only LlamaForCausalLM checkpoints are written to GGUF here")
    tensors = _llama_tensors(checkpoint, config)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    _write_metadata(writer, config, checkpoint, quant)
    qtype = getattr(gguf.GGMLQuantizationType, quant)
    for name, array in tensors.items():
        if array.ndim == 1 or quant == "F32":  # llama.cpp keeps norms (1-D) in F32 in every file type
            writer.add_tensor(name, array.astype("float32"))
        elif quant == "F16":
            writer.add_tensor(name, array.astype("float16"))
        else:
            writer.add_tensor(name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out


def _permute(w: Any, n_head: int) -> Any:
    """llama.cpp's Q/K row order (rotary pairs interleaved), the inverse of what its loaders undo."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _llama_tensors(checkpoint: Path, config: dict[str, Any]) -> dict[str, Any]:
    from safetensors.numpy import load_file

    files = sorted(checkpoint.glob("*.safetensors"))
    if not files:
        raise UserError(f"{checkpoint} has no .safetensors weights")
    hf: dict[str, Any] = {}
    for f in files:
        hf.update(load_file(str(f)))
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    out = {"token_embd.weight": hf["model.embed_tokens.weight"], "output_norm.weight": hf["model.norm.weight"]}
    if "lm_head.weight" in hf and not config.get("tie_word_embeddings"):
        out["output.weight"] = hf["lm_head.weight"]
    names = {
        "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
        "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
    }  # fmt: skip
    for i in range(config["num_hidden_layers"]):
        for hf_name, g_name in names.items():
            w = hf[f"model.layers.{i}.{hf_name}.weight"]
            if g_name == "attn_q":
                w = _permute(w, heads)
            elif g_name == "attn_k":
                w = _permute(w, kv_heads)
            out[f"blk.{i}.{g_name}.weight"] = w
    return out


def _write_metadata(writer: Any, config: dict[str, Any], checkpoint: Path, quant: str) -> None:
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    rope = config.get("rope_parameters") or {}
    writer.add_name(checkpoint.name)
    writer.add_file_type(_FILE_TYPE[quant])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(config.get("rope_theta") or rope.get("rope_theta") or 10000.0))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(config["vocab_size"])
    _write_tokenizer(writer, checkpoint)


def _write_tokenizer(writer: Any, checkpoint: Path) -> None:
    """The checkpoint's tokenizer.json vocabulary and merges as a "llama" GGUF tokenizer."""
    tok = json.loads((checkpoint / "tokenizer.json").read_text(encoding="utf-8"))
    tok_cfg_path = checkpoint / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text(encoding="utf-8")) if tok_cfg_path.is_file() else {}
    model = tok["model"]
    if model.get("type") != "BPE":
        raise UserError(f"{checkpoint}: only BPE tokenizers are written to GGUF here")
    vocab: dict[str, int] = model["vocab"]
    for added in tok.get("added_tokens", []):
        vocab.setdefault(added["content"], added["id"])
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise UserError(f"{checkpoint}: token ids are not contiguous; cannot write a GGUF vocabulary")
    special = {a["content"] for a in tok.get("added_tokens", []) if a.get("special")}
    unk = model.get("unk_token")
    types = [
        _UNKNOWN if t == unk else _CONTROL if t in special else _BYTE if _is_byte_piece(t) else _NORMAL for t in tokens
    ]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([-float(i) for i in range(len(tokens))])
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for key, setter in (("bos_token", writer.add_bos_token_id), ("eos_token", writer.add_eos_token_id),
                        ("unk_token", writer.add_unk_token_id)):  # fmt: skip
        piece = tok_cfg.get(key)
        piece = piece.get("content") if isinstance(piece, dict) else piece
        if piece in vocab:
            setter(vocab[piece])
    writer.add_add_bos_token(bool(tok_cfg.get("add_bos_token", True)))
    writer.add_add_eos_token(bool(tok_cfg.get("add_eos_token", False)))
    template = tok_cfg.get("chat_template")
    jinja = checkpoint / "chat_template.jinja"
    if template is None and jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    if isinstance(template, str):
        writer.add_chat_template(template)


def _is_byte_piece(t: str) -> bool:
    return len(t) == 6 and t.startswith("<0x") and t.endswith(">")
