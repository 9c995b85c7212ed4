"""The text -> token layer shared by the hf and vllm backends, on the real tiny model's tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runners._text import ChoiceIds, TokenText
from runners.errors import ModelLoadError


def _tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


@pytest.fixture(scope="module")
def tok(runner_model_dir: Path) -> Any:
    return _tokenizer(runner_model_dir)


@pytest.fixture(scope="module")
def text(tok: Any) -> TokenText:
    return TokenText(tok, source="tiny")


def test_bos_pad_and_plain_encoding(text: TokenText, tok: Any) -> None:
    assert text.bos_token_id == tok.bos_token_id and text.adds_bos
    assert text.pad_id == next(i for i in (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) if i is not None)
    texts = ["中国的首都是北京。", "A", "大语言模型"]
    with_bos = text.encode(texts)
    bare = text.encode(texts, specials=False)
    assert with_bos == [tok(t)["input_ids"] for t in texts]
    assert [ids[0] for ids in with_bos] == [tok.bos_token_id] * 3
    assert bare == [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert [ids[1:] for ids in with_bos] == bare
    assert text.encode([]) == []
    assert text.count("中国的首都是北京。") == len(with_bos[0])
    # decode drops the specials; a bare encoding round-trips on this text
    assert text.decode(with_bos[0]) == text.decode(bare[0]) == "中国的首都是北京。"
    # no truncation at the tokenizer's nominal maximum
    long = "长" * (tok.model_max_length + 50 if tok.model_max_length < 10**6 else 3000)
    assert text.count(long) == len(tok(long)["input_ids"])


def test_pair_windows(text: TokenText) -> None:
    ctx, cont = "中国的首都是", "北京"
    [(seq, first)] = text.pair_windows([(ctx, cont)], max_length=512)
    c_ids, x_ids = text.encode([ctx])[0], text.encode([cont], specials=False)[0]
    assert list(seq) == c_ids + x_ids and first == len(c_ids)
    # the continuation's pieces do not depend on the context (tokenized apart)
    [(seq2, first2)] = text.pair_windows([("问题：", cont)], max_length=512)
    assert list(seq2)[first2:] == x_ids
    # empty context -> [BOS]
    [(seq3, first3)] = text.pair_windows([("", cont)], max_length=512)
    assert list(seq3) == [text.bos_token_id, *x_ids] and first3 == 1
    # too long: context cut from the left, the continuation kept whole
    [(seq4, first4)] = text.pair_windows([(ctx, cont)], max_length=len(x_ids) + 2)
    assert list(seq4) == (c_ids + x_ids)[-(len(x_ids) + 2) :] and first4 == 2
    with pytest.raises(ValueError, match="does not fit max_length"):
        text.pair_windows([(ctx, cont)], max_length=len(x_ids))
    # the id-level entry point gives the same windows
    assert text.id_pair_windows([(c_ids, x_ids)], 512) == text.pair_windows([(ctx, cont)], 512)


def test_document_and_rolling_windows(text: TokenText) -> None:
    docs = ["今天天气很好，我们去公园散步吧。" * 3, "短句"]
    ids = text.document_ids(docs)
    assert ids == [[text.bos_token_id, *x] for x in text.encode(docs, specials=False)]
    windows, owner = text.rolling_windows(docs, max_length=8, stride=None)
    assert sorted(set(owner)) == [0, 1] and len(windows) == len(owner)
    for d, doc_ids in enumerate(ids):
        mine = [w for w, o in zip(windows, owner, strict=True) if o == d]
        # every token after BOS scored exactly once, each window within max_length
        assert sum(len(w) - first for w, first in mine) == len(doc_ids) - 1
        assert all(len(w) <= 8 and first >= 1 for w, first in mine)
        scored = [tok for w, first in mine for tok in list(w)[first:]]
        assert scored == doc_ids[1:]


def test_chat_rendering_and_generation_ids(text: TokenText, tok: Any) -> None:
    messages = [{"role": "system", "content": "你是助手。"}, {"role": "user", "content": "你好"}]
    rendered = text.render_chat(messages, model="tiny")
    assert not rendered.startswith(tok.bos_token)  # the verbs' tokenization adds the one BOS
    raw = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert raw.removeprefix(tok.bos_token) == rendered
    history = [*messages, {"role": "assistant", "content": "答"}]
    assert text.render_chat(history, model="tiny") == tok.apply_chat_template(
        history, add_generation_prompt=False, tokenize=False
    ).removeprefix(tok.bos_token)
    ids = text.generation_ids("你好", chat=True, system="你是助手。", model="tiny")
    assert ids == tok(rendered)["input_ids"] and ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id
    assert text.generation_ids("你好", chat=False, system="ignored", model="tiny") == tok("你好")["input_ids"]


def test_chat_without_template_is_a_value_error(runner_model_dir: Path) -> None:
    plain = _tokenizer(runner_model_dir)
    plain.chat_template = None
    with pytest.raises(ValueError, match="model tiny has no chat template"):
        TokenText(plain, source="tiny").render_chat([{"role": "user", "content": "你好"}], model="tiny")


def test_choice_ids(text: TokenText, tok: Any) -> None:
    letters = ("A", "B", "C", "D")
    cla2 = text.choice_ids(letters, "cla2")
    for c in cla2:
        assert c.ids == (tok.encode(c.label, add_special_tokens=False)[0], tok.encode("：" + c.label)[-1])
    logprob = text.choice_ids(letters, "logprob")
    assert [c.ids for c in logprob] == [tuple(dict.fromkeys(c.ids)) for c in cla2]  # distinct ids only
    assert text.choice_ids(["A"], "bare_logit") == [ChoiceIds("A", (tok.convert_tokens_to_ids("A"),))]
    with pytest.raises(ValueError, match="not a single vocabulary piece"):
        text.choice_ids(["不存在的长标签"], "bare_logit")
    with pytest.raises(ValueError, match="unknown choice scoring"):
        text.choice_ids(letters, "nope")  # type: ignore[arg-type]


def test_tokenizer_without_bos_or_eos_is_a_load_error(runner_model_dir: Path) -> None:
    bare = _tokenizer(runner_model_dir)
    bare.bos_token = None
    bare.eos_token = None
    with pytest.raises(ModelLoadError, match="tiny: tokenizer has neither a BOS nor an EOS token"):
        TokenText(bare, source="tiny")
