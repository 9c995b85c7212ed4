"""Weight quantization for the hf backend: bitsandbytes on CUDA, optimum-quanto on CPU.

    quant   CUDA (bitsandbytes)                         CPU (optimum-quanto, weight-only)
    int8    LLM.int8 (`load_in_8bit`, threshold 6.0)     qint8, per-output-channel scales
    int4    NF4 + double quant, compute in the run dtype  qint4, group size 32 (+ shifts)

Both keep `lm_head` in full precision (transformers' bitsandbytes integration does that too), so
the two backends quantize the same layers. Sizes are measured from the loaded tensors, quantized
storage included (`weight_bytes`), never computed from a bits-per-weight formula.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from runners.errors import ModelLoadError

QUANT_MODES = ("none", "int8", "int4")
SKIP_MODULES = ("lm_head",)


def bnb_available() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except Exception:
        return False
    return True


def quanto_available() -> bool:
    try:
        import optimum.quanto  # noqa: F401
    except Exception:
        return False
    return True


def supported_quant(device: torch.device) -> tuple[str, ...]:
    """Quantization modes that really run on `device` with what is installed."""
    if device.type == "cuda":
        return QUANT_MODES if bnb_available() else ("none",)
    if device.type == "cpu":
        return QUANT_MODES if quanto_available() else ("none",)
    return ("none",)


def check_quant(quant: str, device: torch.device) -> None:
    """Raise a one-line ModelLoadError naming what is supported when `quant` cannot run on `device`."""
    supported = supported_quant(device)
    if quant in supported:
        return
    why = ""
    if quant in QUANT_MODES:
        lib = {"cuda": "bitsandbytes", "cpu": "optimum-quanto"}.get(device.type)
        why = f" ({lib} is not installed)" if lib else ""
    raise ModelLoadError(f"quantization {quant} not supported on {device.type}{why}; supported: {', '.join(supported)}")


def bnb_config(quant: str, compute_dtype: torch.dtype) -> Any:
    """The transformers `BitsAndBytesConfig` for int8 (LLM.int8) or int4 (NF4, double quant)."""
    from transformers import BitsAndBytesConfig

    make: Any = BitsAndBytesConfig  # its __init__ carries no annotations
    if quant == "int8":
        return make(load_in_8bit=True, llm_int8_threshold=6.0, llm_int8_skip_modules=list(SKIP_MODULES))
    return make(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype, llm_int8_skip_modules=list(SKIP_MODULES),
    )  # fmt: skip


def quantize_cpu(model: Any, quant: str) -> Any:
    """Quantize the linear weights of a loaded model in place with optimum-quanto and freeze them.

    After `freeze` the float weights are gone: each `QLinear` holds int8 data (qint8) or packed
    uint8 nibbles plus per-group scales and shifts (qint4), and matmuls dequantize on the fly.
    """
    from optimum.quanto import freeze, qint4, qint8, quantize

    quantize(model, weights={"int8": qint8, "int4": qint4}[quant], exclude=list(SKIP_MODULES))
    freeze(model)
    _run_forward_outside_inference_mode(model)
    return model


def _run_forward_outside_inference_mode(model: Any) -> None:
    """quanto's packed int4 matmul fails inside `torch.inference_mode` ("Cannot set version_counter
    for inference tensor"), and the runner's verbs run in inference mode. The model's forward
    therefore leaves inference mode for plain `no_grad`: same numbers, no autograd graph."""
    forward = model.forward

    @functools.wraps(forward)
    def no_grad_forward(*args: Any, **kwargs: Any) -> Any:
        with torch.inference_mode(False), torch.no_grad():
            return forward(*args, **kwargs)

    model.forward = no_grad_forward


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes a (possibly quantized) tensor really stores.

    Tensor subclasses (quanto's `WeightQBytesTensor` / `WeightQBitsTensor`) report the float dtype
    they dequantize to; their storage is the inner tensors (`__tensor_flatten__`: data, scale,
    shift). bitsandbytes keeps its scales next to the packed data: `quant_state` (4-bit: absmax,
    nested absmax, code) and `SCB` (8-bit row scales).
    """
    flatten = getattr(type(t), "__tensor_flatten__", None)
    if flatten is not None and type(t) not in (torch.Tensor, torch.nn.Parameter):
        names, _ = flatten(t)
        return sum(tensor_bytes(getattr(t, n)) for n in names)
    n = t.numel() * t.element_size()
    state = getattr(t, "quant_state", None)
    if state is not None:
        n += _quant_state_bytes(state)
    scb = getattr(t, "SCB", None)
    if isinstance(scb, torch.Tensor):
        n += scb.numel() * scb.element_size()
    return n


def _quant_state_bytes(state: Any) -> int:
    n = 0
    for name in ("absmax", "code", "offset"):
        v = getattr(state, name, None)
        if isinstance(v, torch.Tensor):
            n += v.numel() * v.element_size()
    nested = getattr(state, "state2", None)
    if nested is not None and nested is not state:
        n += _quant_state_bytes(nested)
    return n


def describe(quant: str, device: torch.device) -> str:
    """How `quant` was realised on `device`, for run metadata ("" for none)."""
    if quant == "none":
        return ""
    if device.type == "cuda":
        return {"int8": "bitsandbytes LLM.int8 (threshold 6.0)", "int4": "bitsandbytes NF4 + double quant"}[quant]
    return {"int8": "optimum-quanto qint8 weight-only", "int4": "optimum-quanto qint4 weight-only"}[quant]
