"""GGUF files written from our tiny model (F32, F16, Q8_0) load through the hf runner, dequantized.

PPL is checked against the checkpoint itself (F32 exactly, F16/Q8_0 within their rounding), and the
Q8_0 file against the checkpoint dequantized by hand (gguf's own dequantize, llama.cpp's Q/K order
undone) and run directly in transformers: the two must agree to float rounding.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from core.errors import UserError
from core.gguf_header import read_gguf_header
from core.model_spec import find_gguf, spec_for_path
from training.gguf_export import export_gguf

gguf = pytest.importorskip("gguf", reason="the gguf package (dev/gguf extra) writes and reads the files")

TEXT = (
    "长江是中国最长的河流，发源于青藏高原，流经十一个省市，最后注入东海。"
    "黄河是中国第二长河，被称为中华民族的母亲河。答案：A\n1998 年 hello world."
)


@pytest.fixture(scope="module")
def gguf_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gguf")
    for q in ("F32", "F16", "Q8_0"):
        export_gguf(tiny_model_dir, out / f"tiny-{q.lower()}.gguf", q)
    return out


@pytest.fixture(scope="module")
def base_runner(tiny_model_dir: Path):
    from runners.hf import HFRunner

    return HFRunner(str(tiny_model_dir), device="cpu")


def _nll(runner) -> float:
    logprob, n = runner.rolling_loglikelihood([TEXT], 32)[0]  # several windows
    assert n > 32
    return -logprob


def test_header_names_quant_type_and_size(gguf_dir: Path) -> None:
    h = {q: read_gguf_header(gguf_dir / f"tiny-{q}.gguf") for q in ("f32", "f16", "q8_0")}
    assert [h[q].quant_type for q in h] == ["F32", "F16", "Q8_0"]
    assert all(x.architecture == "llama" and x.n_tensors == 39 for x in h.values())
    assert h["q8_0"].file_bytes < h["f16"].file_bytes < h["f32"].file_bytes
    assert h["f16"].file_bytes == (gguf_dir / "tiny-f16.gguf").stat().st_size


def test_not_a_gguf_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGML" + b"\0" * 64)
    with pytest.raises(UserError, match="not a GGUF file"):
        read_gguf_header(bad)
    bad.write_bytes(b"GGUF\x03\0\0\0" + b"\x01")
    with pytest.raises(UserError, match="truncated or corrupt"):
        read_gguf_header(bad)


def test_dir_with_one_gguf_and_dir_with_two(gguf_dir: Path, tmp_path: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (one / "m.gguf").symlink_to(gguf_dir / "tiny-q8_0.gguf")
    spec = spec_for_path(one)
    assert spec.params["gguf"]["quant_type"] == "Q8_0" and spec.path.endswith("tiny-q8_0.gguf")
    assert spec.name == "one" and spec.params["format"] == "gguf"
    with pytest.raises(UserError, match="holds 3 GGUF files"):
        find_gguf(gguf_dir)


def test_gguf_tokenizer_encodes_like_the_checkpoint(gguf_dir: Path, base_runner) -> None:
    from runners.hf import HFRunner

    r = HFRunner(str(gguf_dir / "tiny-f32.gguf"), device="cpu")
    assert r.encode([TEXT]) == base_runner.encode([TEXT])
    assert r.bos_token_id == base_runner.bos_token_id and r.info.vocab_size == base_runner.info.vocab_size
    # the chat template travels in the file: arena answers through a GGUF use the same prompt
    msgs = [{"role": "system", "content": "你是助手"}, {"role": "user", "content": "你好"}]
    assert r.info.has_chat_template
    assert r.tokenizer.apply_chat_template(msgs, tokenize=False) == base_runner.tokenizer.apply_chat_template(
        msgs, tokenize=False
    )


@pytest.mark.parametrize(("quant", "rel"), [("f32", 1e-6), ("f16", 1e-3), ("q8_0", 1e-2)])
def test_ppl_matches_the_checkpoint(gguf_dir: Path, base_runner, quant: str, rel: float) -> None:
    from runners.hf import HFRunner

    r = HFRunner(str(gguf_dir / f"tiny-{quant}.gguf"), device="cpu", dtype="float32")
    assert r.info.dtype == "float32"  # dequantized to the requested dtype
    assert _nll(r) == pytest.approx(_nll(base_runner), rel=rel)


def test_q8_0_equals_hand_dequantized_checkpoint(gguf_dir: Path, tiny_model_dir: Path) -> None:
    """The runner's Q8_0 model = our own dequantization of the file, loaded into the checkpoint's architecture."""
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from transformers import AutoConfig, AutoModelForCausalLM

    from runners.hf import HFRunner

    path = gguf_dir / "tiny-q8_0.gguf"
    config = AutoConfig.from_pretrained(tiny_model_dir)
    heads, kv = config.num_attention_heads, config.num_key_value_heads

    def unpermute(w: np.ndarray, n: int) -> np.ndarray:
        return w.reshape(n, w.shape[0] // n // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    names = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}  # fmt: skip
    state = {}
    q8 = 0
    for t in GGUFReader(str(path)).tensors:
        q8 += t.tensor_type.name == "Q8_0"
        w = dequantize(t.data, t.tensor_type).reshape(list(reversed(t.shape.tolist())))
        if t.name == "token_embd.weight":
            state["model.embed_tokens.weight"] = w
        elif t.name == "output_norm.weight":
            state["model.norm.weight"] = w
        elif t.name == "output.weight":
            state["lm_head.weight"] = w
        else:
            _, i, kind, _ = t.name.split(".")
            w = unpermute(w, heads) if kind == "attn_q" else unpermute(w, kv) if kind == "attn_k" else w
            state[f"model.layers.{i}.{names[kind]}.weight"] = w
    assert q8 == 4 * 7 + 2  # every 2-D weight is stored quantized
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False
    )
    assert not unexpected and all("rotary" in k for k in missing)

    runner = HFRunner(str(path), device="cpu", dtype="float32")
    ids = torch.tensor([runner.encode([TEXT])[0]])
    with torch.inference_mode():
        direct = model(ids, labels=ids).loss.item()
        loaded = runner.model(ids, labels=ids).loss.item()
    assert loaded == pytest.approx(direct, rel=1e-6)
    assert math.isfinite(direct)
