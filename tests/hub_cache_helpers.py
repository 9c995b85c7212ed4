"""A local Hugging Face cache holding our own checkpoints, laid out as huggingface_hub lays it out.

huggingface_hub's file_download stores each file once under `blobs/<etag>` (the sha256 for LFS
files, the git blob sha1 otherwise), links `snapshots/<commit>/<filename>` to `../../blobs/<etag>`
and writes the commit a branch points at to `refs/<branch>`. Tests check the result with
huggingface_hub's own cache scanner, so a layout drift there fails here first.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def add_to_hub_cache(cache: Path, repo_id: str, src: Path, *, commit: str, ref: str | None = "main") -> Path:
    """Put the files of `src` into `cache` as snapshot `commit` of model `repo_id`; returns the snapshot dir."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    blobs, snap = repo_dir / "blobs", repo_dir / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        data = f.read_bytes()
        etag = hashlib.sha256(data).hexdigest() if f.suffix in (".safetensors", ".gguf", ".bin") else _git_sha1(data)
        blob = blobs / etag
        if not blob.exists():
            shutil.copyfile(f, blob)
        link = snap / f.relative_to(src)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    if ref is not None:
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / ref).write_text(commit)  # huggingface_hub writes the bare hash, no newline
    return snap


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
