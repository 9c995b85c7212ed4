"""HFRunner on a real tiny Llama: every verb checked against an independent computation."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import pytest
import torch

from runners._kv_prefix import plan_prefix_groups
from runners.base import GenParams
from runners.errors import ModelLoadError
from runners.hf import HFRunner

TOL = 1e-4
LETTERS = ("A", "B", "C", "D")

_QUESTIONS = [
    ("计算机网络中，传输层的协议是", "传输控制协议", "网际协议", "以太网", "超文本"),
    ("操作系统的主要功能是", "管理资源", "编译程序", "绘制图形", "发送邮件"),
    ("中国的首都是", "上海", "北京", "广州", "深圳"),
    ("大语言模型通常先进行", "指令精调", "预训练", "剪枝", "蒸馏"),
    ("下列属于数据结构的是", "栈", "网关", "路由", "端口"),
    ("二进制数10等于十进制的", "1", "2", "3", "4"),
    ("用户数据报协议的英文缩写是", "TCP", "UDP", "IP", "HTTP"),
    ("以下哪一项是输入设备", "键盘", "显示器", "音箱", "打印机"),
]


def _question(q: tuple[str, ...]) -> str:
    return f"{q[0]}\nA. {q[1]}\nB. {q[2]}\nC. {q[3]}\nD. {q[4]}"


def five_shot(subject: str, test: tuple[str, ...]) -> tuple[str, str]:
    """A CLA2-style 5-shot prompt (PROTOCOLS.md §1.3) and its exemplar block as the prefix hint."""
    head = f"以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n"
    shots = "".join(f"{_question(q)}\n答案：{LETTERS[i % 4]}\n\n" for i, q in enumerate(_QUESTIONS[:5]))
    return head + shots + _question(test) + "\n答案：", head + shots


@pytest.fixture(scope="module")
def mixed_prompts() -> list[str]:
    """Prompts of very different lengths, so batches carry real padding."""
    return [
        "答案：",
        _question(_QUESTIONS[2]) + "\n答案：",
        five_shot("computer_network", _QUESTIONS[6])[0],
        "中国的首都是",
        _question(_QUESTIONS[0]) + "\n" + _question(_QUESTIONS[1]) + "\n答案：",
        "A",
    ]


def _close(a: dict[str, float], b: dict[str, float], tol: float = TOL) -> bool:
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= tol for k in a)


def _argmax(scores: dict[str, float]) -> str:
    return max(LETTERS, key=lambda k: scores[k])  # first max on ties, as numpy's argmax


@torch.inference_mode()
def _direct_last_logits(runner: HFRunner, ids: list[int]) -> torch.Tensor:
    """(V,) logits after `ids`: one unpadded batch-1 forward pass, no runner code involved."""
    out = runner.model(input_ids=torch.tensor([ids], device=runner.device))
    return out.logits[0, -1].float()


# ---------------------------------------------------------------------------------------------- basics


def test_runner_protocol_and_info(runner: HFRunner, runner_model_dir: Path) -> None:
    info = runner.info
    params = list(runner.model.parameters())
    assert info.backend == "hf" and info.device == "cpu" and info.dtype == "float32"
    assert info.n_params == sum(p.numel() for p in params) > 0
    # persistent buffers only: the tiny Llama has none (RoPE's inv_freq is recomputed, not stored)
    assert {n for n, _ in runner.model.named_buffers()} >= {"model.rotary_emb.inv_freq"}
    assert info.weight_bytes == 4 * info.n_params
    config = json.loads((runner_model_dir / "config.json").read_text())
    assert info.max_length == config["max_position_embeddings"]
    assert info.vocab_size == len(runner.tokenizer)
    assert info.has_chat_template
    assert not runner.model.training
    assert runner.count_tokens("中国") == len(runner.tokenizer("中国")["input_ids"])


def test_max_length_override(runner_model_dir: Path) -> None:
    assert HFRunner(str(runner_model_dir), max_length=64).info.max_length == 64


def test_load_errors(tmp_path: Path, runner_model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        HFRunner(str(tmp_path / "nope"))
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(ModelLoadError, match=r"not a causal LM .*BertModel"):
        HFRunner(str(bert))
    # int8/int4 run on CPU through optimum-quanto (tests/evals/test_quant.py); unknown modes name the supported ones.
    with pytest.raises(ModelLoadError, match="quantization int3 not supported on cpu; supported: none, int8, int4"):
        HFRunner(str(runner_model_dir), quant="int3")


# ---------------------------------------------------------------------------------------------- choices


@pytest.mark.parametrize("scoring", ["cla2", "logprob", "bare_logit"])
def test_batched_equals_unbatched(runner: HFRunner, mixed_prompts: list[str], scoring: str) -> None:
    batched = runner.choice_logprobs(mixed_prompts, LETTERS, scoring=scoring, batch_size=len(mixed_prompts))
    for prompt, got in zip(mixed_prompts, batched, strict=True):
        alone = runner.choice_logprobs([prompt], LETTERS, scoring=scoring, batch_size=1)[0]
        assert _close(got, alone), (scoring, prompt, got, alone)


def test_batch_order_independent(runner: HFRunner, mixed_prompts: list[str]) -> None:
    reference = runner.choice_logprobs(mixed_prompts, LETTERS, scoring="cla2", batch_size=3)
    order = list(range(len(mixed_prompts)))
    random.Random(7).shuffle(order)
    shuffled = runner.choice_logprobs([mixed_prompts[i] for i in order], LETTERS, scoring="cla2", batch_size=4)
    for pos, i in enumerate(order):
        assert _close(shuffled[pos], reference[i])


def test_cla2_matches_hand_reference(runner: HFRunner, mixed_prompts: list[str]) -> None:
    tok = runner.tokenizer
    got = runner.choice_logprobs(mixed_prompts, LETTERS, scoring="cla2", batch_size=4)
    for prompt, scores in zip(mixed_prompts, got, strict=True):
        ids = tok(prompt)["input_ids"]
        logits = _direct_last_logits(runner, ids).tolist()
        for tid in set(ids):  # PROTOCOLS.md §1.5 step 2, written out by hand
            logits[tid] = logits[tid] * 1.1 if logits[tid] < 0 else logits[tid] / 1.1
        for letter in LETTERS:
            id1 = tok.encode(letter, add_special_tokens=False)[0]
            id2 = tok.encode("：" + letter)[-1]
            assert abs(scores[letter] - (logits[id1] + logits[id2])) <= TOL


def test_bare_logit_is_raw_logit(runner: HFRunner, mixed_prompts: list[str]) -> None:
    tok = runner.tokenizer
    got = runner.choice_logprobs(mixed_prompts[:3], LETTERS, scoring="bare_logit")
    for prompt, scores in zip(mixed_prompts[:3], got, strict=True):
        logits = _direct_last_logits(runner, tok(prompt)["input_ids"])
        for letter in LETTERS:
            assert abs(scores[letter] - float(logits[tok.convert_tokens_to_ids(letter)])) <= TOL


def test_logprob_mode_equals_loglikelihood(runner: HFRunner, mixed_prompts: list[str]) -> None:
    tok = runner.tokenizer
    mixed_prompts = [p for i, p in enumerate(mixed_prompts) if i != 2]  # the long 5-shot one adds only time
    got = runner.choice_logprobs(mixed_prompts, LETTERS, scoring="logprob", batch_size=4)
    choices = runner.text.choice_ids(LETTERS, "logprob")
    # Independent path: one loglikelihood request per (prompt, choice token).
    requests = [(tok(p)["input_ids"], [tid]) for p in mixed_prompts for c in choices for tid in c.ids]
    lls = iter(lp for lp, _ in runner.loglikelihood_tokens(requests, batch_size=16))
    # The text-level verb reads the same first piece ("▁A") as id1.
    text_lls = iter(lp for lp, _ in runner.loglikelihood([(p, c) for p in mixed_prompts for c in LETTERS]))
    for scores in got:
        for choice in choices:
            lps = [next(lls) for _ in choice.ids]
            assert abs(scores[choice.label] - math.log(sum(math.exp(x) for x in lps))) <= TOL
            assert abs(next(text_lls) - lps[0]) <= TOL


# ---------------------------------------------------------------------------------------------- prefix reuse


@pytest.fixture(scope="module")
def five_shot_prompts() -> tuple[list[str], list[str | None]]:
    prompts: list[str] = []
    hints: list[str | None] = []
    for subject in ("computer_network", "operating_system"):
        for i in range(10):
            prompt, hint = five_shot(subject, _QUESTIONS[i % len(_QUESTIONS)])
            if i == 9:  # a question variant, so suffixes differ in length
                prompt = prompt.removesuffix("\n答案：") + "（单选）\n答案："
            prompts.append(prompt)
            hints.append(hint)
    # A hint that is no token boundary of the prompts (it ends inside the piece "答案"), a lone
    # hinted prompt and an unhinted one: all must come out exactly as without hints.
    prompt, hint = five_shot("logic", _QUESTIONS[3])
    mid_piece = hint[: hint.rindex("答案") + 1]
    prompts += [prompt, five_shot("logic", _QUESTIONS[4])[0], five_shot("law", _QUESTIONS[5])[0], "答案："]
    hints += [mid_piece, mid_piece, "law-only", None]
    return prompts, hints


def test_prefix_reuse_equals_no_reuse(runner: HFRunner, five_shot_prompts: tuple[list[str], list[str | None]]) -> None:
    prompts, hints = five_shot_prompts
    ids = [runner.tokenizer(p)["input_ids"] for p in prompts]
    groups, rest = plan_prefix_groups(ids, hints)
    assert len(groups) == 3 and sorted(rest) == [len(prompts) - 2, len(prompts) - 1]  # reuse really happens
    assert all(len(g.prefix) >= 50 for g in groups)
    # cla2: the penalty must still see the whole prompt's ids when only the suffix ran.
    plain = runner.choice_logprobs(prompts, LETTERS, scoring="cla2", batch_size=4)
    reused = runner.choice_logprobs(prompts, LETTERS, scoring="cla2", prefixes=hints, batch_size=4)
    for a, b in zip(plain, reused, strict=True):
        assert _close(a, b)
        assert _argmax(a) == _argmax(b)


def test_prefix_reuse_logprob_mode(runner: HFRunner, five_shot_prompts: tuple[list[str], list[str | None]]) -> None:
    prompts, hints = (x[-6:] for x in five_shot_prompts)  # 2 groups (one mid-piece hint), a lone and an unhinted prompt
    plain = runner.choice_logprobs(prompts, LETTERS, scoring="logprob", batch_size=3)
    reused = runner.choice_logprobs(prompts, LETTERS, scoring="logprob", prefixes=hints, batch_size=3)
    assert all(_close(a, b) for a, b in zip(plain, reused, strict=True))


def test_prefix_reuse_keeps_one_suffix_token(runner: HFRunner) -> None:
    # Identical prompts: the whole prompt is common, yet the last token must still be run.
    prompt, hint = five_shot("computer_network", _QUESTIONS[0])
    plain = runner.choice_logprobs([prompt], LETTERS, scoring="cla2")[0]
    reused = runner.choice_logprobs([prompt] * 3, LETTERS, scoring="cla2", prefixes=[hint] * 3, batch_size=2)
    assert all(_close(plain, r) for r in reused)


def test_prefix_cache_reused_across_calls(runner: HFRunner) -> None:
    # predict_mc calls choice_logprobs once per chunk of a subject: the 2nd chunk must reuse the 1st
    # chunk's prefix KV (no new prefix pass) and give exactly what one call over all prompts gives.
    built = [five_shot("cache_subject", q) for q in _QUESTIONS]
    prompts, hints = [p for p, _ in built], [h for _, h in built]
    plain = runner.choice_logprobs(prompts, LETTERS, scoring="cla2", batch_size=2)
    runner.clear_prefix_cache()
    before = dict(runner.stats)
    whole = runner.choice_logprobs(prompts, LETTERS, scoring="cla2", prefixes=hints, batch_size=2)
    assert runner.stats["prefix_misses"] == before["prefix_misses"] + 1
    runner.clear_prefix_cache()
    before = dict(runner.stats)
    first = runner.choice_logprobs(prompts[:4], LETTERS, scoring="cla2", prefixes=hints[:4], batch_size=2)
    ((cached_prefix, kv),) = runner._prefix_cache.items()
    snapshot = [(k.clone(), v.clone()) for k, v in kv]
    second = runner.choice_logprobs(prompts[4:], LETTERS, scoring="cla2", prefixes=hints[4:], batch_size=2)
    assert runner.stats["prefix_misses"] == before["prefix_misses"] + 1  # one prefix pass for both calls
    assert runner.stats["prefix_hits"] == before["prefix_hits"] + 1
    for a, b, c in zip(plain, whole, first + second, strict=True):
        assert _close(a, b) and _close(a, c) and _argmax(a) == _argmax(b) == _argmax(c)
    # The cached KV is never written into by the suffix passes ...
    assert list(runner._prefix_cache) == [cached_prefix]
    assert all(torch.equal(k, k0) and torch.equal(v, v0) for (k, v), (k0, v0) in zip(kv, snapshot, strict=True))
    # ... and a hit gives exactly what a fresh prefix pass gives.
    runner.clear_prefix_cache()
    assert runner.choice_logprobs(prompts[4:], LETTERS, scoring="cla2", prefixes=hints[4:], batch_size=2) == second


def test_prefix_cache_disabled_and_lru(runner: HFRunner) -> None:
    built_a = [five_shot("lru_a", q) for q in _QUESTIONS[:3]]
    built_b = [five_shot("lru_b", q) for q in _QUESTIONS[:3]]

    def call(built: list[tuple[str, str]]) -> list[dict[str, float]]:
        return runner.choice_logprobs([p for p, _ in built], LETTERS, prefixes=[h for _, h in built], batch_size=2)

    size = runner.prefix_cache_size
    try:
        runner.prefix_cache_size = 0
        runner.clear_prefix_cache()
        misses = runner.stats["prefix_misses"]
        ref_a, ref_b = call(built_a), call(built_a)
        assert runner.stats["prefix_misses"] == misses + 2 and not runner._prefix_cache
        assert ref_a == ref_b
        runner.prefix_cache_size = 1
        misses = runner.stats["prefix_misses"]
        call(built_a), call(built_b)
        assert call(built_a) == ref_a  # evicted by lru_b: recomputed, same result
        assert runner.stats["prefix_misses"] == misses + 3 and len(runner._prefix_cache) == 1
    finally:
        runner.prefix_cache_size = size
        runner.clear_prefix_cache()


def test_suffix_batches_token_budget() -> None:
    from runners._kv_prefix import suffix_batches

    lens = [5, 9, 7, 7, 3, 8, 6, 9, 4, 5] * 7  # 70 suffixes
    for prefix_len, batch_size in [(0, 4), (200, 4), (200, 8), (4000, 8), (300, 1)]:
        batches = suffix_batches(lens, prefix_len, batch_size)
        assert sorted(i for b in batches for i in b) == list(range(len(lens)))  # each exactly once
        flat = [lens[i] for b in batches for i in b]
        assert flat == sorted(flat, reverse=True)  # longest first
        for b in batches[:-1]:
            longest = lens[b[0]]
            assert batch_size <= len(b) <= 4 * batch_size
            if len(b) > batch_size:  # grown beyond batch_size: within the token and KV budgets
                assert len(b) * longest <= batch_size * (prefix_len + longest)
                assert len(b) * (prefix_len + longest) <= max(batch_size * (prefix_len + longest), 16384)
    assert [len(b) for b in suffix_batches(lens, 0, 4)] == [4] * 17 + [2]  # no prefix: no extra rows
    assert max(len(b) for b in suffix_batches(lens, 200, 4)) == 16
    with pytest.raises(ValueError):
        suffix_batches(lens, 10, 0)


def test_prefix_length_mismatch_raises(runner: HFRunner) -> None:
    with pytest.raises(ValueError, match="prefixes"):
        runner.choice_logprobs(["a", "b"], LETTERS, prefixes=["a"])


# ---------------------------------------------------------------------------------------------- likelihoods


def test_loglikelihood_matches_direct(runner: HFRunner) -> None:
    tok = runner.tokenizer
    pairs = [("中国的首都是", "北京"), ("答案：", "A"), (_question(_QUESTIONS[1]), "\n答案：B"), ("", "中国")]
    got = runner.loglikelihood(pairs, batch_size=2)
    for (ctx, cont), (lp, greedy) in zip(pairs, got, strict=True):
        ctx_ids = tok(ctx)["input_ids"] or [runner.bos_token_id]
        cont_ids = tok(cont, add_special_tokens=False)["input_ids"]
        ids = ctx_ids + cont_ids
        with torch.inference_mode():
            logits = runner.model(input_ids=torch.tensor([ids])).logits[0].float()  # (T, V)
        logp = torch.log_softmax(logits, dim=-1)
        positions = range(len(ctx_ids), len(ids))
        assert abs(lp - sum(float(logp[p - 1, ids[p]]) for p in positions)) <= TOL
        assert greedy == all(int(logits[p - 1].argmax()) == ids[p] for p in positions)
    assert runner.loglikelihood([("中国", "")]) == [(0.0, True)]


def test_rolling_equals_single_window_when_text_fits(runner: HFRunner) -> None:
    text = "大语言模型通过预训练学习语言规律，再经过指令精调回答问题。"
    ids = [runner.bos_token_id, *runner.tokenizer(text, add_special_tokens=False)["input_ids"]]
    with torch.inference_mode():
        logp = torch.log_softmax(runner.model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
    direct = sum(float(logp[p - 1, ids[p]]) for p in range(1, len(ids)))
    ((total, n),) = runner.rolling_loglikelihood([text], max_length=len(ids) + 5)
    assert n == len(ids) - 1 and abs(total - direct) <= TOL


def test_rolling_with_stride_scores_every_token_once(runner: HFRunner) -> None:
    texts = ["".join(_question(q) for q in _QUESTIONS[:3]), "中国", ""]
    n_tokens = [1 + len(runner.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    for max_length, stride in [(16, 5), (7, None)]:
        got = runner.rolling_loglikelihood(texts, max_length, stride, batch_size=3)
        assert [n for _, n in got] == [n - 1 for n in n_tokens]
        assert got[2] == (0.0, 0)
    # More context can only be judged loosely, but the windows must give a finite, negative total.
    assert all(math.isfinite(t) and t < 0 for t, _ in runner.rolling_loglikelihood(texts[:2], 16, 3))


def test_token_logprobs_chunk_mode(runner: HFRunner) -> None:
    # llama.cpp chunk mode: first token replaced by BOS, second half scored.
    text = "".join(_question(q) for q in _QUESTIONS)
    ids = runner.tokenizer(text, add_special_tokens=False)["input_ids"]
    n_ctx = 12
    assert len(ids) >= 2 * n_ctx
    chunk = [runner.bos_token_id, *ids[1:n_ctx]]
    (lps,) = runner.token_logprobs([(chunk, n_ctx // 2 + 1)])
    with torch.inference_mode():
        logp = torch.log_softmax(runner.model(input_ids=torch.tensor([chunk])).logits[0].float(), dim=-1)
    expected = [float(logp[p - 1, chunk[p]]) for p in range(n_ctx // 2 + 1, n_ctx)]
    assert lps.shape == (len(expected),)
    assert max(abs(a - b) for a, b in zip(lps.tolist(), expected, strict=True)) <= TOL
    # with_greedy only adds the greedy flags; the log-probs are the same computation.
    ((lps2, greedy),) = runner.token_logprobs([(chunk, n_ctx // 2 + 1)], with_greedy=True)
    assert torch.equal(lps, lps2) and greedy.dtype == torch.bool and greedy.shape == lps.shape


# ---------------------------------------------------------------------------------------------- generation


def test_generate_greedy_deterministic_and_batch_invariant(runner: HFRunner, mixed_prompts: list[str]) -> None:
    params = GenParams(max_new_tokens=12)
    target = "中国的首都是"
    alone = runner.generate([target], params)
    again = runner.generate([target], params)
    batched = runner.generate([mixed_prompts[4], target, mixed_prompts[1]], params, batch_size=3)
    assert alone == again and batched[1] == alone[0]
    assert isinstance(alone[0], str) and alone[0]


def test_generate_sampling_is_seeded(runner: HFRunner) -> None:
    prompts = ["中国的首都是", "操作系统"]
    params = GenParams(max_new_tokens=10, temperature=1.0, top_p=0.95, top_k=50, seed=123)
    state = torch.random.get_rng_state()
    first = runner.generate(prompts, params)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is left alone
    assert runner.generate(prompts, params) == first


def test_generate_stop_strings(runner: HFRunner) -> None:
    free = runner.generate(["中国的首都是"], GenParams(max_new_tokens=16))[0]
    assert len(free) >= 2
    stop = free[1]  # a character the greedy output is known to contain
    cut = runner.generate(["中国的首都是"], GenParams(max_new_tokens=16, stop=(stop,)))[0]
    assert cut == free[: free.index(stop)]


def test_chat_single_bos_and_no_template_error(runner: HFRunner, runner_model_dir: Path, tmp_path: Path) -> None:
    system = "你是一个乐于助人的助手。"
    ids = runner.text.generation_ids("你好", chat=True, system=system, model=runner.info.name)
    bos = runner.tokenizer.bos_token_id
    assert ids[0] == bos and ids[1] != bos
    # apply_chat_template: BOS left to the tokenizer; generation prompt only after a user turn.
    history = [
        {"role": "system", "content": system},
        {"role": "user", "content": "问"},
        {"role": "assistant", "content": "答"},
    ]
    prefix = runner.apply_chat_template(history)
    full = runner.apply_chat_template([*history, {"role": "user", "content": "再问"}])
    assert full.startswith(prefix) and not full.startswith(runner.tokenizer.bos_token)
    assert runner.tokenizer(full)["input_ids"].count(bos) == full.count(runner.tokenizer.bos_token) + 1
    assert runner.generate(["你好"], GenParams(max_new_tokens=4), chat=True)[0] is not None

    plain = tmp_path / "no-template"
    shutil.copytree(runner_model_dir, plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((plain / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(cfg))
    no_template = HFRunner(str(plain), name="plain")
    assert not no_template.info.has_chat_template
    with pytest.raises(ValueError, match="model plain has no chat template"):
        no_template.generate(["你好"], chat=True)


def test_tokenizer_not_mutated(runner: HFRunner, mixed_prompts: list[str]) -> None:
    pad_before = runner.tokenizer.pad_token
    runner.choice_logprobs(mixed_prompts, LETTERS, batch_size=4)
    runner.generate(mixed_prompts[:2], GenParams(max_new_tokens=2))
    assert runner.tokenizer.pad_token == pad_before
