"""Loaders for multiple-choice suites in their official CSV layouts, with one-line errors."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.textfiles import read_text

LETTERS: tuple[str, ...] = ("A", "B", "C", "D")


@dataclass(frozen=True, slots=True)
class MCItem:
    """One four-option question. `answer` is None where the split has no labels (C-Eval test)."""

    subject: str
    id: str
    question: str
    options: tuple[str, str, str, str]
    answer: str | None
    explanation: str = ""

    @property
    def key(self) -> str:
        """Unique within a run: subject/id."""
        return f"{self.subject}/{self.id}"


def read_mc_csv(
    path: Path,
    *,
    subject: str,
    id_column: str | None,
    question_column: str,
    answer_column: str,
    labelled: bool,
) -> list[MCItem]:
    """Read one subject file. `id_column=None` means the first (unnamed index) column, as in CMMLU.

    `labelled=False` (C-Eval test) reads the official unlabelled layout: the answer column may be absent
    (`id,question,A,B,C,D`) or present and empty; an `explanation` column is never required.

    Raises:
        UserError: unreadable file, missing columns, empty question, or an answer outside A–D.
    """
    try:
        rows = list(csv.reader(io.StringIO(read_text(path), newline="")))  # UTF-8, or GBK with a note
    except (OSError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read CSV: {exc}") from None
    if not rows:
        raise UserError(f"{path}: empty file (expected a header row)")
    header = [h.strip() for h in rows[0]]
    wanted = [question_column, *LETTERS] + ([answer_column] if labelled else []) + ([id_column] if id_column else [])
    missing = [c for c in wanted if c not in header]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
    col = {name: header.index(name) for name in wanted}
    answer_index = header.index(answer_column) if answer_column in header else None
    id_index = col[id_column] if id_column else 0
    items: list[MCItem] = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise UserError(f"{path}:{line_no}: expected {len(header)} fields, found {len(row)}")
        raw_answer = row[answer_index] if answer_index is not None else ""
        answer = raw_answer.strip().upper() or None
        if labelled and answer not in LETTERS:
            raise UserError(f"{path}:{line_no}: answer {raw_answer!r} is not one of A, B, C, D")
        if answer is not None and answer not in LETTERS:
            raise UserError(f"{path}:{line_no}: answer {answer!r} is not one of A, B, C, D")
        question = row[col[question_column]]
        if not question.strip():
            raise UserError(f"{path}:{line_no}: empty {question_column}")
        explanation = row[header.index("explanation")] if "explanation" in header else ""
        items.append(
            MCItem(
                subject=subject,
                id=row[id_index].strip(),
                question=question,
                options=tuple(row[col[letter]] for letter in LETTERS),  # type: ignore[arg-type]
                answer=answer,
                explanation=explanation,
            )
        )
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise UserError(f"{path}: duplicate ids in column {id_column or '(index)'}")
    return items


def fingerprint(paths: Iterable[Path]) -> str:
    """SHA-256 over file names and bytes: any data change gives a new run."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
