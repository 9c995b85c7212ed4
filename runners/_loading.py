"""Load a local Hugging Face causal LM and its tokenizer, turning every failure into one-line ModelLoadErrors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from runners.errors import ModelLoadError

SUPPORTED_QUANT = ("none",)
_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}  # fmt: skip
# Architecture names AutoModelForCausalLM builds (GPT-2 style models say "LMHeadModel").
_CAUSAL_ARCH = re.compile(r"(ForCausalLM|LMHeadModel)$")


def resolve_device(device: str) -> torch.device:
    """ "auto" -> cuda if available else cpu; anything else is passed to torch.device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ModelLoadError(f"unknown device {device!r}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device} requested but CUDA is not available")
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """ "auto" -> fp32 on CPU (bf16/fp16 matmuls are slow or inexact there), bf16 on CUDA if the GPU
    supports it, else fp16."""
    if dtype == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dtype not in _DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; choose auto, {', '.join(sorted(_DTYPES))}")
    return _DTYPES[dtype]


def check_causal_lm(path: Path, trust_remote_code: bool) -> Any:
    """Return the model config if `path` holds a causal LM, else raise ModelLoadError."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if not path.exists():
        raise ModelLoadError(f"model path {path} does not exist")
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} has no config.json; is it a Hugging Face model directory?")
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}/config.json: {_first_line(exc)}") from exc
    archs = list(getattr(config, "architectures", None) or [])
    remote = trust_remote_code and "AutoModelForCausalLM" in (getattr(config, "auto_map", None) or {})
    known = config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    # Both checks: BERT's config type has a causal head class, but a BertModel checkpoint is no LM.
    if not (remote or known) or (archs and not any(_CAUSAL_ARCH.search(a) for a in archs)):
        raise ModelLoadError(f"{path} is not a causal LM (config.json architectures={archs})")
    return config


def load_tokenizer(path: Path, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as exc:  # tokenizer loaders raise many types; the user needs one line
        raise ModelLoadError(f"cannot load the tokenizer of {path}: {_first_line(exc)}") from exc


def load_model(path: Path, dtype: torch.dtype, device: torch.device, trust_remote_code: bool) -> Any:
    from transformers import AutoModelForCausalLM

    import transformers
    from packaging.version import Version

    # transformers 4.56 renamed torch_dtype to dtype (the old name still works, with a warning).
    dtype_kw = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, trust_remote_code=trust_remote_code, low_cpu_mem_usage=True, **{dtype_kw: dtype}
        )
    except Exception as exc:  # missing/corrupt weights, shape mismatches, unknown code ...
        raise ModelLoadError(f"cannot load model weights from {path}: {_first_line(exc)}") from exc
    try:
        model.to(device)
    except RuntimeError as exc:  # e.g. CUDA out of memory
        raise ModelLoadError(f"cannot move {path} to {device}: {_first_line(exc)}") from exc
    return model.eval()


def weight_stats(model: Any) -> tuple[int, int]:
    """(number of parameters, bytes of parameters + buffers as loaded); tied weights count once."""
    params = list(model.parameters())  # parameters() already de-duplicates tied tensors
    n_params = sum(p.numel() for p in params)
    n_bytes = sum(t.numel() * t.element_size() for t in [*params, *model.buffers()])
    return n_params, n_bytes


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
