"""`--model PATH|NAME|HUB_ID` -> `ModelSpec`: a path (checkpoint dir or GGUF), a hub id in the local
Hugging Face cache, or a row of the models registry (LoRA adapters included)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError
from core.model_spec import (
    ModelSpec,
    looks_like_path,
    not_found_message,
    resolve_local,
    spec_for_path,
    weights_fingerprint,
    with_adapter,
)

if TYPE_CHECKING:
    from db import Database


def resolve_model(
    spec: str, *, name: str | None = None, database: Database | None = None, backend: str = "hf"
) -> ModelSpec:
    """An existing path, a cached hub id, or a registered model name (its backend, base and adapter).

    A hub id is looked up in the cache before the registry, so a run on `org/name` always loads the
    revision the cache holds now, not the snapshot a former run recorded.
    """
    local = resolve_local(spec, name=name, backend=backend)
    if local is not None:
        return local
    if database is not None:
        from db import repo

        with database.session() as s:
            row = repo.get_model(s, spec)
            if row is not None:
                return registered_spec(row.name, row.path, row.backend, row.base_model, row.adapter_path)
    if looks_like_path(spec):  # a path that does not exist: the usual message
        return spec_for_path(Path(spec).expanduser(), name=name, backend=backend)
    raise UserError(not_found_message(spec))


def registered_spec(
    name: str, path: str, backend: str, base_model: str | None = None, adapter_path: str | None = None
) -> ModelSpec:
    """The ModelSpec of a registry row: its stored path (dir, GGUF file or hub id) resolved now."""
    if backend == "hf":
        found = resolve_local(path, name=name, backend=backend)
        if found is None:
            raise UserError(f"registered model {name!r}: " + not_found_message(path))
    else:  # vllm reads a dir too; openai rows name a served model
        fp = weights_fingerprint(Path(path)) if Path(path).is_dir() else ""
        found = ModelSpec(name=name, path=path, backend=backend, fingerprint=fp)
    return replace(
        found, base_model=base_model, adapter_path=adapter_path,
        fingerprint=with_adapter(found.fingerprint, adapter_path),
    )  # fmt: skip
