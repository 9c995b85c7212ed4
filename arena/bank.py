"""The question bank: read JSONL/CSV files, validate, dedup by normalized text, store.

A bank file has one question per JSONL line or CSV row with the fields

    text      the question (required)
    category  one of CATEGORIES, or its English alias (required)
    language  language code, default "zh" ("lang" is accepted too)
    source    where it comes from, default the file name

Two questions are the same when their normalized texts are equal (`normalize_text`):
that catches re-imports, full-width/half-width variants and stray spaces or end punctuation.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.textfiles import read_text

if TYPE_CHECKING:
    from db import Database
    from db.arena_repo import PromptRow

# The eight categories our users vote in; the English aliases are accepted in files.
CATEGORIES: tuple[str, ...] = (
    "通用知识",
    "语言理解",
    "创作能力",
    "逻辑推理",
    "代码编程",
    "工作技能",
    "使用工具",
    "人格特征",
)
CATEGORY_ALIASES: dict[str, str] = {
    "general_knowledge": "通用知识",
    "language_understanding": "语言理解",
    "creative_writing": "创作能力",
    "reasoning": "逻辑推理",
    "coding": "代码编程",
    "work_skills": "工作技能",
    "tool_use": "使用工具",
    "persona": "人格特征",
}
STARTER_SOURCE = "leitai-starter"
MAX_TEXT_CHARS = 8000  # a vote page question, not a document; longer is almost surely a bad column
_LANG = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
# Punctuation that does not change a question: trailing 。？！ and quotes, surrounding spaces.
_EDGE_PUNCT = "。．.？?！!，,；;：:、…~～ \"'“”‘’「」『』"


class BankError(ValueError):
    """A malformed bank file; the message starts with `file:line`."""


@dataclass(frozen=True, slots=True)
class BankRow:
    """One validated question, ready to store."""

    text: str
    category: str
    lang: str
    source: str
    norm_hash: str

    def prompt_row(self) -> PromptRow:
        """The row `db.arena_repo.add_prompts` stores."""
        from db.arena_repo import PromptRow

        return PromptRow(
            text=self.text, norm_hash=self.norm_hash, category=self.category, lang=self.lang, source=self.source
        )


@dataclass(slots=True)
class ImportReport:
    """What `import_bank` did.

    Attributes:
        imported: New questions stored.
        duplicate: Rows already in the bank or repeated within the file.
        invalid: Rows skipped as malformed (only with `skip_invalid=True`; else the import fails).
        problems: `file:line: reason` for each invalid row.
    """

    imported: int = 0
    duplicate: int = 0
    invalid: int = 0
    problems: list[str] = field(default_factory=list)


def normalize_text(text: str) -> str:
    """Canonical form used for dedup: NFKC, case-folded, no whitespace, no edge punctuation.

    NFKC folds full-width letters/digits ("ＡＢＣ１２３" -> "ABC123") and compatibility forms;
    whitespace carries no meaning in Chinese questions, so all of it is dropped.
    """
    t = unicodedata.normalize("NFKC", text).casefold()
    t = re.sub(r"\s+", "", t)
    return t.strip(_EDGE_PUNCT)


def norm_hash(text: str) -> str:
    """sha256 hex of `normalize_text(text)`."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def parse_category(value: Any) -> str | None:
    """Return the canonical category for a Chinese name or English alias, else None."""
    if not isinstance(value, str):
        return None
    v = value.strip()
    if v in CATEGORIES:
        return v
    return CATEGORY_ALIASES.get(v.lower().replace(" ", "_").replace("-", "_"))


def read_bank(path: str | Path, *, skip_invalid: bool = False) -> tuple[list[BankRow], list[str]]:
    """Read and validate a JSONL or CSV bank file (chosen by extension: .csv, else JSONL).

    Args:
        path: The file.
        skip_invalid: Skip malformed rows (reported in the second return value) instead of failing.

    Returns:
        (rows, problems): valid rows in file order (duplicates included), and `file:line: reason`
        for each skipped row.

    Raises:
        BankError: A malformed row (`file:line: reason`) when not `skip_invalid`, or an empty,
            unreadable or header-less file.
    """
    path = Path(path)
    try:
        raw = read_text(path)  # UTF-8 (BOM dropped: Excel writes one), or GBK/GB18030 with a note
    except UnicodeDecodeError:
        raise BankError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise BankError(f"{path}: cannot read ({exc.strerror or exc})") from None
    records = _csv_records(raw, path) if path.suffix.lower() == ".csv" else _jsonl_records(raw, path)
    rows: list[BankRow] = []
    problems: list[str] = []
    for line, rec in records:
        try:
            if isinstance(rec, str):  # a parse error message from the reader
                raise BankError(rec)
            rows.append(_validate(rec, default_source=path.stem))
        except BankError as exc:
            problem = f"{path}:{line}: {exc}"
            if not skip_invalid:
                raise BankError(problem) from None
            problems.append(problem)
    if not rows and not problems:
        raise BankError(f"{path}: no questions found")
    return rows, problems


def import_bank(database: Database, path: str | Path, *, skip_invalid: bool = False) -> ImportReport:
    """Validate a bank file and store its new questions in one transaction.

    Args:
        database: Target database.
        path: JSONL or CSV file (see module docstring).
        skip_invalid: Count malformed rows as invalid instead of failing the whole import.

    Returns:
        The counts of imported, duplicate and invalid rows.

    Raises:
        BankError: A malformed file or row; nothing is stored then.
    """
    rows, problems = read_bank(path, skip_invalid=skip_invalid)
    return _store(database, rows, problems)


def starter_bank_path() -> Path:
    """Path of the shipped starter bank (80+ original Chinese questions, 8 categories)."""
    return Path(str(resources.files("arena") / "resources" / "starter_bank.jsonl"))


def import_starter_bank(database: Database) -> ImportReport:
    """Import the shipped starter bank (idempotent: a second call only counts duplicates)."""
    return import_bank(database, starter_bank_path())


def _store(database: Database, rows: list[BankRow], problems: list[str]) -> ImportReport:
    from db import arena_repo

    report = ImportReport(invalid=len(problems), problems=problems)
    unique: dict[str, BankRow] = {}
    for r in rows:
        unique.setdefault(r.norm_hash, r)  # first occurrence in the file wins
    with database.session() as s:
        known = arena_repo.existing_prompt_hashes(s, unique)
        fresh = [r.prompt_row() for h, r in unique.items() if h not in known]
        report.imported = arena_repo.add_prompts(s, fresh)
    report.duplicate = len(rows) - report.imported
    return report


def _validate(rec: Any, *, default_source: str) -> BankRow:
    if not isinstance(rec, dict):
        raise BankError(f"expected an object with a 'text' field, got {type(rec).__name__}")
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BankError("missing or empty 'text'")
    text = text.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise BankError(f"'text' has {len(text)} characters (at most {MAX_TEXT_CHARS})")
    if not normalize_text(text):
        raise BankError("'text' is only punctuation")
    raw_cat = rec.get("category")
    category = parse_category(raw_cat)
    if category is None:
        shown = "missing 'category'" if raw_cat in (None, "") else f"unknown category {raw_cat!r}"
        raise BankError(f"{shown}; expected one of {'、'.join(CATEGORIES)}")
    lang = rec.get("language", rec.get("lang")) or "zh"
    if not isinstance(lang, str) or not _LANG.match(lang.strip()):
        raise BankError(f"bad language {lang!r}; expected a code such as 'zh' or 'en'")
    source = rec.get("source") or default_source
    if not isinstance(source, str):
        raise BankError(f"bad source {source!r}; expected a string")
    return BankRow(
        text=text, category=category, lang=lang.strip(), source=source.strip()[:200], norm_hash=norm_hash(text)
    )


def _jsonl_records(raw: str, path: Path) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            out.append((n, f"malformed JSON ({exc.msg} at column {exc.colno})"))
    return out


def _csv_records(raw: str, path: Path) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(raw, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "text" not in header:
        raise BankError(f"{path}:1: CSV header must name a 'text' column (got {', '.join(header) or 'nothing'})")
    reader.fieldnames = header
    out: list[tuple[int, Any]] = []
    try:
        for rec in reader:
            if None in rec:  # more cells than header columns
                out.append((reader.line_num, f"{len(header) + len(rec[None])} cells, header has {len(header)}"))
                continue
            if not any((v or "").strip() for v in rec.values()):
                continue
            out.append((reader.line_num, {k: v for k, v in rec.items() if v is not None}))
    except csv.Error as exc:
        raise BankError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None
    return out
