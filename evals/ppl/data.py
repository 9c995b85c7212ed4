"""PPL corpora: a `.txt` file (one document), a `.jsonl` file (one document per line, field `text`),
or a directory of them (searched recursively, in sorted path order).

The corpus SHA-256 is reproducible with coreutils: for a file it is `sha256sum FILE`; for a directory
it is the SHA-256 of the `sha256sum`-style manifest `"<hex>  <relative/path>\\n"` of its corpus files
in sorted order (`cd DIR && find . ... | sort | xargs sha256sum` with the `./` prefixes dropped).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.textfiles import decode_text

SUFFIXES = (".txt", ".jsonl")
_MAX_KEY = 200  # item_results.item_id is VARCHAR(200)


@dataclass(frozen=True, slots=True)
class Document:
    """One scored text: a whole .txt file or one .jsonl record."""

    key: str  # unique item id: "name.txt" or "name.jsonl:LINE" (1-based line number)
    source: str  # the file, relative to the corpus root (the file name for a single file)
    text: str


@dataclass(frozen=True, slots=True)
class Corpus:
    documents: tuple[Document, ...]
    sha256: str  # see the module docstring
    files: tuple[Path, ...]
    skipped_empty: int  # empty / whitespace-only documents left out


def load_corpus(path: Path) -> Corpus:
    """Read a PPL corpus; raise UserError with one clear line for anything unusable.

    Empty documents (empty files, whitespace-only text, empty `text` fields) are skipped; a corpus
    left with no text at all is an error.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"PPL data {path} does not exist")
    if path.is_dir():
        files = sorted((p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES),
                       key=lambda p: p.relative_to(path).as_posix())  # fmt: skip
        if not files:
            raise UserError(f"PPL data dir {path} has no .txt or .jsonl files")
        names = [p.relative_to(path).as_posix() for p in files]
    else:
        if path.suffix.lower() not in SUFFIXES:
            raise UserError(
                f"PPL data {path}: unsupported file type {path.suffix or '(none)'!r}; use .txt, .jsonl or a directory"
            )
        files, names = [path], [path.name]

    docs: list[Document] = []
    digests: list[str] = []
    skipped = 0
    for file, name in zip(files, names, strict=True):
        raw = file.read_bytes()
        digests.append(hashlib.sha256(raw).hexdigest())
        text = _decode(raw, file)
        if file.suffix.lower() == ".txt":
            new = [Document(_key(name), name, text)] if text.strip() else []
        else:
            new = _jsonl_documents(text, file, name)
        skipped += (1 if file.suffix.lower() == ".txt" else _count_records(text)) - len(new)
        docs += new
    if not docs:
        what = "file" if len(files) == 1 else f"{len(files)} files"
        raise UserError(f"PPL data {path}: no text to score (empty {what})")
    if len(files) == 1 and not path.is_dir():
        sha = digests[0]
    else:
        manifest = "".join(f"{d}  {n}\n" for d, n in zip(digests, names, strict=True))
        sha = hashlib.sha256(manifest.encode()).hexdigest()
    return Corpus(tuple(docs), sha, tuple(files), skipped)


def _decode(raw: bytes, file: Path) -> str:
    return decode_text(raw, file)  # UTF-8 or GBK/GB18030; binary (NUL bytes) and other encodings refused


def _jsonl_documents(text: str, file: Path, name: str) -> list[Document]:
    docs = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{file}:{lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "text" not in record:
            raise UserError(f'{file}:{lineno}: expected an object with a "text" field')
        if not isinstance(record["text"], str):
            raise UserError(f'{file}:{lineno}: "text" must be a string, got {type(record["text"]).__name__}')
        if record["text"].strip():
            docs.append(Document(_key(f"{name}:{lineno}"), name, record["text"]))
    return docs


def _count_records(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def _key(key: str) -> str:
    if len(key) <= _MAX_KEY:
        return key
    return key[: _MAX_KEY - 17] + "~" + hashlib.sha256(key.encode()).hexdigest()[:16]
