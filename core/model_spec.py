"""Resolving `--model PATH|NAME` into a model directory and a stable model identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

TINY_NAME = "tiny-zh-llama"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    path: str
    backend: str = "hf"
    base_model: str | None = None
    adapter_path: str | None = None
    fingerprint: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def weights_fingerprint(path: Path) -> str:
    """Cheap identity of a checkpoint: config plus size and head bytes of each weight file.

    Hashing whole multi-GB checkpoints would take minutes; a retrained model changes sizes or
    the first megabyte (safetensors header + first tensors), which is what we need to notice.
    """
    h = hashlib.sha256()
    for p in sorted(path.iterdir()):
        if p.is_file() and (p.suffix in (".safetensors", ".bin", ".json", ".model") or p.name.endswith(".gguf")):
            h.update(p.name.encode())
            h.update(str(p.stat().st_size).encode())
            with p.open("rb") as f:
                h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def with_adapter(fp: str, adapter_path: str | None) -> str:
    """A LoRA model's identity covers its adapter too (retraining it must not reuse old results)."""
    if not adapter_path or not Path(adapter_path).is_dir():
        return fp
    return hashlib.sha256(f"{fp}+{weights_fingerprint(Path(adapter_path))}".encode()).hexdigest()[:16]


def check_model_dir(path: Path) -> None:
    if not path.exists():
        raise UserError(f"model path {path} does not exist")
    if not path.is_dir():
        raise UserError(f"model path {path} is not a directory (expected a Hugging Face checkpoint dir)")
    config = path / "config.json"
    if not config.is_file():
        raise UserError(f"{path} has no config.json: not a Hugging Face model directory")
    try:
        arch = json.loads(config.read_text()).get("architectures") or []
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{config}: invalid JSON ({exc})") from None
    if arch and not any(a.endswith("ForCausalLM") for a in arch):
        raise UserError(f"{path} is not a causal LM (config.json architectures={arch})")


def spec_for_path(path: Path, *, name: str | None = None, backend: str = "hf") -> ModelSpec:
    """A model given as a path (a checkpoint dir for hf; for other backends whatever they load)."""
    if backend == "hf":
        check_model_dir(path)
    path = path.resolve()
    return ModelSpec(
        name=name or path.name, path=str(path), backend=backend,
        fingerprint=weights_fingerprint(path) if path.is_dir() else "",
    )  # fmt: skip


def looks_like_path(spec: str) -> bool:
    """`--model` text that names a path rather than a registered model."""
    return Path(spec).expanduser().exists() or "/" in spec or spec.startswith(".")


def remote_model(served: str | None, *, base_url: str | None, name: str | None = None) -> ModelSpec:
    """A model behind an OpenAI-compatible server (`--backend openai`): identified by the served
    model name and the server URL, since there are no weights to fingerprint."""
    if not served:
        raise UserError("--backend openai needs --served-model-name (or --model) naming the model on the server")
    if not base_url:
        raise UserError("--backend openai needs --base-url (or EVALS_BASE_URL), e.g. http://127.0.0.1:8000/v1")
    base = base_url.rstrip("/")
    digest = hashlib.sha256(f"{base}\n{served}".encode()).hexdigest()[:16]
    return ModelSpec(name=name or served, path=served, backend="openai", fingerprint=digest, params={"base_url": base})
