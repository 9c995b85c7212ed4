"""Resolving `--model PATH|NAME|HUB_ID` into what to load and a stable model identity.

A local model is a Hugging Face checkpoint dir, a GGUF file (or a dir holding exactly one and no
config.json), or a hub id found in the local Hugging Face cache (core.hub_cache). `ModelSpec.params`
says which: {"format": "gguf", "gguf": {...quant type, file size...}} and/or {"hub": {...revision...}}.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.gguf_header import is_gguf_name, read_gguf_header
from core.hub_cache import find_in_cache, not_cached_message, parse_hub_id

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
        raise UserError(
            f"model path {path} is not a directory (expected a Hugging Face checkpoint dir or a .gguf file)"
        )
    config = path / "config.json"
    if not config.is_file():
        raise UserError(
            f"{path} has no config.json: not a Hugging Face model directory (nor a dir with one .gguf file)"
        )
    try:
        arch = json.loads(config.read_text()).get("architectures") or []
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{config}: invalid JSON ({exc})") from None
    if arch and not any(a.endswith("ForCausalLM") for a in arch):
        raise UserError(f"{path} is not a causal LM (config.json architectures={arch})")


def find_gguf(path: Path) -> Path | None:
    """The GGUF file `path` names: the file itself, or the one .gguf in a dir without config.json."""
    if path.is_file() and is_gguf_name(path):
        return path
    if path.is_dir() and not (path / "config.json").is_file():
        files = sorted(p for p in path.iterdir() if p.is_file() and is_gguf_name(p))
        if len(files) > 1:
            names = ", ".join(p.name for p in files)
            raise UserError(f"{path} holds {len(files)} GGUF files ({names}); pass the one to load")
        return files[0] if files else None
    return None


def file_fingerprint(path: Path) -> str:
    """Identity of one weights file (a GGUF): name, size, first and last megabyte."""
    h = hashlib.sha256(path.name.encode())
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def checkpoint_format(path: Path) -> str:
    """ "safetensors" / "pytorch" for a checkpoint dir by its weight files (what `models show` prints)."""
    names = [p.name for p in path.iterdir()] if path.is_dir() else []
    if any(n.endswith(".safetensors") for n in names):
        return "safetensors"
    if any(n.endswith(".bin") for n in names):
        return "pytorch"
    return "unknown"


def weights_bytes(path: Path) -> int:
    """Bytes on disk of the weights: the GGUF file, or a dir's weight files."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file() and p.suffix in (".safetensors", ".bin"))


def spec_for_path(
    path: Path, *, name: str | None = None, backend: str = "hf", hub: dict[str, Any] | None = None
) -> ModelSpec:
    """A model given as a path (a checkpoint dir or GGUF file for hf; for other backends whatever they load)."""
    params: dict[str, Any] = {"hub": hub} if hub else {}
    gguf = find_gguf(path) if backend == "hf" else None
    if gguf is not None:
        header = read_gguf_header(gguf)
        gguf = gguf.resolve()
        stem = gguf.stem if path.is_file() or hub else path.resolve().name
        return ModelSpec(
            name=name or stem, path=str(gguf), backend=backend, fingerprint=file_fingerprint(gguf),
            params={**params, "format": "gguf", "gguf": header.as_params()},
        )  # fmt: skip
    if backend == "hf":
        check_model_dir(path)
    path = path.resolve()
    if backend == "hf":
        params["format"] = checkpoint_format(path)
    return ModelSpec(
        name=name or path.name, path=str(path), backend=backend,
        fingerprint=weights_fingerprint(path) if path.is_dir() else "", params=params,
    )  # fmt: skip


def looks_like_path(spec: str) -> bool:
    """`--model` text that names a path rather than a registered model or a hub id."""
    if Path(spec).expanduser().exists():
        return True
    return parse_hub_id(spec) is None and ("/" in spec or spec.startswith(".") or spec.lower().endswith(".gguf"))


def spec_for_hub_id(spec: str, *, name: str | None = None, backend: str = "hf") -> ModelSpec | None:
    """`org/name[@rev]` from the local Hugging Face cache (offline), or None when it is not there."""
    parsed = parse_hub_id(spec)
    if parsed is None:
        return None
    snap = find_in_cache(*parsed)
    if snap is None:
        return None
    # "spec" is what a registry row keeps, so each use resolves the revision the cache holds then
    hub = {"spec": spec, "repo_id": snap.repo_id, "revision": snap.revision, "requested": snap.requested,
           "cache_dir": str(snap.cache_dir)}  # fmt: skip
    return spec_for_path(snap.path, name=name or spec, backend=backend, hub=hub)


def resolve_local(spec: str, *, name: str | None = None, backend: str = "hf") -> ModelSpec | None:
    """An existing path or a cached hub id, else None (the caller then tries registered names)."""
    if Path(spec).expanduser().exists():
        return spec_for_path(Path(spec).expanduser(), name=name, backend=backend)
    return spec_for_hub_id(spec, name=name, backend=backend)


def not_found_message(spec: str) -> str:
    """One line for a `--model` that is no path, no cached hub id and no registered name."""
    if parse_hub_id(spec) is not None:
        return not_cached_message(spec) + " (nor a registered model: see `evals models list`)"
    if looks_like_path(spec):
        return f"model path {spec} does not exist"
    return (
        f"model {spec!r} is neither a directory nor a registered model "
        "(nor a .gguf file or a hub id in the local Hugging Face cache; see `evals models list`)"
    )


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
