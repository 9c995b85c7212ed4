"""Registering training outputs as models, with their lineage (DESIGN.md: training/ -> db models).

`models.lineage` holds (all JSON):
  stage ("pretrain" | "sft" | "merge" | "tokenizer"), method ("full" | "lora" | ...), base (name),
  base_path, parents ([names]), data ({path, format, sha256, n_examples, n_tokens, truncated, ...}),
  hparams, steps, final_loss, loss_curve ([[step, loss], ...] — what the dashboard plots),
  tokens, seconds, tokens_per_s, engine, seed, created_at, versions.
`models.base_model` is the parent's name (the dashboard's lineage tree follows it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    from db import Database

META_FILE = "leitai_train.json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for pkg in ("torch", "transformers", "peft", "accelerate", "deepspeed"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


# Any in lineage and meta dicts: free-form JSON (the keys above), written to disk and to `models.lineage`.
def write_meta(out_dir: Path, meta: dict[str, Any]) -> None:
    (Path(out_dir) / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_meta(path: Path) -> dict[str, Any] | None:
    f = Path(path) / META_FILE
    if not f.is_file():
        return None
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) else None


def register(
    database: Database,
    *,
    name: str,
    path: Path | str,
    lineage: dict[str, Any],
    base_model: str | None,
    adapter_path: Path | str | None = None,
    params: dict[str, Any] | None = None,
) -> None:
    """Create or update model `name` (backend hf) with its lineage.

    For a LoRA adapter `path` is the base checkpoint and `adapter_path` the adapter dir, so the
    runner loads base + adapter (runners/_loading.load_adapter).
    """
    from db import repo

    with database.session() as s:
        repo.upsert_model(
            s, name, str(path), backend="hf", base_model=base_model,
            adapter_path=str(adapter_path) if adapter_path else None, params=params or {}, lineage=lineage,
        )  # fmt: skip


class LineageLink(TypedDict):
    """One model in a `lineage_chain`; an unregistered name has only `name` and `registered`."""

    name: str
    registered: bool
    stage: NotRequired[str | None]
    method: NotRequired[str | None]
    base_model: NotRequired[str | None]
    final_loss: NotRequired[float | None]


def lineage_chain(database: Database, name: str, max_depth: int = 32) -> list[LineageLink]:
    """[model, parent, grandparent, ...] following base_model."""
    from db import repo

    chain: list[LineageLink] = []
    seen: set[str] = set()
    with database.session() as s:
        current: str | None = name
        while current and current not in seen and len(chain) < max_depth:
            seen.add(current)
            row = repo.get_model(s, current)
            if row is None:
                chain.append(LineageLink(name=current, registered=False))
                break
            lin = row.lineage or {}
            chain.append(LineageLink(name=row.name, stage=lin.get("stage"), method=lin.get("method"), base_model=row.base_model,
                                     final_loss=lin.get("final_loss"), registered=True))  # fmt: skip
            current = row.base_model
    return chain
