"""`--model PATH|NAME` -> `ModelSpec`: a path, or a row of the models registry (LoRA adapters included)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError
from core.model_spec import (
    ModelSpec,
    check_model_dir,
    looks_like_path,
    spec_for_path,
    weights_fingerprint,
    with_adapter,
)

if TYPE_CHECKING:
    from db import Database


def resolve_model(
    spec: str, *, name: str | None = None, database: Database | None = None, backend: str = "hf"
) -> ModelSpec:
    """A directory (checked for hf), or a registered model name (its backend, base and adapter)."""
    if looks_like_path(spec):
        return spec_for_path(Path(spec).expanduser(), name=name, backend=backend)
    if database is not None:
        from db import repo

        with database.session() as s:
            row = repo.get_model(s, spec)
            if row is not None:
                mpath = Path(row.path)
                if row.backend == "hf":
                    check_model_dir(mpath)
                return ModelSpec(
                    name=row.name, path=row.path, backend=row.backend, base_model=row.base_model,
                    adapter_path=row.adapter_path,
                    fingerprint=with_adapter(weights_fingerprint(mpath) if mpath.is_dir() else "", row.adapter_path),
                )  # fmt: skip
    raise UserError(f"model {spec!r} is neither a directory nor a registered model (see `evals models list`)")
