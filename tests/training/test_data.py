"""Training data formats: parsing, validation errors (file, line, field), masking, truncation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UserError
from training import data as D

RES = Path(__file__).resolve().parents[2] / "training" / "resources"


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_shipped_samples_parse():
    convs, _, fmt = D.load_sft(RES / "sft_sample.csv")
    assert fmt == "llama2-csv" and 40 <= len(convs) <= 80
    assert any(len(c.turns) == 4 for c in convs)  # multi-turn rows exist
    convs, _, fmt = D.load_sft(RES / "alpaca_sample.jsonl")
    assert fmt == "alpaca" and 40 <= len(convs) <= 80
    samples, _ = D.load_corpus(RES / "corpus_zh.txt")
    assert len(samples) > 20


def test_llama2_multiturn_parsing():
    turns = D.parse_llama2_text(
        "<s>Human: 你好\n</s><s>Assistant: 你好！\n</s><s>Human: 再见\n</s><s>Assistant: 再见。</s>"
    )
    assert turns == (("user", "你好"), ("assistant", "你好！"), ("user", "再见"), ("assistant", "再见。"))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("<s>Assistant: 答\n</s>", "should be `<s>Human"),
        ("<s>Human: 问\n</s>", "last turn is Human"),
        ("你好", "unexpected text"),
        ("<s>Human: 问\n</s><s>Assistant: 答", "missing </s>"),
    ],
)
def test_llama2_bad_rows(text, problem):
    with pytest.raises(D.DataError, match=problem):
        D.parse_llama2_text(text, "x.csv", 3)


def test_errors_name_file_line_field(tmp_path):
    bad = tmp_path / "a.jsonl"
    bad.write_text('{"instruction": "问", "output": "答"}\n{"instruction": "问"}\n', encoding="utf-8")
    with pytest.raises(D.DataError) as e:
        D.load_sft(bad)
    assert f"{bad}:2 field 'output': missing" in str(e.value)
    bad.write_text('{"instruction": "问", "output": 3}\n', encoding="utf-8")
    with pytest.raises(D.DataError, match=r":1 field 'output': must be a string"):
        D.load_sft(bad)
    bad.write_text('{"instruction": "问", "output": "答"\n', encoding="utf-8")
    with pytest.raises(D.DataError, match=r":1: invalid JSON"):
        D.load_sft(bad)
    arr = tmp_path / "b.json"
    arr.write_text(
        json.dumps([{"instruction": "问", "output": "答"}, {"instruction": "", "output": "答"}]), encoding="utf-8"
    )
    with pytest.raises(D.DataError, match=r"\(item 1\) field 'instruction': empty"):
        D.load_sft(arr)
    csvf = tmp_path / "c.csv"
    csvf.write_text("prompt\nx\n", encoding="utf-8")
    with pytest.raises(D.DataError, match=r"c.csv:1 field 'text': missing column"):
        D.load_sft(csvf)
    pt = tmp_path / "p.jsonl"
    pt.write_text('{"text": "好"}\n{"content": "x"}\n', encoding="utf-8")
    with pytest.raises(D.DataError, match=r"p.jsonl:2 field 'text'"):
        D.load_corpus(pt)


def test_empty_inputs(tmp_path):
    (tmp_path / "e.txt").write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        D.load_corpus(tmp_path / "e.txt")
    (tmp_path / "e.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        D.load_sft(tmp_path / "e.jsonl")
    with pytest.raises(UserError, match="does not exist"):
        D.load_sft(tmp_path / "missing.csv")


def test_alpaca_masking_matches_cla2(tok):
    conv = D.Conversation((("user", "写一句话\n关于春天"), ("assistant", "春天来了。")), "x", "alpaca")
    enc = D.encode_sft(tok, [conv], 512)
    ids, labels = enc.input_ids[0], enc.labels[0]
    src = [tok.bos_token_id] + tok(
        D.CLA2_TEMPLATE.format(instruction="写一句话\n关于春天"), add_special_tokens=False
    ).input_ids
    assert ids[: len(src)] == src and ids.count(tok.bos_token_id) == 1
    assert labels[: len(src)] == [D.IGNORE_INDEX] * len(src)
    assert labels[len(src) :] == ids[len(src) :] and ids[-1] == tok.eos_token_id
    assert tok.decode([i for i in labels if i != D.IGNORE_INDEX], skip_special_tokens=True).strip() == "春天来了。"


def test_llama2_masking_multiturn_no_double_bos(tok):
    turns = D.parse_llama2_text(
        "<s>Human: 问一\n</s><s>Assistant: 答一\n</s><s>Human: 问二\n</s><s>Assistant: 答二\n</s>"
    )
    enc = D.encode_sft(tok, [D.Conversation(turns, "x", "llama2-csv")], 512)
    ids, labels = enc.input_ids[0], enc.labels[0]
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id  # one BOS, not two
    trained = tok.decode([i for i in labels if i != D.IGNORE_INDEX], skip_special_tokens=True)
    assert "答一" in trained and "答二" in trained and "问" not in trained and "Human" not in trained
    assert ids.count(tok.eos_token_id) == 4


def test_truncation_is_counted_and_empty_answers_dropped(tok):
    src = 1 + len(tok(D.CLA2_TEMPLATE.format(instruction="问" * 10), add_special_tokens=False).input_ids)
    limit = src + 16
    long = D.Conversation((("user", "问" * 10), ("assistant", "答" * 400)), "x", "alpaca")
    prompt_only = D.Conversation((("user", "问" * 300), ("assistant", "答")), "y", "alpaca")
    enc = D.encode_sft(tok, [long, prompt_only], limit)
    assert enc.truncated == 2 and enc.dropped == 1 and len(enc.input_ids) == 1 and len(enc.input_ids[0]) == limit
    with pytest.raises(UserError, match="raise --max-length"):
        D.encode_sft(tok, [prompt_only], limit)


def test_pack_corpus_blocks(tok):
    enc = D.pack_corpus(tok, ["今天天气很好。", "我们去公园散步。"] * 20, 32)
    assert all(len(b) == 32 for b in enc.input_ids) and enc.labels == enc.input_ids
    short = D.pack_corpus(tok, ["你好"], 512)
    assert len(short.input_ids) == 1 and short.input_ids[0][0] == tok.bos_token_id
