"""Our ROUGE-L equals the pinned `rouge==1.0.1` package on the official call path.

The package is the reference here only; production code never imports it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge import Rouge

from evals.longbench._rouge import OFFICIAL_MAX_RECON_CALLS_EN, OFFICIAL_MAX_RECON_CALLS_ZH, rouge_l_f
from evals.longbench.metrics import _cut, rouge_zh_score

from .conftest import SAMPLE_PRED


def package_f(hyp: str, ref: str) -> float:
    """What the official `rouge_score` returns (any exception -> 0)."""
    try:
        return Rouge().get_scores([hyp], [ref], avg=True)["rouge-l"]["f"]
    except Exception:
        return 0.0


def ours_f(hyp: str, ref: str) -> float:
    try:
        return rouge_l_f(hyp, ref, max_recon_calls=None)
    except ValueError:
        return 0.0


# Few distinct words, dots and odd whitespace: ties, repeats, empty sentences and "" words.
_pieces = st.sampled_from(["a", "b", "c", "ab", " ", "  ", ".", "..", "\t", "\u3000", "\n", "好", "的"])
_texts = st.lists(_pieces, max_size=14).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_texts, _texts)
def test_equals_package_on_random_texts(hyp: str, ref: str) -> None:
    assert ours_f(hyp, ref) == package_f(hyp, ref)


_zh = st.text(alphabet="北京欢迎你今天天气很好不错会议决定。，.！ 3a", max_size=30)


@settings(max_examples=300, deadline=None)
@given(_zh, _zh)
def test_rouge_zh_equals_package_path(pred: str, gold: str) -> None:
    assert rouge_zh_score(pred, gold) == package_f(" ".join(_cut(pred)), " ".join(_cut(gold)))


@pytest.mark.parametrize("task", ["dureader", "vcsum"])
def test_sample_predictions_equal_package(task: str) -> None:
    for line in (SAMPLE_PRED / f"{task}.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for gold in row["answers"]:
            expected = package_f(" ".join(_cut(row["pred"])), " ".join(_cut(gold)))
            assert rouge_zh_score(row["pred"], gold) == expected


# A script with the official eval.py call structure (module-level loop -> scorer -> metric ->
# package), so the package recurses under the same stack depth as in an official run.
_OFFICIAL_STACK = textwrap.dedent("""
    import json, sys
    import jieba
    from rouge import Rouge

    def rouge_score(prediction, ground_truth, **kwargs):
        try:
            scores = Rouge().get_scores([prediction], [ground_truth], avg=True)
        except Exception:
            return 0.0
        return scores["rouge-l"]["f"]

    def rouge_zh_score(prediction, ground_truth, **kwargs):
        prediction = " ".join(list(jieba.cut(prediction, cut_all=False)))
        ground_truth = " ".join(list(jieba.cut(ground_truth, cut_all=False)))
        return rouge_score(prediction, ground_truth)

    metric = {"zh": rouge_zh_score, "en": rouge_score}

    def scorer(kind, predictions, answers):
        total = 0.
        for prediction, golds in zip(predictions, answers):
            score = 0.
            for gold in golds:
                score = max(score, metric[kind](prediction, gold, all_classes=None))
            total += score
        return total

    # A plain loop at module level: a comprehension would add a frame before Python 3.12.
    results = []
    for kind, hyp, ref in json.loads(sys.argv[1]):
        results.append(scorer(kind, [hyp], [[ref]]))
    print(json.dumps(results))
""")


def _long_case(n_words: int) -> tuple[str, str]:
    # ref "w0" vs hyp "w0 ... w{n-1}": the package's walk makes n_words + 1 recursive calls.
    return " ".join(f"w{i}" for i in range(n_words)), "w0"


def test_recursion_cliff_matches_official_stack(tmp_path) -> None:
    cases = []
    for kind, limit in (("zh", OFFICIAL_MAX_RECON_CALLS_ZH), ("en", OFFICIAL_MAX_RECON_CALLS_EN)):
        for calls in (limit - 1, limit, limit + 1):
            cases.append((kind, *_long_case(calls - 1)))
    script = tmp_path / "official_stack.py"
    script.write_text(_OFFICIAL_STACK, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), json.dumps(cases)], capture_output=True, text=True, check=True)
    official = json.loads(out.stdout)
    from evals.longbench.metrics import rouge_score

    ours = [(rouge_zh_score if kind == "zh" else rouge_score)(hyp, ref) for kind, hyp, ref in cases]
    assert ours == official
    # And the cliff is really there: the last case of each kind scores 0, the others do not.
    assert [s > 0 for s in official] == [True, True, False, True, True, False]
