"""Official JSONL layouts: loading, validation errors with file:line, folder discovery."""

from __future__ import annotations

import pytest

from core.errors import UserError
from evals.longbench.data import find_task_files, item_length, load_data_dir, load_data_file, load_pred_file

from .conftest import SAMPLE_DATA, SAMPLE_PRED, make_pred, write_jsonl

DATA_ROW = {
    "input": "问",
    "context": "文",
    "answers": ["答"],
    "length": 3,
    "dataset": "multifieldqa_zh",
    "language": "zh",
    "all_classes": None,
    "_id": "abc",
}


def test_loads_data_rows(tmp_path) -> None:
    path = write_jsonl(tmp_path / "multifieldqa_zh.jsonl", [DATA_ROW, ""])  # blank line tolerated
    (item,) = load_data_file(path, "multifieldqa_zh")
    assert (item.id, item.input, item.answers, item.length, item.all_classes) == ("abc", "问", ("答",), 3, None)


def test_malformed_json_names_file_and_line(tmp_path) -> None:
    path = write_jsonl(tmp_path / "lsht.jsonl", [make_pred("a", ["a"], all_classes=["a"]), '{"pred": "x",'])
    with pytest.raises(UserError) as err:
        load_pred_file(path, "lsht")
    msg = str(err.value)
    assert msg.startswith(f"{path}:2: invalid JSON: ") and "\n" not in msg


@pytest.mark.parametrize("field", ["input", "context", "answers", "length", "_id"])
def test_missing_data_field(tmp_path, field: str) -> None:
    row = {k: v for k, v in DATA_ROW.items() if k != field}
    path = write_jsonl(tmp_path / "multifieldqa_zh.jsonl", [DATA_ROW, row])
    with pytest.raises(UserError, match=rf"multifieldqa_zh.jsonl:2: field '{field}' is missing"):
        load_data_file(path, "multifieldqa_zh")


@pytest.mark.parametrize("field", ["pred", "answers", "length"])
def test_missing_pred_field(tmp_path, field: str) -> None:
    row = make_pred("a", ["a"])
    del row[field]
    path = write_jsonl(tmp_path / "dureader.jsonl", [row])
    with pytest.raises(UserError, match=rf"dureader.jsonl:1: field '{field}' is missing"):
        load_pred_file(path, "dureader")


def test_classification_needs_classes(tmp_path) -> None:
    path = write_jsonl(tmp_path / "lsht.jsonl", [make_pred("a", ["a"], all_classes=None)])
    with pytest.raises(UserError, match=r"lsht.jsonl:1: field 'all_classes' must be a list"):
        load_pred_file(path, "lsht")


@pytest.mark.parametrize(
    ("field", "value"), [("answers", "答"), ("answers", [1]), ("length", "9"), ("length", True), ("pred", None)]
)
def test_wrong_types(tmp_path, field: str, value: object) -> None:
    row = make_pred("a", ["a"]) | {field: value}
    path = write_jsonl(tmp_path / "dureader.jsonl", [row])
    with pytest.raises(UserError, match=rf"dureader.jsonl:1: field '{field}' must be"):
        load_pred_file(path, "dureader")


def test_non_object_line(tmp_path) -> None:
    path = write_jsonl(tmp_path / "dureader.jsonl", ["[1, 2]"])
    with pytest.raises(UserError, match=r"dureader.jsonl:1: expected a JSON object"):
        load_pred_file(path, "dureader")


def test_find_task_files(tmp_path) -> None:
    with pytest.raises(UserError, match="not a directory"):
        find_task_files(tmp_path / "nope")
    with pytest.raises(UserError, match="no LongBench files"):
        find_task_files(tmp_path)
    write_jsonl(tmp_path / "lcc.jsonl", [make_pred("a", ["a"])])
    with pytest.raises(UserError, match="unknown LongBench task 'lccc'"):
        find_task_files(tmp_path, ["lccc"])
    with pytest.raises(UserError, match="no vcsum.jsonl"):
        find_task_files(tmp_path, ["vcsum"])
    write_jsonl(tmp_path / "lcc_e.jsonl", [make_pred("a", ["a"])])
    with pytest.raises(UserError, match="both lcc.jsonl and lcc_e.jsonl"):
        find_task_files(tmp_path)


def test_item_length_rule() -> None:
    assert item_length("问题", "上下文", ["答案"], "zh") == 7  # characters
    assert (
        item_length("a b", "def f():\n    return 1", ["x = 1"], "python") == 2 + 4 + 3
    )  # split() words: a b / def f(): return 1 / x = 1


class TestSampleResources:
    def test_sample_data_is_official_layout_with_true_lengths(self) -> None:
        data = load_data_dir(SAMPLE_DATA)
        assert sorted(data) == sorted(
            ["multifieldqa_zh", "dureader", "vcsum", "lsht", "passage_retrieval_zh", "lcc", "repobench-p"]
        )
        ids = set()
        for task, items in data.items():
            assert 4 <= len(items) <= 6, task
            for it in items:
                assert it.length == item_length(it.input, it.context, it.answers, it.language)
                ids.add(it.id)
        assert len(ids) == sum(len(v) for v in data.values())
        assert all(it.all_classes and it.answers[0] in it.all_classes for it in data["lsht"])
        assert all(it.answers[0].startswith("段落") for it in data["passage_retrieval_zh"])

    def test_sample_preds_match_their_data(self) -> None:
        data = load_data_dir(SAMPLE_DATA)
        for task, items in data.items():
            preds = load_pred_file(SAMPLE_PRED / f"{task}.jsonl", task)
            assert [(p.id, p.answers, p.length) for p in preds] == [(i.id, i.answers, i.length) for i in items]
