"""Training data formats (PROTOCOLS.md §6): reading, validation and tokenisation.

Formats:
  * `llama2-csv` — FlagAlpha Llama2-Chinese CSV, one column `text`, each row
    `<s>Human: 问题\\n</s><s>Assistant: 答案\\n</s>` (several pairs = multi-turn).
  * `alpaca` — CLA2 instruction data: JSON array or JSON lines with `instruction`, `input`
    (optional), `output`.
  * `text` — pre-training corpora: `.txt` (paragraphs separated by blank lines; a file without
    blank lines is read one line per sample, as CLA2 does) or `.jsonl` with a `text` field.

Every problem raises `DataError` naming the file, the line (or JSON item) and the field.
Tokenisation never imports anything heavy at module level.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# CLA2 build_dataset.py / prompts/alpaca-2.txt
SYSTEM_PROMPT = "You are a helpful assistant. 你是一个乐于助人的助手。"
CLA2_TEMPLATE = "[INST] <<SYS>>\n" + SYSTEM_PROMPT + "\n<</SYS>>\n\n{instruction} [/INST]"
IGNORE_INDEX = -100

SFT_FORMATS = ("llama2-csv", "alpaca")
_TURN = re.compile(r"<s>\s*(Human|Assistant)\s*[:：]\s?(.*?)</s>", re.S)


class DataError(UserError):
    """Malformed training data; the message says file, line and field."""

    def __init__(self, path: Path | str, line: int | str | None, field_name: str | None, problem: str) -> None:
        where = str(path)
        if line is not None:
            where += f":{line}" if isinstance(line, int) else f" ({line})"
        if field_name:
            where += f" field {field_name!r}"
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.field, self.problem = str(path), line, field_name, problem


@dataclass(frozen=True, slots=True)
class Conversation:
    """One SFT example: alternating ("user", text) / ("assistant", text) turns, starting with user."""

    turns: tuple[tuple[str, str], ...]
    source: str  # "file:line" for messages
    fmt: str


@dataclass(slots=True)
class Encoded:
    """Tokenised examples plus what happened on the way (reported and stored in the lineage)."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    n_examples: int = 0
    truncated: int = 0  # examples cut at max_length
    dropped: int = 0  # examples with no trainable token left after truncation
    n_tokens: int = 0
    n_label_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # Any: JSON, merged into the lineage's data

    def stats(self) -> dict[str, Any]:
        return {
            "n_examples": self.n_examples, "n_sequences": len(self.input_ids), "truncated": self.truncated,
            "dropped": self.dropped, "n_tokens": self.n_tokens, "n_label_tokens": self.n_label_tokens, **self.extra,
        }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Files


def data_files(path: Path, suffixes: Sequence[str]) -> list[Path]:
    """`path` itself, or the files with one of `suffixes` directly inside a directory (sorted)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"data path {path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in suffixes)
        if not files:
            raise UserError(f"{path} contains no {'/'.join(suffixes)} files")
        return files
    return [path]


def fingerprint(files: Iterable[Path]) -> str:
    """sha256 over names and bytes of the data files (the lineage's data fingerprint)."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).name.encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(path, line, None, "not valid UTF-8") from None


def detect_sft_format(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "llama2-csv"
    if suffix in (".json", ".jsonl"):
        return "alpaca"
    raise UserError(f"{path}: unknown SFT data format (expected .csv Llama2-Chinese or .json/.jsonl Alpaca)")


# ---------------------------------------------------------------------------------------------
# Pre-training text


def load_corpus(path: Path) -> tuple[list[str], list[Path]]:
    """Pre-training samples from a `.txt`/`.jsonl` file or a directory of them.

    Returns:
        (samples, files). Blank-line separated paragraphs for `.txt` (one line per sample when the
        file has no blank lines); the `text` field of every line for `.jsonl`.

    Raises:
        DataError/UserError: missing path, bad JSON line, missing/non-string `text`, empty corpus.
    """
    files = data_files(path, (".txt", ".jsonl", ".json"))
    samples: list[str] = []
    for f in files:
        text = _read_text(f)
        if f.suffix in (".jsonl", ".json"):
            for lineno, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f, lineno, None, f"invalid JSON ({exc.msg})") from None
                if not isinstance(obj, dict) or "text" not in obj:
                    raise DataError(f, lineno, "text", "missing (pre-training JSONL needs a `text` field per line)")
                if not isinstance(obj["text"], str):
                    raise DataError(f, lineno, "text", f"must be a string, got {type(obj['text']).__name__}")
                if obj["text"].strip():
                    samples.append(obj["text"].strip())
        else:
            parts = re.split(r"\n\s*\n", text) if re.search(r"\n\s*\n", text) else text.splitlines()
            samples += [p.strip() for p in parts if p.strip()]
    if not samples:
        raise UserError(f"corpus {path} is empty (no non-blank text)")
    return samples, files


def pack_corpus(tok: PreTrainedTokenizerBase, samples: Sequence[str], block_size: int) -> Encoded:
    """Tokenise each sample as `<s> text </s>`, concatenate, cut into `block_size` blocks.

    The remainder shorter than a block is dropped (CLA2 group_texts); a corpus shorter than one
    block becomes a single shorter block so tiny inputs still train.
    """
    stream: list[int] = []
    eos = tok.eos_token_id
    for s in samples:
        ids = tok(s, add_special_tokens=True).input_ids
        stream.extend(ids)
        if eos is not None:
            stream.append(eos)
    if len(stream) < 2:
        raise UserError("corpus has fewer than two tokens; nothing to train on")
    if len(stream) < block_size:
        blocks = [stream]
    else:
        n = len(stream) // block_size
        blocks = [stream[i * block_size : (i + 1) * block_size] for i in range(n)]
    used = sum(len(b) for b in blocks)
    return Encoded(
        input_ids=blocks,
        labels=[list(b) for b in blocks],
        n_examples=len(samples),
        n_tokens=used,
        n_label_tokens=used,
        extra={"stream_tokens": len(stream), "dropped_tail_tokens": len(stream) - used},
    )


# ---------------------------------------------------------------------------------------------
# SFT data


def load_sft(path: Path, fmt: str | None = None) -> tuple[list[Conversation], list[Path], str]:
    """Read SFT examples.

    Args:
        path: a `.csv` (Llama2-Chinese), `.json`/`.jsonl` (Alpaca) file, or a directory of them.
        fmt: force `llama2-csv` or `alpaca` (default: from the file suffix).

    Returns:
        (conversations, files, format).
    """
    files = data_files(Path(path), (".csv", ".json", ".jsonl"))
    formats = {fmt or detect_sft_format(f) for f in files}
    if len(formats) > 1:
        raise UserError(f"{path}: mixes SFT formats {sorted(formats)}; use one format per run")
    kind = formats.pop()
    if kind not in SFT_FORMATS:
        raise UserError(f"unknown SFT format {kind!r} ({' | '.join(SFT_FORMATS)})")
    convs: list[Conversation] = []
    for f in files:
        convs += _read_llama2_csv(f) if kind == "llama2-csv" else _read_alpaca(f)
    if not convs:
        raise UserError(f"SFT data {path} is empty (no examples)")
    return convs, files, kind


def parse_llama2_text(text: str, path: Path | str = "<text>", line: int | None = None) -> tuple[tuple[str, str], ...]:
    """Split one Llama2-Chinese `text` cell into alternating (user, assistant) turns."""
    turns: list[tuple[str, str]] = []
    pos = 0
    for m in _TURN.finditer(text):
        if text[pos : m.start()].strip():
            raise DataError(
                path, line, "text", f"unexpected text outside <s>…</s> turns: {text[pos : m.start()].strip()[:30]!r}"
            )
        role = "user" if m.group(1) == "Human" else "assistant"
        expected = "user" if len(turns) % 2 == 0 else "assistant"
        if role != expected:
            want = "Human" if expected == "user" else "Assistant"
            raise DataError(
                path,
                line,
                "text",
                f"turn {len(turns) + 1} should be `<s>{want}: …</s>` (turns must alternate, Human first)",
            )
        content = m.group(2).rstrip("\n")
        if not content.strip():
            raise DataError(path, line, "text", f"turn {len(turns) + 1} ({m.group(1)}) is empty")
        turns.append((role, content))
        pos = m.end()
    if text[pos:].strip():
        raise DataError(
            path, line, "text", f"unexpected text after the last turn: {text[pos:].strip()[:30]!r} (missing </s>?)"
        )
    if not turns:
        raise DataError(path, line, "text", "no `<s>Human: …</s><s>Assistant: …</s>` turns found")
    if turns[-1][0] != "assistant":
        raise DataError(path, line, "text", "the last turn is Human; every question needs an Assistant answer")
    return tuple(turns)


def _read_llama2_csv(path: Path) -> list[Conversation]:
    text = _read_text(path)
    reader = csv.DictReader(text.splitlines(keepends=True))
    if reader.fieldnames is None:
        raise DataError(path, 1, None, "empty file (expected a header with a `text` column)")
    if "text" not in reader.fieldnames:
        raise DataError(path, 1, "text", f"missing column (header has {reader.fieldnames})")
    out: list[Conversation] = []
    for row in reader:
        line = reader.line_num  # physical line where this record ends; close enough for multi-line cells
        value = row.get("text")
        if value is None or not value.strip():
            raise DataError(path, line, "text", "empty value")
        out.append(Conversation(parse_llama2_text(value, path, line), f"{path}:{line}", "llama2-csv"))
    return out


def _read_alpaca(path: Path) -> list[Conversation]:
    text = _read_text(path)
    stripped = text.lstrip()
    records: list[tuple[int | str, Any]] = []
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, exc.lineno, None, f"invalid JSON ({exc.msg})") from None
        records = [(f"item {i}", r) for i, r in enumerate(data)]
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(path, lineno, None, f"invalid JSON ({exc.msg})") from None
    out: list[Conversation] = []
    for where, rec in records:
        if not isinstance(rec, dict):
            raise DataError(
                path, where, None, f"expected an object with instruction/input/output, got {type(rec).__name__}"
            )
        for key in ("instruction", "output"):
            if key not in rec:
                raise DataError(path, where, key, "missing")
            if not isinstance(rec[key], str):
                raise DataError(path, where, key, f"must be a string, got {type(rec[key]).__name__}")
            if not rec[key].strip():
                raise DataError(path, where, key, "empty")
        extra = rec.get("input", "")
        if extra is None:
            extra = ""
        if not isinstance(extra, str):
            raise DataError(path, where, "input", f"must be a string, got {type(extra).__name__}")
        # CLA2 build_dataset.py: instruction + "\n" + input when input is non-empty.
        instruction = rec["instruction"] + ("\n" + extra if extra.strip() else "")
        out.append(Conversation((("user", instruction), ("assistant", rec["output"])), f"{path}:{where}", "alpaca"))
    return out


def _segments(conv: Conversation, tok: PreTrainedTokenizerBase) -> list[tuple[list[int], bool]]:
    """(token ids, trainable) segments. Special tokens are inserted as ids (never as text), so a
    literal `<s>` in the data cannot produce a second BOS."""
    bos, eos = tok.bos_token_id, tok.eos_token_id

    def enc(s: str) -> list[int]:
        ids: list[int] = tok(s, add_special_tokens=False).input_ids
        return ids

    segs: list[tuple[list[int], bool]] = []
    if conv.fmt == "alpaca":
        # CLA2: source = template with BOS, target = output + </s>; labels only on the target.
        (_, user), (_, answer) = conv.turns[0], conv.turns[1]
        src = ([bos] if bos is not None else []) + enc(CLA2_TEMPLATE.format(instruction=user))
        segs.append((src, False))
        segs.append((enc(answer) + ([eos] if eos is not None else []), True))
        return segs
    # Llama2-Chinese: <s>Human: q\n</s><s>Assistant: a\n</s> ...; Human turns and the
    # "<s>Assistant: " header (the inference prompt) are masked, answers + "\n</s>" trained.
    b = [bos] if bos is not None else []
    e = [eos] if eos is not None else []
    for role, content in conv.turns:
        if role == "user":
            segs.append((b + enc("Human: " + content + "\n") + e, False))
        else:
            segs.append((b + enc("Assistant: "), False))
            segs.append((enc(content + "\n") + e, True))
    return segs


def encode_sft(tok: PreTrainedTokenizerBase, convs: Sequence[Conversation], max_length: int) -> Encoded:
    """Tokenise conversations: labels are -100 on prompts, truncation at `max_length` is counted,
    and examples left without any trainable token are dropped (and counted)."""
    out = Encoded(input_ids=[], labels=[], n_examples=len(convs))
    for conv in convs:
        ids: list[int] = []
        labels: list[int] = []
        for seg, trainable in _segments(conv, tok):
            ids += seg
            labels += seg if trainable else [IGNORE_INDEX] * len(seg)
        if len(ids) > max_length:
            out.truncated += 1
            ids, labels = ids[:max_length], labels[:max_length]
        n_lab = sum(1 for x in labels if x != IGNORE_INDEX)
        if n_lab == 0:
            out.dropped += 1
            continue
        out.input_ids.append(ids)
        out.labels.append(labels)
        out.n_tokens += len(ids)
        out.n_label_tokens += n_lab
    if not out.input_ids:
        raise UserError(
            f"all {len(convs)} examples lost every answer token at --max-length {max_length}; raise --max-length"
        )
    return out
