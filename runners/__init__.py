"""Runners turn requests into model outputs. Backends are loaded lazily by name."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from runners.base import ChoiceScoring, GenParams, ModelInfo, Runner
from runners.windows import rolling_windows

# name -> "module:factory"; imported only when asked for, so the CLI starts without torch.
_BACKENDS: dict[str, str] = {
    "hf": "runners.hf:HFRunner",
    "openai": "runners.openai_backend:OpenAIRunner",
    "vllm": "runners.vllm_backend:VLLMRunner",
}


def backends() -> list[str]:
    return sorted(_BACKENDS)


def load_runner(backend: str, model_path: str, **kwargs: Any) -> Runner:
    """Load `model_path` with the named backend (e.g. "hf")."""
    if backend not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(backends())}")
    module, _, attr = _BACKENDS[backend].partition(":")
    factory = getattr(import_module(module), attr)
    return factory(model_path, **kwargs)


__all__ = [
    "ChoiceScoring", "GenParams", "ModelInfo", "Runner", "backends", "load_runner", "rolling_windows",
]  # fmt: skip
