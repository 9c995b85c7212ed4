"""Chinese metrics pinned on hand-worked examples (jieba==0.42.1 segmentations in comments)."""

from __future__ import annotations

import pytest

from evals.longbench.metrics import normalize_zh_answer, qa_f1_zh_score, rouge_zh_score


def f_rouge(p: float, r: float) -> float:
    # The package's exact expression, so the expected values carry the same rounding.
    return 2.0 * ((p * r) / (p + r + 1e-8))


class TestQaF1Zh:
    def test_exact_answer(self) -> None:
        # 清代|乾隆年间 vs the same -> P = R = 1
        assert qa_f1_zh_score("清代乾隆年间", "清代乾隆年间") == 1.0

    def test_extra_words_and_trailing_punctuation(self) -> None:
        # pred B轮|融资|为|三|亿元|人民币|。 -> "。" normalizes to "" and is dropped: 6 tokens
        # gold 三|亿元|人民币: 3 tokens, all shared -> P = 3/6, R = 1, F1 = 2*0.5/1.5 = 2/3
        assert qa_f1_zh_score("B轮融资为三亿元人民币。", "三亿元人民币") == pytest.approx(2 / 3, abs=1e-15)

    def test_duplicates_are_a_multiset(self) -> None:
        # 北京|北京|欢迎|你 vs 北京|欢迎|你: overlap counts 北京 once -> 3; P = 3/4, R = 1
        # F1 = 2*(3/4)/(7/4) = 6/7
        assert qa_f1_zh_score("北京北京欢迎你", "北京欢迎你") == pytest.approx(6 / 7, abs=1e-15)
        # 好|的 x3 vs 好|的: overlap 2, P = 2/6, R = 1 -> F1 = (2/3)/(4/3) = 1/2
        assert qa_f1_zh_score("好的好的好的", "好的") == pytest.approx(0.5, abs=1e-15)

    def test_mixed_chinese_english_is_lowercased(self) -> None:
        # Apple|发布|了|iPhone|" "|15 -> apple 发布 了 iphone 15 (the space token becomes "")
        # apple|发布|iPhone -> apple 发布 iphone; overlap 3, P = 3/5, R = 1 -> F1 = 1.2/1.6 = 0.75
        assert qa_f1_zh_score("Apple发布了iPhone 15", "apple发布iPhone") == pytest.approx(0.75, abs=1e-15)

    def test_official_cjk_set_drops_close_but_not_open_book_title_mark(self) -> None:
        # 《|三国演义|》: "》" is in the official set, "《" is not and stays a token.
        # pred 《 三国演义 vs gold 三国演义 -> P = 1/2, R = 1 -> F1 = 2/3
        assert normalize_zh_answer("《") == "《"
        assert normalize_zh_answer("》") == ""
        assert qa_f1_zh_score("《三国演义》", "三国演义") == pytest.approx(2 / 3, abs=1e-15)

    def test_official_cjk_set_is_complete(self) -> None:
        # All 75 characters of the official CJK string normalize away; a sample of near misses stays.
        official = "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."
        assert len(official) == 75 and normalize_zh_answer(official) == ""
        assert normalize_zh_answer("《〈〉·") == "《〈〉·"

    def test_normalization(self) -> None:
        assert normalize_zh_answer(" A，b\u3000C！") == "abc"  # lower, punctuation, any whitespace
        assert normalize_zh_answer("3.5") == "35"  # ASCII "." is punctuation too

    @pytest.mark.parametrize(("pred", "gold"), [("", "答案"), ("答案", ""), ("", ""), ("！？。，", "！？。，")])
    def test_empty_or_punctuation_only_scores_zero(self, pred: str, gold: str) -> None:
        # No token survives on at least one side -> no overlap -> 0 (even for identical strings).
        assert qa_f1_zh_score(pred, gold) == 0.0

    def test_no_overlap(self) -> None:
        assert qa_f1_zh_score("大约两米", "3米以上") == 0.0


class TestRougeZh:
    def test_identical_is_just_below_one(self) -> None:
        # P = R = 1 -> F = 2*(1/(2+1e-8)): the package's epsilon keeps it below 1.
        assert rouge_zh_score("北京欢迎你", "北京欢迎你") == f_rouge(1.0, 1.0)

    def test_partial(self) -> None:
        # hyp 今天天气 很 好 (n = 3 distinct), ref 今天天气 不错 (m = 2); LCS = {今天天气} -> 1
        # R = 1/2, P = 1/3 -> F = 2*(1/6)/(5/6+1e-8) ≈ 0.4
        assert rouge_zh_score("今天天气很好", "今天天气不错") == f_rouge(1 / 3, 1 / 2)

    def test_set_semantics_ignore_repeats(self) -> None:
        # hyp 北京 北京 欢迎 你 has 3 *distinct* words; LCS union {北京, 欢迎, 你} = 3 -> P = R = 1
        assert rouge_zh_score("北京北京欢迎你", "北京欢迎你") == f_rouge(1.0, 1.0)

    def test_no_lowercasing(self) -> None:
        # Apple vs apple are different words: hyp {Apple, 发布}, ref {apple, 发布}; LCS {发布}
        assert rouge_zh_score("Apple发布", "apple发布") == f_rouge(1 / 2, 1 / 2)

    @pytest.mark.parametrize(("pred", "gold"), [("", "总结"), ("总结", ""), ("", "")])
    def test_empty_side_is_zero(self, pred: str, gold: str) -> None:
        assert rouge_zh_score(pred, gold) == 0.0

    def test_punctuation_is_kept_as_words(self) -> None:
        # 好|，|的 vs 好|的: hyp words {好, ，, 的} (n = 3), ref {好, 的} (m = 2), LCS {好, 的}
        # R = 1, P = 2/3
        assert rouge_zh_score("好，的", "好的") == f_rouge(2 / 3, 1.0)
