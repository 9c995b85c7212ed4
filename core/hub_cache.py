"""Hub ids (`Qwen/Qwen2.5-7B-Instruct[@revision]`) resolved offline from the local Hugging Face cache.

The cache is huggingface_hub's: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`,
holding `models--{org}--{name}/snapshots/{commit}/` with `refs/{branch}` naming a commit. Nothing
is ever downloaded: a model not in the cache is a one-line error naming the directory looked in.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

# org/name, optionally @revision (a branch, tag or commit); names as the Hub allows them.
_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w./-]+))?$")


@dataclass(frozen=True, slots=True)
class HubSnapshot:
    repo_id: str
    revision: str  # the commit the snapshot dir is named after
    requested: str  # what the user asked for ("main" when no @revision was given)
    path: Path
    cache_dir: Path


def parse_hub_id(spec: str) -> tuple[str, str | None] | None:
    """("org/name", revision or None) when `spec` has the shape of a hub id, else None."""
    if spec.startswith((".", "/", "~")):
        return None
    m = _HUB_ID.match(spec)
    return (m["repo"], m["rev"]) if m else None


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps models, read from the environment at call time."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def find_in_cache(repo_id: str, revision: str | None = None) -> HubSnapshot | None:
    """The cached snapshot of `repo_id` at `revision` (default: the `main` ref), or None; offline only."""
    from huggingface_hub import snapshot_download

    cache = hub_cache_dir()
    try:
        snap = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError (moved between huggingface_hub versions), bad ids, ...
        return None
    if not snap.is_dir():
        return None
    return HubSnapshot(repo_id=repo_id, revision=snap.name, requested=revision or "main", path=snap, cache_dir=cache)


def resolve_hub_id(spec: str) -> HubSnapshot:
    """`org/name[@revision]` -> its cached snapshot; UserError naming the cache dir when it is not there."""
    parsed = parse_hub_id(spec)
    if parsed is None:
        raise UserError(f"{spec!r} is not a hub id (expected org/name or org/name@revision)")
    found = find_in_cache(*parsed)
    if found is None:
        raise UserError(not_cached_message(spec))
    return found


def not_cached_message(spec: str) -> str:
    repo_id, rev = parse_hub_id(spec) or (spec, None)
    folder = "models--" + repo_id.replace("/", "--")
    at = f" at revision {rev}" if rev else ""
    return (
        f"{spec}: no such path, and not in the local Hugging Face cache{at} "
        f"(looked for {hub_cache_dir() / folder}; set HF_HUB_CACHE or HF_HOME, or download it first)"
    )
