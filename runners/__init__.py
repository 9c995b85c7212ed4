"""Runners turn requests into model outputs. Backends are loaded lazily by name."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from runners.base import ChoiceScoring, GenParams, ModelInfo, Runner
from runners.windows import rolling_windows

if TYPE_CHECKING:
    import torch

    from core.model_spec import ModelSpec

# name -> "module:factory"; imported only when asked for, so the CLI starts without torch.
_BACKENDS: dict[str, str] = {
    "hf": "runners.hf:HFRunner",
    "openai": "runners.openai_backend:OpenAIRunner",
    "vllm": "runners.vllm_backend:VLLMRunner",
}

# --dtype names every local backend takes (hf: runners._loading, vllm: runners.vllm_backend); here without
# torch, so the CLI can refuse a typo before it builds or loads anything.
DTYPE_NAMES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16", "half")


def backends() -> list[str]:
    return sorted(_BACKENDS)


def load_runner(backend: str, model_path: str, **kwargs: Any) -> Runner:
    """Load `model_path` with the named backend (e.g. "hf")."""
    if backend not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(backends())}")
    module, _, attr = _BACKENDS[backend].partition(":")
    factory = getattr(import_module(module), attr)
    runner: Runner = factory(model_path, **kwargs)
    return runner


def open_runner(spec: ModelSpec, *, dtype: str = "auto", quant: str = "none", **kwargs: Any) -> Runner:
    """The one way from a resolved model to a loaded runner: backend, LoRA adapter, server URL and all.

    Every caller (run engine, quant suite, arena answers, judge, data-parallel workers, training
    candidates) goes through here, so what identifies a model (`ModelSpec`) is always what is loaded.
    """
    if spec.adapter_path:  # LoRA: base weights + adapter
        kwargs.setdefault("adapter_path", spec.adapter_path)
    if spec.backend == "openai" and spec.params.get("base_url"):
        kwargs.setdefault("base_url", spec.params["base_url"])
    return load_runner(spec.backend, spec.path, name=spec.name, dtype=dtype, quant=quant, **kwargs)


def resolve_device(device: str = "auto") -> torch.device:
    """ "auto" -> "cuda" when a GPU is visible, else "cpu" (what the hf backend will load onto)."""
    from runners._loading import resolve_device as _resolve

    return _resolve(device)


def supported_quant(device: torch.device) -> tuple[str, ...]:
    """The weight quantizations (int8, int4) available on `device` with the installed packages."""
    from runners._quant import supported_quant as _supported

    return tuple(_supported(device))


def describe_quant(quant: str, device: torch.device) -> str:
    """The method behind `--quant` on `device`, e.g. "optimum-quanto qint8 weight-only"."""
    from runners._quant import describe

    return describe(quant, device)


__all__ = [
    "ChoiceScoring", "GenParams", "ModelInfo", "Runner", "backends", "describe_quant", "load_runner", "open_runner",
    "resolve_device", "rolling_windows", "supported_quant",
]  # fmt: skip
