"""Each official data layout, header exactly as published, loads through the real suite code; and the
embedded samples use exactly those headers, so a fixture can never again hide a layout difference.

What was checked, and where (issue 17):
* CMMLU — `haonan-li/CMMLU` @5b17e8b7, `data/dev/ancient_chinese.csv` and `data/test/ancient_chinese.csv`
  (read in full): both start `,Question,A,B,C,D,Answer` (first column an unnamed index), test labelled.
* C-Eval — `hkust-nlp/ceval` README ("Labels on the test split are not released"; dev example with
  `explantion`), `code/evaluator_series/eval.py` (`pd.read_csv` of `data/{val,dev}/{subject}_{split}.csv`),
  and CLA2's `llama_evaluator.py`, which never reads `answer` on the test split
  (`answers = ['NA'] * len(test_df) if do_test ...`). The CSVs themselves ship in `ceval-exam.zip`
  (HF `ceval/ceval-exam`, not on GitHub; the HF parquet conversion pads every split to all eight
  features), so the per-split headers below are the ones measured on the real zip in issue 17:
  dev `id,question,A,B,C,D,answer,explanation`, val `id,question,A,B,C,D,answer`, test `id,question,A,B,C,D`.
* LongBench — `THUDM/LongBench` @c5ea10bc `LongBench/README.md` "Data Format": every line has
  `input, context, answers, length, dataset, language, all_classes, _id`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from evals.resources import resource
from evals.suite_api import SuiteOptions
from evals.suites.ceval import CEval
from evals.suites.cmmlu import CMMLU

CEVAL_HEADERS = {
    "dev": "id,question,A,B,C,D,answer,explanation",
    "val": "id,question,A,B,C,D,answer",
    "test": "id,question,A,B,C,D",
}
CMMLU_HEADER = ",Question,A,B,C,D,Answer"  # dev and test alike
LONGBENCH_FIELDS = ("input", "context", "answers", "length", "dataset", "language", "all_classes", "_id")

ROW = "问题____。,甲,乙,丙,丁"


def _ceval_dir(root: Path, headers: dict[str, str] = CEVAL_HEADERS) -> Path:
    """One subject, two rows per split, each split with its published header (CRLF, as in the zip)."""
    tail = {"dev": ",A,解析", "val": ",B", "test": ""}
    for split, header in headers.items():
        (root / split).mkdir(parents=True)
        extra = tail[split] if header == CEVAL_HEADERS[split] else ",,"  # present-but-empty columns
        lines = [header] + [f"{i},{ROW}{extra}" for i in range(2)]
        (root / split / f"law_{split}.csv").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("shots", [0, 2])
def test_ceval_test_split_reads_the_official_header(tmp_path, shots):
    plan = CEval().plan(SuiteOptions(data=_ceval_dir(tmp_path), split="test", shots=shots))
    assert not plan.labelled
    assert [(it.id, it.answer, it.options) for it in plan.items] == [
        (str(i), None, ("甲", "乙", "丙", "丁")) for i in range(2)
    ]
    if shots:  # dev exemplars keep their labels and explanations
        assert [(e.answer, e.explanation) for e in plan.context.exemplars["law"]] == [("A", "解析")] * 2


def test_ceval_val_and_dev_read_the_official_headers(tmp_path):
    data = _ceval_dir(tmp_path)
    val = CEval().plan(SuiteOptions(data=data, split="val", shots=2))
    assert [(it.answer, it.explanation) for it in val.items] == [("B", "")] * 2 and val.labelled
    dev = CEval().plan(SuiteOptions(data=data, split="dev"))
    assert [it.answer for it in dev.items] == ["A", "A"]


def test_ceval_test_with_present_but_empty_label_columns(tmp_path):
    # the layout our samples used to have: answer and explanation columns, both empty
    headers = {**CEVAL_HEADERS, "test": CEVAL_HEADERS["dev"]}
    plan = CEval().plan(SuiteOptions(data=_ceval_dir(tmp_path, headers), split="test"))
    assert [it.answer for it in plan.items] == [None, None]


def test_ceval_val_without_answer_column_is_refused(tmp_path):
    from core.errors import UserError

    data = _ceval_dir(tmp_path, {**CEVAL_HEADERS, "val": CEVAL_HEADERS["test"]})
    with pytest.raises(UserError, match="missing column"):
        CEval().plan(SuiteOptions(data=data, split="val"))


@pytest.mark.parametrize("split", ["test", "dev"])
def test_cmmlu_reads_the_official_header(tmp_path, split):
    for s in ("test", "dev"):
        (tmp_path / s).mkdir()
        rows = [CMMLU_HEADER, "0,问题？,甲,乙,丙,丁,C", "1,问题二？,甲,乙,丙,丁,D"]
        (tmp_path / s / "ancient_chinese.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    plan = CMMLU().plan(SuiteOptions(data=tmp_path, split=split))
    assert [(it.id, it.answer) for it in plan.items] == [("0", "C"), ("1", "D")]


def test_longbench_reads_the_official_fields(tmp_path):
    from evals.longbench import load_data_file

    line = dict(zip(LONGBENCH_FIELDS, ("问题", "上下文", ["答案"], 7, "dureader", "zh", None, "abc123"), strict=True))
    path = tmp_path / "dureader.jsonl"
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    (item,) = load_data_file(path, "dureader")
    assert (item.id, item.input, item.context, item.answers, item.length) == ("abc123", "问题", "上下文", ("答案",), 7)


def _header(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as f:
        return ",".join(next(csv.reader(f)))


def test_embedded_samples_use_exactly_the_official_layouts():
    ceval = resource("ceval_sample")
    for split, header in CEVAL_HEADERS.items():
        files = sorted((ceval / split).glob("*.csv"))
        assert files and {_header(p) for p in files} == {header}, split
    cmmlu = resource("cmmlu_sample")
    for split in ("dev", "test"):
        files = sorted((cmmlu / split).glob("*.csv"))
        assert files and {_header(p) for p in files} == {CMMLU_HEADER}, split
    for path in sorted(resource("longbench_sample").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                assert tuple(json.loads(line)) == LONGBENCH_FIELDS, path
