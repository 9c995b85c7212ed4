"""Checks that run before any model loads, so a mistake costs a second rather than a model load.

Each raises `UserError` (one line, exit 2): an unknown `--backend`, a `--json` path that cannot be
written, a `--context`/`--max-length` larger than the model's positions (read from its config.json,
never from the weights). The database's own checks (reachable, writable, schema not newer than
ours) live in `evals.cli.options.open_database`.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

from core.errors import UserError

# config.json keys that hold a model's trained context length, by model family
_MAX_POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def check_backend(backend: str) -> None:
    from runners import backends

    if backend not in backends():
        raise UserError(f"unknown --backend {backend!r} (choose one of {', '.join(backends())})")


def check_dtype(dtype: str) -> None:
    from runners import DTYPE_NAMES

    if dtype not in DTYPE_NAMES:
        raise UserError(f"unknown --dtype {dtype!r} (choose one of {', '.join(DTYPE_NAMES)})")


def check_output_path(path: Path | None, option: str = "--json") -> None:
    """The file can be created or replaced: probed by creating (and removing) a scratch file beside it,
    in its folder or the nearest existing parent (permission bits alone mislead root and odd filesystems)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path} is a directory; give a file name")
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise UserError(f"cannot write {option} {path}: {existing} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".leitai-probe-"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, "permission denied")
    except OSError as exc:
        raise UserError(f"cannot write {option} {path}: {exc.strerror or exc}") from None


def model_max_positions(model_dir: str | Path | None) -> int | None:
    """The context length in a local checkpoint's config.json (None when unknown or not a local dir)."""
    if model_dir is None:
        return None
    config = Path(model_dir) / "config.json"
    try:
        doc = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for scope in (doc, doc.get("text_config") or {}):
        for key in _MAX_POSITION_KEYS:
            value = scope.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def check_context(value: int | None, model_dir: str | Path | None, option: str = "--context") -> None:
    """`value` tokens fit in the model's positions (skipped when either is unknown)."""
    limit = model_max_positions(model_dir)
    if value is not None and limit is not None and value > limit:
        raise UserError(
            f"{option} {value} is larger than the model's {limit} positions (config.json); use at most {limit}"
        )
