"""Per-sample rules, task rounding, length buckets and the category/Avg aggregation."""

from __future__ import annotations

import pytest

from evals.longbench.scoring import bucket_scores, category_table, score_predictions, score_sample, task_score

from .conftest import make_pred, write_jsonl


class TestSample:
    def test_first_line_rule_only_for_the_four_tasks(self) -> None:
        classes = ["财经", "体育"]
        # lsht: "\n\n财经\n体育" -> lstrip("\n") -> first line "财经" -> 1
        assert score_sample("lsht", "\n\n财经\n体育", ["财经"], classes) == 1.0
        # multifieldqa_zh keeps the whole text: 财经|体育 (after "\n" tokens normalize away) -> F1 2/3
        assert score_sample("multifieldqa_zh", "\n\n财经\n体育", ["财经"]) == pytest.approx(2 / 3, abs=1e-15)

    def test_max_over_answers(self) -> None:
        assert score_sample("multifieldqa_zh", "3亿元", ["三亿元人民币", "3亿元"]) == 1.0

    def test_no_answers_scores_zero(self) -> None:
        assert score_sample("multifieldqa_zh", "答案", []) == 0.0


class TestTaskAndBuckets:
    def test_task_score_rounds_to_two_decimals(self) -> None:
        assert task_score([1.0, 0.0, 0.0]) == 33.33
        assert task_score([0.5, 0.0, 0.25]) == 25.0

    def test_task_and_bucket_follow_their_own_float_paths(self) -> None:
        # Official `scorer`: round(100*total/n, 2) with a left-to-right total = 41.87499999999999 -> 41.87.
        # Official `scorer_e`: round(100*np.mean(x), 2) = numpy pairwise sum, numpy rounding: 41.875 -> 41.88.
        scores = [0.25, 0.0, 0.125, 0.5, 0.45, 0.95, 0.05, 1.0, 0.125, 0.375, 0.45, 0.75]
        assert task_score(scores) == 41.87
        assert bucket_scores(scores, [100] * len(scores))["0-4k"] == 41.88

    def test_bucket_edges(self) -> None:
        # <4000 -> 0-4k, <8000 -> 4-8k, else 8k+; an empty bucket is None (NaN officially).
        out = bucket_scores([1.0, 0.0, 0.5, 1.0], [3999, 4000, 7999, 8000])
        assert out == {"0-4k": 100.0, "4-8k": 25.0, "8k+": 100.0}
        assert bucket_scores([1.0], [10]) == {"0-4k": 100.0, "4-8k": None, "8k+": None}


class TestAggregation:
    def test_full_zh_table(self) -> None:
        by_task = {
            "multifieldqa_zh": 40.0,
            "dureader": 20.0,
            "vcsum": 10.0,
            "lsht": 30.0,
            "passage_retrieval_zh": 90.0,
            "lcc": 50.0,
            "repobench-p": 61.0,
        }
        table = category_table(by_task, ("zh", "code"))
        # code = (50 + 61)/2 = 55.5; Avg = (40+20+10+30+55.5+90)/6 = 245.5/6 = 40.9166… -> 40.92
        assert table.by_category == {
            "single_doc_qa": 40.0,
            "multi_doc_qa": 20.0,
            "summarization": 10.0,
            "few_shot": 30.0,
            "code": 55.5,
            "synthetic": 90.0,
        }
        assert list(table.by_category) == [
            "single_doc_qa",
            "multi_doc_qa",
            "summarization",
            "few_shot",
            "code",
            "synthetic",
        ]  # the seed's column order
        assert table.avg == 40.92
        assert table.categories_missing == ()

    def test_seed_row_arithmetic(self) -> None:
        # PROTOCOLS.md §3.1: Chinese-Alpaca-2-7B-64K (44.7+28.1+14.4+39.0+44.6+5.0)/6 = 29.3
        by_task = {
            "multifieldqa_zh": 44.7,
            "dureader": 28.1,
            "vcsum": 14.4,
            "lsht": 39.0,
            "lcc": 44.0,
            "repobench-p": 45.2,
            "passage_retrieval_zh": 5.0,
        }
        table = category_table(by_task, ("zh", "code"))
        assert table.by_category["code"] == 44.6
        assert table.avg == 29.3

    def test_partial_set_averages_present_categories_and_lists_the_rest(self) -> None:
        table = category_table({"multifieldqa_zh": 30.0, "lcc": 51.0}, ("zh", "code"))
        assert table.by_category == {"single_doc_qa": 30.0, "code": 51.0}
        assert table.avg == 40.5
        assert table.categories_missing == ("multi_doc_qa", "summarization", "few_shot", "synthetic")

    def test_english_tasks_stay_out_of_the_zh_table(self) -> None:
        table = category_table({"hotpotqa": 50.0}, ("zh", "code"))
        assert table.by_category == {} and table.avg is None


def test_score_predictions_with_english_and_e_files(tmp_path) -> None:
    write_jsonl(
        tmp_path / "lcc_e.jsonl", [make_pred("x = 1", ["x = 1"], length=5000), make_pred("", ["y"], length=100)]
    )
    write_jsonl(tmp_path / "hotpotqa.jsonl", [make_pred("Paris", ["paris"])])
    write_jsonl(tmp_path / "notes.jsonl", ["not a task, ignored"])
    assert score_predictions(tmp_path).by_length is None  # buckets only when asked for
    result = score_predictions(tmp_path, by_length=True)
    assert result.by_task == {"lcc": 50.0, "hotpotqa": 100.0}
    assert result.by_length is not None and result.by_length["lcc"] == {"0-4k": 0.0, "4-8k": 100.0, "8k+": None}
    assert result.avg == 50.0 and result.zh.categories_missing  # only code in the zh table
    assert result.en is not None and result.en.avg == 75.0  # multi_doc_qa 100, code 50
    assert [it.id for it in result.items] == ["lcc-0", "lcc-1", "hotpotqa-0"]


def test_last_lines_class_list_applies_to_the_whole_file(tmp_path) -> None:
    # Official eval.py scores every line with the all_classes of the file's last line.
    write_jsonl(
        tmp_path / "lsht.jsonl",
        [
            make_pred("财经", ["财经"], all_classes=["财经", "体育"]),
            make_pred("体育", ["体育"], all_classes=["体育", "财经体育"]),
        ],
    )
    # Line 1 against [体育, 财经体育]: nothing matches "财经" -> 0; line 2: [体育] -> 1.
    assert score_predictions(tmp_path).by_task["lsht"] == 50.0
