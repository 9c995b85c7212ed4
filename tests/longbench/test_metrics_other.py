"""Classification, retrieval, count, code similarity and the English metrics, worked by hand."""

from __future__ import annotations

import pytest

from evals.longbench._rouge import rouge_l_f
from evals.longbench.metrics import (
    classification_score,
    code_sim_score,
    count_score,
    edit_ratio,
    first_code_line,
    qa_f1_score,
    retrieval_score,
    retrieval_zh_score,
    rouge_score,
)

CLASSES = ["体育", "足球", "国际足球", "财经"]


class TestClassification:
    def test_single_match(self) -> None:
        assert classification_score("财经", "财经", all_classes=CLASSES) == 1.0

    def test_wrong_class(self) -> None:
        assert classification_score("体育", "财经", all_classes=CLASSES) == 0.0

    def test_two_classes_named_share_the_point(self) -> None:
        # matched [体育, 财经]; neither is a proper substring of 财经 except itself -> 1/2
        assert classification_score("体育或财经", "财经", all_classes=CLASSES) == 0.5

    def test_proper_substring_of_gold_is_removed(self) -> None:
        # matched (class order) [足球, 国际足球]; 足球 ⊂ 国际足球 -> removed -> [国际足球] -> 1
        assert classification_score("国际足球", "国际足球", all_classes=CLASSES) == 1.0

    def test_removal_while_iterating_skips_the_next_item(self) -> None:
        # classes [足球, 国际, 国际足球], pred mentions all three, gold 国际足球.
        # i=0: 足球 ⊂ gold -> removed, list [国际, 国际足球]; i=1: 国际足球 == gold, kept.
        # 国际 was skipped by the iterator and survives -> 1/len([国际, 国际足球]) = 1/2.
        assert classification_score("国际足球", "国际足球", all_classes=["足球", "国际", "国际足球"]) == 0.5
        # Same classes in another order: [足球, 国际足球, 国际] -> 足球 removed, then i=1 is 国际 -> removed
        # -> [国际足球] -> 1.
        assert classification_score("国际足球", "国际足球", all_classes=["足球", "国际足球", "国际"]) == 1.0

    def test_gold_contained_in_longer_prediction_class(self) -> None:
        # matched [足球, 国际足球] (both occur in the prediction); 足球 == gold is kept and
        # 国际足球 is not inside the gold, so nothing is removed -> 1/2.
        assert classification_score("国际足球", "足球", all_classes=CLASSES) == 0.5

    def test_needs_classes(self) -> None:
        with pytest.raises(ValueError):
            classification_score("x", "y")


class TestRetrieval:
    @pytest.mark.parametrize(
        ("pred", "expected"),
        [
            ("段落3", 1.0),
            ("答案是段落3。", 1.0),
            ("段落3，不是段落1", 0.5),  # numbers [3, 1]
            ("段落13", 0.0),  # "13" != "3"
            ("段落3和段落3", 1.0),  # [3, 3]
            ("不知道", 0.0),  # no number at all
            ("", 0.0),
            ("段落３", 0.0),  # full-width digit: \d matches it, but "３" != "3"
        ],
    )
    def test_zh(self, pred: str, expected: float) -> None:
        assert retrieval_zh_score(pred, "段落3") == expected

    def test_gold_takes_first_id(self) -> None:
        assert retrieval_zh_score("2", "段落2和段落5") == 1.0

    def test_gold_without_id_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="段落"):
            retrieval_zh_score("段落1", "第一段")

    def test_en(self) -> None:
        assert retrieval_score("Paragraph 4 or 7", "Paragraph 4") == 0.5

    def test_count(self) -> None:
        assert count_score("There are 3 unique paragraphs, 3 in total", "3") == 1.0
        assert count_score("3 or 4", "3") == 0.5
        assert count_score("three", "3") == 0.0


class TestCodeSim:
    def test_first_code_line_skips_comments_fences_and_slashes(self) -> None:
        assert first_code_line("\n\n# note\n```python\n// c\nreturn x\n") == "return x"
        assert first_code_line("# only a comment") == ""
        assert first_code_line("url = 'http://x'\ny = 1") == "y = 1"  # "//" anywhere disqualifies

    def test_whitespace_line_is_a_line(self) -> None:
        # lstrip("\n") keeps the spaces, so the official rule picks "   ".
        # "   " vs "return x": InDel similarity 2*1/(3+8) = 18.18 -> 18
        assert first_code_line("\n   \nreturn x") == "   "
        assert code_sim_score("\n   \nreturn x", "return x") == 0.18

    def test_identical_and_empty(self) -> None:
        assert code_sim_score("    return x", "    return x") == 1.0
        assert code_sim_score("", "return x") == 0.0
        assert code_sim_score("return x", "") == 0.0
        # fuzzywuzzy checks equality before emptiness: "" vs "" is 100.
        assert code_sim_score("# comment only", "") == 1.0
        assert edit_ratio("", "") == 100

    def test_ratio_is_rounded_half_even(self) -> None:
        # "abcdefg" (7) vs "azzzzzzzz" (9): 1 common char -> 100*2/16 = 12.5 -> round() -> 12
        assert edit_ratio("abcdefg", "azzzzzzzz") == 12
        assert code_sim_score("abcdefg", "azzzzzzzz") == 0.12

    def test_near_miss(self) -> None:
        # 42 of 46 chars kept: 100*84/88 = 95.45 -> 95
        assert (
            code_sim_score(
                "        return items.remove(items.size());", "        return items.remove(items.size() - 1);"
            )
            == 0.95
        )


class TestEnglish:
    def test_qa_f1(self) -> None:
        # "the cat sat." -> "cat sat"; "a cat sat on the mat" -> "cat sat on mat"
        # overlap 2, P = 1, R = 1/2 -> F1 = 2/3
        assert qa_f1_score("The Cat sat.", "a cat sat on the mat") == pytest.approx(2 / 3, abs=1e-15)
        assert qa_f1_score("the", "a") == 0.0  # both normalize to nothing

    def test_rouge_sentences_and_tie_break(self) -> None:
        # ref sentences [a b], [b]; hyp [b a]. LCS(a b, b a) has length 1; the package's walk
        # keeps "b" (it steps back in the reference only on a strictly larger cell).
        # union {b} -> 1; m = |{a,b}| = 2, n = 2 -> P = R = 1/2.
        assert rouge_score("b a", "a b. b") == 2.0 * ((0.25) / (1.0 + 1e-8))

    def test_rouge_empty_and_dots(self) -> None:
        assert rouge_score("", "a") == 0.0
        assert rouge_score("...", "a") == 0.0  # only empty sentences -> package raises -> 0
        # A whitespace-only sentence is the single word "": no exception, just no overlap.
        assert rouge_l_f(" ", "a") == 0.0
