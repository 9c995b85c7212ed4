"""Official LongBench file layouts: data `{dataset}.jsonl` and predictions `pred/{dataset}.jsonl`.

Data lines (PROTOCOLS.md §3.7) carry `input, context, answers, length, all_classes, language,
_id, dataset`; prediction lines (§3.5) carry `pred, answers, all_classes, length`. Every
problem in a file becomes one `UserError` line naming file, line and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.textfiles import read_text
from evals.longbench.tasks import TASKS, TaskSpec, get_task


@dataclass(frozen=True, slots=True)
class LongBenchItem:
    """One line of an official data file."""

    id: str
    task: str
    input: str
    context: str
    answers: tuple[str, ...]
    length: int
    all_classes: tuple[str, ...] | None
    language: str


@dataclass(frozen=True, slots=True)
class PredRecord:
    """One line of an official prediction file; `id` is `_id` when present, else `{task}-{row}`."""

    id: str
    task: str
    pred: str
    answers: tuple[str, ...]
    length: int
    all_classes: tuple[str, ...] | None
    where: str = ""  # "file:line", for error messages


def item_length(input: str, context: str, answers: Sequence[str], language: str) -> int:
    """The `length` field as LongBench defines it: characters for zh, `split()` words otherwise."""
    parts = [input, context, *answers]
    if language == "zh":
        return sum(len(p) for p in parts)
    return sum(len(p.split()) for p in parts)


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) for each non-blank line; malformed lines -> UserError."""
    try:
        text = read_text(path)  # UTF-8, or GBK/GB18030 with a note
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # a trailing blank line is common and harmless
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


class _Line:
    """Typed field access for one JSON object; errors name file, line and field."""

    def __init__(self, path: Path, lineno: int, obj: dict[str, Any]) -> None:
        self.where, self.obj = f"{path}:{lineno}", obj

    def _fail(self, field: str, what: str) -> UserError:
        return UserError(f"{self.where}: field {field!r} {what}")

    def get(self, field: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
        if field not in self.obj:
            if required:
                raise self._fail(field, "is missing")
            return None
        value = self.obj[field]
        # bool is an int subclass; a `true` length is a data error, not a length of 1.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self._fail(field, f"must be {_kind_name(kind)}, got {type(value).__name__}")
        return value

    def strings(self, field: str, *, required: bool = True) -> tuple[str, ...] | None:
        # Required lists must be lists; optional ones may also be absent or null.
        value = self.get(field, list if required else (list, type(None)), required=required)
        if value is None:
            return None
        if not all(isinstance(x, str) for x in value):
            raise self._fail(field, "must be a list of strings")
        return tuple(value)

    def classes(self, spec: TaskSpec) -> tuple[str, ...] | None:
        # Only classification tasks need the class list; elsewhere it is null in official files.
        needed = spec.metric == "classification_score"
        classes = self.strings("all_classes", required=needed)
        if needed and not classes:
            raise self._fail("all_classes", f"must be a non-empty list for {spec.name}")
        return classes


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", list: "a list", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def load_data_file(path: str | Path, task: str) -> list[LongBenchItem]:
    """Read one official data file (`{dataset}.jsonl` or `{dataset}_e.jsonl`).

    Args:
        path: The JSONL file.
        task: Its dataset name (decides whether `all_classes` is required).

    Returns:
        Items in file order.

    Raises:
        UserError: Unreadable file, malformed JSON line, missing or mistyped field.
    """
    path, spec = Path(path), get_task(task)
    items = []
    for lineno, obj in _read_jsonl(path):
        line = _Line(path, lineno, obj)
        items.append(
            LongBenchItem(
                id=str(line.get("_id", (str, int))),
                task=task,
                input=line.get("input", str),
                context=line.get("context", str),
                answers=line.strings("answers"),  # type: ignore[arg-type]  # required -> never None
                length=line.get("length", int),
                all_classes=line.classes(spec),
                language=line.get("language", str, required=False) or spec.language,
            )
        )
    return items


def load_pred_file(path: str | Path, task: str) -> list[PredRecord]:
    """Read one official prediction file (`pred/{dataset}.jsonl`).

    Args:
        path: The JSONL file.
        task: Its dataset name.

    Returns:
        Records in file order.

    Raises:
        UserError: Unreadable file, malformed JSON line, missing or mistyped field
            (`pred`, `answers`, `length`; `all_classes` for classification tasks).
    """
    path, spec = Path(path), get_task(task)
    records = []
    for row, (lineno, obj) in enumerate(_read_jsonl(path)):
        line = _Line(path, lineno, obj)
        raw_id = line.get("_id", (str, int), required=False)
        records.append(
            PredRecord(
                id=str(raw_id) if raw_id is not None else f"{task}-{row}",
                task=task,
                pred=line.get("pred", str),
                answers=line.strings("answers"),  # type: ignore[arg-type]
                length=line.get("length", int),
                all_classes=line.classes(spec),
                where=line.where,
            )
        )
    return records


def find_task_files(directory: str | Path, tasks: Sequence[str] | None = None) -> dict[str, Path]:
    """Map dataset name -> file for every known `{dataset}.jsonl` / `{dataset}_e.jsonl` in a folder.

    Args:
        directory: A data or prediction folder in the official layout.
        tasks: Restrict to these datasets (each must then have a file); None = all found.

    Returns:
        Files in the task table's order. Unknown file names are ignored.

    Raises:
        UserError: Not a folder, an unknown or missing requested task, both `x.jsonl` and
            `x_e.jsonl` present, or no known file at all.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a directory")
    requested = None if tasks is None else {get_task(t).name for t in tasks}
    # Table order, whatever order --tasks named them in: tables and JSON read the same every time.
    wanted = [t for t in TASKS if requested is None or t in requested]
    found: dict[str, Path] = {}
    for name in wanted:
        candidates = [p for p in (folder / f"{name}.jsonl", folder / f"{name}_e.jsonl") if p.is_file()]
        if len(candidates) == 2:
            raise UserError(f"{folder}: both {name}.jsonl and {name}_e.jsonl exist; keep one")
        if candidates:
            found[name] = candidates[0]
        elif tasks is not None:
            raise UserError(f"{folder}: no {name}.jsonl (or {name}_e.jsonl) for requested task {name!r}")
    if not found:
        raise UserError(f"{folder}: no LongBench files ({{dataset}}.jsonl) found")
    return found


def load_data_dir(directory: str | Path, tasks: Sequence[str] | None = None) -> dict[str, list[LongBenchItem]]:
    """Load every known data file of an official-layout folder (`--data DIR`).

    Args:
        directory: Folder with one `{dataset}.jsonl` (or `{dataset}_e.jsonl`) per task.
        tasks: Restrict to these datasets; None = every known file present.

    Returns:
        Dataset name -> items.
    """
    return {task: load_data_file(path, task) for task, path in find_task_files(directory, tasks).items()}
