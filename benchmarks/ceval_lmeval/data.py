"""Synthetic C-Eval-layout data (dev/val CSVs with `id,question,A,B,C,D,answer,explanation`) and its
lm-eval-readable copy (same rows, without the `explanation` column).

Questions are built from the tiny model's own corpus sentences, so the tiny tokenizer sees mostly
in-vocabulary characters (about one token per character), with realistic lengths: stems of 40–80
characters and options of 5–15.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from pathlib import Path

LETTERS = ("A", "B", "C", "D")
COLUMNS = ("id", "question", "A", "B", "C", "D", "answer", "explanation")

# Real C-Eval handles (the suite only accepts the 52 official ones), spread over the four categories.
SUBJECTS = (
    "computer_network", "high_school_history", "college_economics", "clinical_medicine",
    "operating_system", "law", "marxism", "accountant", "high_school_physics", "logic",
    "education_science", "civil_servant",
)  # fmt: skip

_FALLBACK = (
    "中国的首都是北京，也是全国的政治和文化中心。操作系统负责管理计算机的硬件与软件资源。"
    "传输层的协议包括传输控制协议和用户数据报协议。经济学研究稀缺资源在不同用途之间的配置。"
) * 10


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    question: str
    options: tuple[str, str, str, str]
    answer: str
    explanation: str = ""


def _sentences() -> list[str]:
    try:
        from training.tiny import corpus_text

        text = corpus_text()
    except (ImportError, OSError):
        text = _FALLBACK
    parts = [s.strip() for s in re.split(r"[。！？；\n]", text)]
    return [p for p in parts if len(p) >= 6]


def _stem(rng: random.Random, pool: list[str]) -> str:
    target = rng.randint(40, 80)
    text = ""
    while len(text) < target:
        text += rng.choice(pool) + "，"
    return text[: target - 8].rstrip("，") + "，下列说法正确的是"


def _option(rng: random.Random, pool: list[str]) -> str:
    s = rng.choice(pool)
    n = rng.randint(5, 15)
    while len(s) < n:
        s += rng.choice(pool)
    return s[:n]


def make_rows(rng: random.Random, pool: list[str], n: int, explained: bool) -> list[Row]:
    rows = []
    for i in range(n):
        answer = rng.choice(LETTERS)
        # Explanations carry commas and quotes so the CSV needs real quoting, as the official dev files do.
        expl = f'1. "{_option(rng, pool)}"，与题意不符，{_option(rng, pool)}。所以答案是{answer}。' if explained else ""
        rows.append(Row(str(i), _stem(rng, pool), tuple(_option(rng, pool) for _ in LETTERS), answer, expl))  # type: ignore[arg-type]
    return rows


def write_csv(path: Path, rows: list[Row], *, explanation: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = COLUMNS if explanation else COLUMNS[:-1]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([r.id, r.question, *r.options, r.answer, *([r.explanation] if explanation else [])])


def build_dataset(
    root: Path, *, n_subjects: int, n_val: int, n_dev: int = 5, seed: int = 0
) -> dict[str, dict[str, list[Row]]]:
    """Write `root/{dev,val}/{subject}_{split}.csv` (official layout) and return the rows by subject/split."""
    if n_subjects > len(SUBJECTS):
        raise ValueError(f"at most {len(SUBJECTS)} subjects")
    rng = random.Random(seed)
    pool = _sentences()
    data: dict[str, dict[str, list[Row]]] = {}
    for subject in SUBJECTS[:n_subjects]:
        dev = make_rows(rng, pool, n_dev, explained=True)
        val = make_rows(rng, pool, n_val, explained=False)
        write_csv(root / "dev" / f"{subject}_dev.csv", dev, explanation=True)
        write_csv(root / "val" / f"{subject}_val.csv", val, explanation=True)  # explanation empty in val
        data[subject] = {"dev": dev, "val": val}
    return data


def write_lmeval_copy(data: dict[str, dict[str, list[Row]]], root: Path) -> dict[str, dict[str, Path]]:
    """The same rows without `explanation` (HF `datasets` rejects splits with differing columns)."""
    out: dict[str, dict[str, Path]] = {}
    for subject, splits in data.items():
        out[subject] = {}
        for split, rows in splits.items():
            path = root / f"{subject}_{split}.csv"
            write_csv(path, rows, explanation=False)
            out[subject][split] = path
    return out


def read_dataset(root: Path, *, n_subjects: int | None, n_val: int | None) -> dict[str, dict[str, list[Row]]]:
    """Read an existing C-Eval-layout dir (`--data`): subjects with both dev and val files, file order."""
    data: dict[str, dict[str, list[Row]]] = {}
    for val_path in sorted((root / "val").glob("*_val.csv")):
        subject = val_path.name[: -len("_val.csv")]
        dev_path = root / "dev" / f"{subject}_dev.csv"
        if not dev_path.is_file():
            continue
        splits = {}
        for split, path in (("dev", dev_path), ("val", val_path)):
            with path.open(encoding="utf-8-sig", newline="") as f:
                rows = [
                    Row(
                        r["id"],
                        r["question"],
                        tuple(r[x] for x in LETTERS),
                        r["answer"].strip(),
                        r.get("explanation") or "",
                    )  # type: ignore[arg-type]
                    for r in csv.DictReader(f)
                ]
            splits[split] = rows
        if n_val:
            splits["val"] = splits["val"][:n_val]
        data[subject] = splits
        if n_subjects and len(data) == n_subjects:
            break
    if not data:
        raise SystemExit(f"{root}: no subject with both dev/{{s}}_dev.csv and val/{{s}}_val.csv")
    return data
