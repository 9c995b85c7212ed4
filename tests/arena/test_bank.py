"""Question bank: parsing, validation, dedup by normalized text, the starter bank, the CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from arena.bank import (
    CATEGORIES,
    STARTER_SOURCE,
    BankError,
    import_bank,
    import_starter_bank,
    norm_hash,
    normalize_text,
    read_bank,
    starter_bank_path,
)
from arena.leaks import LeakChecker
from db import Database, arena_repo
from tests.arena.store_fixtures import database, db_url
from tests.evals.cli_helpers import run_cli


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")  # fmt: skip
    return path


def test_normalize_text_folds_width_case_space_and_end_punctuation() -> None:
    assert normalize_text("  介绍一下 Ｐｙｔｈｏｎ 的 GIL。 ") == normalize_text("介绍一下python的gil")
    assert norm_hash("北京是中国的首都吗？") == norm_hash("北京是中国的首都吗?")
    assert norm_hash("北京是中国的首都吗") != norm_hash("上海是中国的首都吗")


def test_import_counts_new_duplicate_and_repeated_rows(database: Database, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bank.jsonl", [
        {"text": "什么是量子纠缠？", "category": "通用知识", "language": "zh", "source": "team"},
        {"text": "什么是量子纠缠?", "category": "通用知识"},  # same question, half-width '?'
        {"text": "写一首关于秋天的诗", "category": "creative_writing"},  # English alias
        "",  # blank lines are ignored
    ])  # fmt: skip
    report = import_bank(database, path)
    assert (report.imported, report.duplicate, report.invalid) == (2, 1, 0)
    again = import_bank(database, path)
    assert (again.imported, again.duplicate) == (0, 3)
    with database.session(write=False) as s:
        prompts = arena_repo.list_prompts(s)
    assert [(p.text, p.category, p.lang, p.source) for p in prompts] == [
        ("什么是量子纠缠？", "通用知识", "zh", "team"),
        ("写一首关于秋天的诗", "创作能力", "zh", "bank"),  # source defaults to the file name
    ]


def test_csv_with_bom_and_lang_column(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('\ufefftext,category,lang,source\n"用一句话解释递归, 并举例",代码编程,zh,csv\n', encoding="utf-8")
    report = import_bank(database, path)
    assert report.imported == 1
    with database.session(write=False) as s:
        (p,) = arena_repo.list_prompts(s)
    assert (p.text, p.category, p.source) == ("用一句话解释递归, 并举例", "代码编程", "csv")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('{"text": "缺右括号", "category": "通用知识"', "malformed JSON"),
        ({"category": "通用知识"}, "missing or empty 'text'"),
        ({"text": "   ", "category": "通用知识"}, "missing or empty 'text'"),
        ({"text": "问题", "category": "天气预报"}, "unknown category '天气预报'"),
        ({"text": "问题"}, "missing 'category'"),
        ({"text": "问题", "category": "通用知识", "language": "中文"}, "bad language"),
        (["not", "an", "object"], "expected an object"),
    ],
)
def test_bad_row_names_file_and_line(tmp_path: Path, row: object, message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": "好的问题", "category": "通用知识"}, row])
    with pytest.raises(BankError) as exc:
        read_bank(path)
    assert str(exc.value).startswith(f"{path}:2: ")
    assert message in str(exc.value)


def test_bad_file_stores_nothing_unless_skip_invalid(database: Database, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "mixed.jsonl", [
        {"text": "第一个问题", "category": "逻辑推理"}, {"text": "第二个问题", "category": "未知"},
        {"text": "第三个问题", "category": "工作技能"},
    ])  # fmt: skip
    with pytest.raises(BankError):
        import_bank(database, path)
    with database.session(write=False) as s:
        assert arena_repo.list_prompts(s) == []
    report = import_bank(database, path, skip_invalid=True)
    assert (report.imported, report.duplicate, report.invalid) == (2, 0, 1)
    assert report.problems[0].startswith(f"{path}:2: unknown category")


def test_starter_bank_is_ours_and_covers_every_category(database: Database) -> None:
    rows, problems = read_bank(starter_bank_path())
    assert problems == [] and len(rows) >= 80
    per_category = Counter(r.category for r in rows)
    assert set(per_category) == set(CATEGORIES)
    assert min(per_category.values()) >= 10
    assert {r.lang for r in rows} == {"zh"} and {r.source for r in rows} == {STARTER_SOURCE}
    assert len({r.norm_hash for r in rows}) == len(rows)  # no duplicates inside the bank
    # Questions must not name models themselves, or every answer would look like a leak.
    assert [r.text for r in rows if LeakChecker().find(r.text)] == []
    first = import_starter_bank(database)
    assert first.imported == len(rows)
    assert import_starter_bank(database).duplicate == len(rows)


def test_cli_import_list_and_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    res = run_cli("arena", "bank", "import", "--default", "--db", db)
    assert res.returncode == 0, res.stderr
    assert "imported 88, duplicate 0, invalid 0" in res.stdout
    res = run_cli("arena", "bank", "import", "--default", "--db", db)
    assert "imported 0, duplicate 88, invalid 0" in res.stdout
    res = run_cli("arena", "bank", "list", "--category", "coding", "--limit", "2", "--db", db)
    assert res.returncode == 0 and "代码编程" in res.stdout

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "问题", "category": "通用知识"}, "{oops"])
    res = run_cli("arena", "bank", "import", str(bad), "--db", db)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]  # one line, no traceback
    assert f"{bad}:2: malformed JSON" in res.stderr
    res = run_cli("arena", "bank", "import", str(bad), "--skip-invalid", "--db", db)
    assert res.returncode == 0 and "imported 1, duplicate 0, invalid 1" in res.stdout
