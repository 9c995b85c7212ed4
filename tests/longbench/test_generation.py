"""LongBench request building: middle truncation, chat decision, decoding settings, post-processing,
out-of-memory skips, and aggregation equal to the official scorer."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.errors import UserError
from evals.longbench import generation as gen
from evals.longbench.data import load_pred_file
from evals.longbench.scoring import score_predictions, score_sample
from evals.longbench.tasks import ZH_TASKS
from evals.suite_api import SuiteOptions
from evals.suites.longbench import OOM_REASON, LongBench, generate_or_skip, is_oom

from .conftest import SAMPLE_DATA, SAMPLE_PRED

# ---------------------------------------------------------------- fakes


class CharTokenizer:
    """One token per character plus BOS (id 1): the runner's `encode`/`decode` verbs in miniature."""

    bos = 1

    def encode(self, texts: list[str], *, specials: bool = True) -> list[list[int]]:
        return [[self.bos] * specials + [ord(c) + 10 for c in text] for text in texts]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(i - 10) for i in ids if i != self.bos)


@dataclass
class FakeInfo:
    max_length: int = 4096


@dataclass
class FakeRunner:
    """Answers every prompt with "段落1\\n..."; raises OOM for any batch holding a prompt over `oom_over` chars."""

    oom_over: int = 10**9
    batch_ooms: bool = False  # only batches of >= 2 run out of memory
    tokenizer: CharTokenizer = field(default_factory=CharTokenizer)
    info: FakeInfo = field(default_factory=FakeInfo)
    calls: list[tuple[int, Any]] = field(default_factory=list)
    backend: str = "fake"

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode([text])[0])

    def encode(self, texts: list[str], *, specials: bool = True) -> list[list[int]]:
        return self.tokenizer.encode(texts, specials=specials)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def generate(self, prompts, params, *, chat=False, system=None, batch_size=8, progress=False):
        self.calls.append((len(prompts), params))
        if (self.batch_ooms and len(prompts) > 1) or any(len(p) > self.oom_over for p in prompts):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return ["段落1\n其他" for _ in prompts]

    def apply_chat_template(self, messages, *, add_generation_prompt=None):
        return f"<user>{messages[-1]['content']}</user><assistant>"


# ---------------------------------------------------------------- truncation


class TestMiddleTruncation:
    def test_fitting_prompt_is_untouched(self) -> None:
        cut = gen.middle_truncate(CharTokenizer(), "abcdef", 7)  # 6 chars + BOS = 7 tokens
        assert cut == gen.Truncated("abcdef", 7, False)

    def test_char_tokenizer_keeps_both_halves_exactly(self) -> None:
        text = "".join(chr(0x4E00 + i) for i in range(100))
        cut = gen.middle_truncate(CharTokenizer(), text, 21)  # half = 10 ids each side
        assert cut.truncated and cut.n_tokens == 101
        # head = BOS (skipped) + 9 chars, tail = the last 10 chars
        assert cut.text == text[:9] + text[-10:]

    def test_real_tokenizer(self, tiny_model_dir) -> None:
        from runners.hf import HFRunner

        runner = HFRunner(str(tiny_model_dir), device="cpu")
        tok = runner.tokenizer
        head_text = "开头：请基于给定的文章回答下述问题。"
        tail_text = "问题：长城有多长？\n回答："
        prompt = head_text + "中间的很长的文章内容，" * 300 + tail_text
        ids = tok(prompt)["input_ids"]
        assert ids[0] == tok.bos_token_id
        budget = 200
        cut = gen.middle_truncate(runner, prompt, budget)
        assert cut.truncated and cut.n_tokens == len(ids) > budget
        half = budget // 2
        head = tok.decode(ids[:half], skip_special_tokens=True)
        tail = tok.decode(ids[-half:], skip_special_tokens=True)
        assert cut.text == head + tail
        assert cut.text.startswith(head_text) and cut.text.endswith(tail_text)
        assert len(cut.text) < len(prompt)
        # Re-tokenized (BOS included) the text is about the budget: the seam may merge or split a piece.
        assert abs(len(tok(cut.text)["input_ids"]) - budget) <= 3
        # An odd budget keeps int(budget / 2) per side.
        odd = gen.middle_truncate(runner, prompt, 201)
        assert odd.text == cut.text

    def test_budget_is_context_minus_generation(self) -> None:
        assert gen.prompt_budget(4096, 64) == 4032
        assert gen.prompt_budget(4096, 512) == 3584  # = CLA2's default --max_length for vcsum
        with pytest.raises(UserError, match="no room"):
            gen.prompt_budget(64, 64)


# ---------------------------------------------------------------- chat


class TestChat:
    def test_skip_set_among_zh_and_code_tasks(self) -> None:
        wrapped = {t for t in ZH_TASKS if gen.uses_chat(t, True)}
        assert wrapped == {"multifieldqa_zh", "dureader", "vcsum", "passage_retrieval_zh"}
        assert not any(gen.uses_chat(t, False) for t in ZH_TASKS)

    def test_llama2_wrapper_is_lb_build_chat(self) -> None:
        r = FakeRunner()
        assert gen.wrap_chat(r, "dureader", "问题", chat=True, template="llama2") == "[INST]问题[/INST]"
        assert gen.wrap_chat(r, "lcc", "def f():", chat=True, template="llama2") == "def f():"
        assert gen.wrap_chat(r, "dureader", "问题", chat=False, template="llama2") == "问题"

    def test_auto_uses_the_runner_template(self) -> None:
        r = FakeRunner()
        assert gen.wrap_chat(r, "vcsum", "会议", chat=True, template="auto") == "<user>会议</user><assistant>"
        assert gen.wrap_chat(r, "lsht", "新闻", chat=True, template="auto") == "新闻"

    def test_truncation_happens_before_the_template(self) -> None:
        items_dir = SAMPLE_DATA
        plan = LongBench().plan(
            SuiteOptions(
                data=items_dir,
                limit=1,
                chat=True,
                extra={"tasks": ("dureader",), "max_length": 60, "max_new_tokens": 8},
            )
        )
        runner = FakeRunner()
        rows = [r for chunk in LongBench().predict(runner, plan, plan.items, batch_size=4) for r in chunk]
        (row,) = rows
        assert row["extra"]["truncated"] and row["extra"]["chat"]
        # budget 52 tokens of prompt (BOS + 51 chars), then "[INST]" + "[/INST]" (13 chars) around it
        assert row["extra"]["prompt_tokens"] == 1 + 51 + 13


# ---------------------------------------------------------------- decoding and post-processing


def test_gen_params() -> None:
    g = gen.gen_params(64, "greedy")
    assert (g.max_new_tokens, g.temperature, g.repetition_penalty) == (64, 0.0, 1.0)
    c = gen.gen_params(512, "cla2")
    assert (c.max_new_tokens, c.temperature, c.top_p, c.top_k, c.repetition_penalty, c.seed) == (
        512,
        0.2,
        0.95,
        40,
        1.1,
        42,
    )
    with pytest.raises(UserError):
        gen.gen_params(8, "beam")


def test_postprocess_keeps_raw_and_scoring_applies_task_rules() -> None:
    raw = "\n体育\n财经"
    assert gen.postprocess("lsht", raw) == raw  # stored as generated
    assert gen.scored_text("lsht", raw) == "体育"
    assert gen.scored_text("dureader", raw) == raw
    assert score_sample("lsht", gen.postprocess("lsht", raw), ["体育"], ["体育", "财经"]) == 1.0
    # code tasks: the first line without ``` # // is compared
    assert score_sample("lcc", "```\n# c\nx = 1\n", ["x = 1"]) == 1.0


def test_task_max_gen_and_override() -> None:
    from evals.longbench.tasks import get_task

    assert gen.task_max_gen(get_task("vcsum"), None) == 512
    assert gen.task_max_gen(get_task("vcsum"), 8) == 8


# ---------------------------------------------------------------- out of memory


class TestOutOfMemory:
    def test_is_oom(self) -> None:
        assert is_oom(RuntimeError("CUDA out of memory. Tried to allocate"))
        assert is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: can't allocate memory"))
        assert is_oom(MemoryError())
        assert not is_oom(RuntimeError("shape mismatch"))
        assert not is_oom(ValueError("out of memory"))

    def test_batch_retried_one_by_one(self) -> None:
        runner = FakeRunner(batch_ooms=True)
        out = generate_or_skip(runner, ["a", "b", "c"], gen.gen_params(4, "greedy"))
        assert out == [("段落1\n其他", None)] * 3
        assert [n for n, _ in runner.calls] == [3, 1, 1, 1]

    def test_other_errors_propagate(self) -> None:
        class Broken(FakeRunner):
            def generate(self, *a, **k):
                raise RuntimeError("shape mismatch")

        with pytest.raises(RuntimeError, match="shape"):
            generate_or_skip(Broken(), ["a"], gen.gen_params(4, "greedy"))

    def test_items_that_do_not_fit_are_skipped_and_counted(self) -> None:
        suite = LongBench()
        plan = suite.plan(SuiteOptions(data=SAMPLE_DATA, extra={"tasks": ("passage_retrieval_zh",)}))
        lengths = sorted(
            len(gen.request_text({"context": i.item.context, "input": i.item.input}, "passage_retrieval_zh"))
            for i in plan.items
        )
        runner = FakeRunner(oom_over=lengths[-2])  # only the longest prompt does not fit
        rows = [r for chunk in suite.predict(runner, plan, plan.items, batch_size=2) for r in chunk]
        skipped = [r for r in rows if r["extra"].get("skipped")]
        assert len(skipped) == 1 and skipped[0]["extra"]["skipped"] == OOM_REASON
        assert skipped[0]["pred"] is None and skipped[0]["score"] is None
        m = suite.aggregate(plan, rows)
        assert m["n_items"] == len(plan.items) and m["n_skipped"] == 1 and m["n_scored"] == len(plan.items) - 1
        assert m["skipped_by_reason"] == {OOM_REASON: 1}
        assert m["skipped_by_task"] == {"passage_retrieval_zh": 1}
        assert m["shortest_skipped_tokens"] == lengths[-1] + 1
        assert m["longest_input_tokens"] == lengths[-2] + 1
        assert "passage_retrieval_zh" in m["by_task"]
        # the skip is shown in the JSON items
        assert suite.item_json(skipped[0])["skipped"] == OOM_REASON


# ---------------------------------------------------------------- aggregation = official scorer


def test_aggregate_equals_official_scorer_whatever_the_row_order() -> None:
    """Rows built from the sample prediction files, shuffled as a length-sorted run would store them."""
    expected = score_predictions(SAMPLE_PRED, by_length=True).metrics()
    rows = []
    for task in ZH_TASKS:
        for i, rec in enumerate(load_pred_file(SAMPLE_PRED / f"{task}.jsonl", task)):
            rows.append(
                {
                    "item_id": f"{task}/{rec.id}",
                    "subject": task,
                    "pred": rec.pred,
                    "gold": "",
                    "correct": None,
                    "score": None,
                    "extra": {
                        "id": rec.id,
                        "task": task,
                        "index": i,
                        "answers": list(rec.answers),
                        "all_classes": None if rec.all_classes is None else list(rec.all_classes),
                        "length": rec.length,
                        "prompt_tokens": 10,
                    },
                }
            )
    random.Random(0).shuffle(rows)
    got = LongBench().aggregate(None, rows, by_length=True)
    for key in ("by_task", "by_category", "avg", "by_length", "categories_missing"):
        assert got[key] == expected[key], key
    assert "by_length" not in LongBench().aggregate(None, rows)  # buckets only when asked for
    assert got["n_skipped"] == 0 and got["n_items"] == 31
    rescored = LongBench().rescore_rows(rows)
    assert all(r["score"] is not None for r in rescored)


def test_plan_options() -> None:
    suite = LongBench()
    plan = suite.plan(SuiteOptions(data=SAMPLE_DATA, limit=2))
    assert plan.identity["tasks"] == list(ZH_TASKS)
    assert len(plan.items) == 2 * len(ZH_TASKS)
    assert len({it.key for it in plan.items}) == len(plan.items)
    assert all(it.key == f"{it.item.task}/{it.item.id}" for it in plan.items)
    # --tasks order does not change the identity
    a = suite.plan(SuiteOptions(data=SAMPLE_DATA, extra={"tasks": ("lcc", "lsht")}))
    b = suite.plan(SuiteOptions(data=SAMPLE_DATA, extra={"tasks": ("lsht", "lcc")}))
    assert a.identity == b.identity and a.identity["tasks"] == ["lsht", "lcc"]
    with pytest.raises(UserError, match="no pinned prompt"):
        suite.plan(SuiteOptions(data=SAMPLE_DATA, extra={"tasks": ("hotpotqa",)}))
    with pytest.raises(UserError, match="sampling"):
        suite.plan(SuiteOptions(data=SAMPLE_DATA, extra={"sampling": "beam"}))
    with pytest.raises(UserError, match="unknown LongBench task"):
        suite.plan(SuiteOptions(data=SAMPLE_DATA, extra={"tasks": ("nope",)}))
