"""Vocabulary extension: more characters per token, resized model, LoRA trains embeddings then."""

from __future__ import annotations

from pathlib import Path

RES = Path(__file__).resolve().parents[2] / "training" / "resources"


def test_extend_vocab_and_lora_modules_to_save(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.configs import TINY_LORA, TINY_SFT, apply_overrides, sft_defaults
    from training.sft import sft
    from training.tokenizer_ext import chars_per_token, extend

    corpus = tmp_path / "c.txt"
    corpus.write_text(
        "\n\n".join(["量子纠缠实验室里，研究员观测光子偏振。", "鲲鹏展翅九万里，扶摇直上。"] * 10), encoding="utf-8"
    )
    name, out, lin = extend(tiny_model_dir, corpus, 20, out=tmp_path / "ext", log=lambda *a: None)
    old, new = AutoTokenizer.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(out)
    assert lin["added"] == 20 and len(new) == len(old) + 20
    assert lin["chars_per_token_after"] > lin["chars_per_token_before"] * 1.2
    texts = corpus.read_text(encoding="utf-8").split("\n\n")
    assert chars_per_token(new, texts) > chars_per_token(old, texts)
    # text the base already handles is tokenised unchanged (new merges rank after the old ones)
    plain = "清晨六点，城市还没有完全醒来。"
    assert old.decode(old(plain).input_ids, skip_special_tokens=True) == new.decode(
        new(plain).input_ids, skip_special_tokens=True
    )
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.get_input_embeddings().num_embeddings == len(new)
    # LoRA on the extended base trains embed_tokens and lm_head (CLA2's modules_to_save)
    params = apply_overrides(sft_defaults(), {**TINY_SFT, "lora": TINY_LORA, "steps": 1}, source="t")
    _, adir, slin = sft(
        out, RES / "alpaca_sample.jsonl", params=params, out=tmp_path / "a", progress=False, log=lambda *a: None
    )
    assert slin["modules_to_save"] == ["embed_tokens", "lm_head"] and slin["vocab_grew"]
    from runners.hf import HFRunner

    r = HFRunner(str(out), device="cpu", adapter_path=str(adir))
    assert len(r.tokenizer) == len(new)


def test_tokenizer_cli_reports_chars_per_token(tiny_model_dir, tmp_path, capsys):
    from evals.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(["鲲鹏展翅九万里。"] * 5), encoding="utf-8")
    main(["train", "tokenizer", "--base", str(tiny_model_dir), "--corpus", str(corpus), "--add", "3",
          "--out", str(tmp_path / "o"), "--db", f"sqlite:///{tmp_path / 'd.db'}"])  # fmt: skip
    assert "characters per token" in capsys.readouterr().out
