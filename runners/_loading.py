"""Load a local Hugging Face causal LM and its tokenizer, turning every failure into one-line ModelLoadErrors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from runners import _gguf
from runners.errors import ModelLoadError

SUPPORTED_QUANT = ("none", "int8", "int4")  # per device: runners._quant.supported_quant
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
    """Return the model config if `path` holds a causal LM (a checkpoint dir or a GGUF file), else raise ModelLoadError."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if not path.exists():
        raise ModelLoadError(f"model path {path} does not exist")
    src, gguf = _gguf.source(path)
    if not gguf and not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} has no config.json; is it a Hugging Face model directory?")
    try:
        config = AutoConfig.from_pretrained(src, trust_remote_code=trust_remote_code, **gguf)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        what = path if gguf else f"{path}/config.json"
        raise ModelLoadError(f"cannot read {what}: {_first_line(exc)}") from exc
    archs = list(getattr(config, "architectures", None) or [])
    remote = trust_remote_code and "AutoModelForCausalLM" in (getattr(config, "auto_map", None) or {})
    known = config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    # Both checks: BERT's config type has a causal head class, but a BertModel checkpoint is no LM.
    if not (remote or known) or (archs and not any(_CAUSAL_ARCH.search(a) for a in archs)):
        raise ModelLoadError(f"{path} is not a causal LM (config.json architectures={archs})")
    return config


def load_tokenizer(path: Path, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    src, gguf = _gguf.source(path)  # a GGUF file carries its own vocabulary and merges
    try:
        load: Any = AutoTokenizer.from_pretrained  # carries no annotations
        return load(src, trust_remote_code=trust_remote_code, **gguf)
    except Exception as exc:  # tokenizer loaders raise many types; the user needs one line
        raise ModelLoadError(f"cannot load the tokenizer of {path}: {_first_line(exc)}") from exc


def load_model(
    path: Path, dtype: torch.dtype, device: torch.device, trust_remote_code: bool, quant: str = "none"
) -> Any:
    """Load the weights in `dtype` onto `device`; int8/int4 as `runners._quant` (bitsandbytes on CUDA,
    optimum-quanto on CPU; the caller has checked the mode with `_quant.check_quant`)."""
    import transformers
    from packaging.version import Version
    from transformers import AutoModelForCausalLM

    # transformers 4.56 renamed torch_dtype to dtype (the old name still works, with a warning).
    dtype_kw = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    from runners import _quant

    # transformers 5 draws a "Loading weights" bar on stderr; our commands show their own progress, and a
    # user error must stay one line on stderr
    transformers.utils.logging.disable_progress_bar()
    src, extra = _gguf.source(path)  # GGUF: dequantized to `dtype` while loading
    if quant != "none" and device.type == "cuda":  # bitsandbytes places the weights itself
        index = device.index if device.index is not None else torch.cuda.current_device()
        extra |= {"quantization_config": _quant.bnb_config(quant, dtype), "device_map": {"": index}}
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(
            src, trust_remote_code=trust_remote_code, low_cpu_mem_usage=True, **{dtype_kw: dtype}, **extra
        )
    except Exception as exc:  # missing/corrupt weights, shape mismatches, unknown code ...
        raise ModelLoadError(f"cannot load model weights from {path}: {_first_line(exc)}") from exc
    if "device_map" not in extra:
        try:
            model.to(device)
        except RuntimeError as exc:  # e.g. CUDA out of memory
            raise ModelLoadError(f"cannot move {path} to {device}: {_first_line(exc)}") from exc
    if quant != "none" and device.type != "cuda":
        try:
            _quant.quantize_cpu(model, quant)
        except Exception as exc:  # unsupported layer shapes, quanto kernel problems ...
            raise ModelLoadError(f"cannot quantize {path} to {quant} on {device}: {_first_line(exc)}") from exc
    return model.eval()


def apply_adapter(model: Any, tokenizer: Any, adapter_path: Path, trust_remote_code: bool) -> tuple[Any, Any]:
    """Base model + a peft LoRA adapter dir -> (merged model, tokenizer).

    The adapter dir's own tokenizer wins when it has one (its vocabulary may have grown; the base
    embeddings are resized before the adapter's saved embed_tokens/lm_head are loaded). The
    adapter is merged into the weights, so inference runs at base-model speed.
    """
    adapter_path = Path(adapter_path)
    if not (adapter_path / "adapter_config.json").is_file():
        raise ModelLoadError(f"adapter {adapter_path} has no adapter_config.json")
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ModelLoadError("loading a LoRA adapter needs the peft package (pip install peft)") from exc
    if any((adapter_path / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        tokenizer = load_tokenizer(adapter_path, trust_remote_code)
    device = next(model.parameters()).device
    if len(tokenizer) != model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    try:
        merged = PeftModel.from_pretrained(model, str(adapter_path)).merge_and_unload()
    except Exception as exc:  # wrong base, shape mismatch, corrupt adapter
        raise ModelLoadError(f"cannot apply adapter {adapter_path}: {_first_line(exc)}") from exc
    return merged.to(device).eval(), tokenizer


def weight_stats(model: Any) -> tuple[int, int]:
    """(number of parameters, bytes of parameters + persistent buffers as loaded); tied weights count once.

    Non-persistent buffers (RoPE's inv_freq; transformers 5 adds an `original_inv_freq` copy) are computed
    at load time, not weights, so the size is the same under transformers 4.x and 5.x."""
    from runners._quant import tensor_bytes

    params = list(model.parameters())  # parameters() already de-duplicates tied tensors
    # bitsandbytes 4-bit packs two weights per byte; its quant_state keeps the logical shape.
    n_params = sum(
        int(torch.Size(p.quant_state.shape).numel()) if getattr(p, "quant_state", None) is not None else p.numel()
        for p in params
    )
    # Quantized weights count their real storage (int data + scales), see runners._quant.tensor_bytes.
    n_bytes = sum(tensor_bytes(t) for t in [*params, *persistent_buffers(model)])
    return n_params, n_bytes


def persistent_buffers(model: Any) -> list[torch.Tensor]:
    """The buffers a checkpoint stores (each tensor once), i.e. not those registered persistent=False."""
    seen: set[int] = set()
    out: list[torch.Tensor] = []
    for module in model.modules():
        skip: set[str] = getattr(module, "_non_persistent_buffers_set", set())
        for name, buf in module.named_buffers(recurse=False):
            if buf is not None and name not in skip and id(buf) not in seen:
                seen.add(id(buf))
                out.append(buf)
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
