"""The tiny checkpoint (tokenizer properties the C-Eval scorer relies on, model, determinism,
cache) and the embedded C-Eval sample data."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training import tiny as T

ROOT = Path(__file__).resolve().parents[2]

# The 52 C-Eval subject handles by category (C-Eval subject_mapping.json), used to check the sample.
CEVAL_CATEGORIES: dict[str, set[str]] = {
    "STEM": {
        "computer_network",
        "operating_system",
        "computer_architecture",
        "college_programming",
        "college_physics",
        "college_chemistry",
        "advanced_mathematics",
        "probability_and_statistics",
        "discrete_mathematics",
        "electrical_engineer",
        "metrology_engineer",
        "high_school_mathematics",
        "high_school_physics",
        "high_school_chemistry",
        "high_school_biology",
        "middle_school_mathematics",
        "middle_school_biology",
        "middle_school_physics",
        "middle_school_chemistry",
        "veterinary_medicine",
    },
    "Social Science": {
        "college_economics",
        "business_administration",
        "marxism",
        "mao_zedong_thought",
        "education_science",
        "teacher_qualification",
        "high_school_politics",
        "high_school_geography",
        "middle_school_politics",
        "middle_school_geography",
    },
    "Humanities": {
        "modern_chinese_history",
        "ideological_and_moral_cultivation",
        "logic",
        "law",
        "chinese_language_and_literature",
        "art_studies",
        "professional_tour_guide",
        "legal_professional",
        "high_school_chinese",
        "high_school_history",
        "middle_school_history",
    },
    "Other": {
        "civil_servant",
        "sports_science",
        "plant_protection",
        "basic_medicine",
        "clinical_medicine",
        "urban_and_rural_planner",
        "accountant",
        "fire_engineer",
        "environmental_impact_assessment_engineer",
        "tax_accountant",
        "physician",
    },
}
# The official ceval-exam headers per split (dev carries explanations, test has no labels).
CEVAL_COLUMNS = {
    "dev": ["id", "question", "A", "B", "C", "D", "answer", "explanation"],
    "val": ["id", "question", "A", "B", "C", "D", "answer"],
    "test": ["id", "question", "A", "B", "C", "D"],
}


@pytest.fixture(scope="module")
def tok(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------- tokenizer


def test_tokenizer_specials_and_vocab(tok) -> None:
    # transformers 5 has one Llama tokenizer class (LlamaTokenizerFast is its alias); 4.x loads the fast one
    assert type(tok).__name__ in ("LlamaTokenizerFast", "LlamaTokenizer") and tok.is_fast
    assert (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.convert_ids_to_tokens([0, 1, 2]) == ["<unk>", "<s>", "</s>"]
    assert tok.pad_token is None  # runners must cope with a missing pad token
    # Llama layout: the 256 byte-fallback pieces right after the specials.
    assert tok.convert_ids_to_tokens(list(range(3, 259))) == [f"<0x{b:02X}>" for b in range(256)]
    assert 3000 <= len(tok) <= 6000


def test_tokenizer_letter_pieces_used_by_ceval_scorer(tok) -> None:
    ids_sp, ids_bare = set(), set()
    for x in "ABCD":
        sp = tok.encode(x, add_special_tokens=False)
        bare = tok.encode("：" + x)
        assert tok.convert_ids_to_tokens(sp) == ["▁" + x]
        assert tok.convert_ids_to_tokens(bare[-1]) == x
        ids_sp.add(sp[0])
        ids_bare.add(bare[-1])
    assert len(ids_sp | ids_bare) == 8  # eight distinct ids, as with Llama's tokenizer


def test_tokenizer_bos_and_llama_like_spaces(tok) -> None:
    assert tok("x").input_ids[0] == 1
    assert tok("x").input_ids.count(1) == 1
    assert tok("x", add_special_tokens=False).input_ids[0] != 1
    assert tok.convert_ids_to_tokens(tok.encode("答案\n", add_special_tokens=False))[-1] == "<0x0A>"
    # "▁" is prepended only at the very start (Llama legacy sentencepiece behaviour).
    pieces = tok.convert_ids_to_tokens(tok.encode("The answer is B", add_special_tokens=False))
    assert pieces[0].startswith("▁") and pieces[-1] == "▁B"


@pytest.mark.parametrize(
    "text",
    [
        "计算机网络是把分布在不同地点的计算机连接起来的系统。",
        "以下是中国关于law考试的单项选择题，请选出其中的正确答案。\n\nA. 宪法\n答案：A",
        "生僻字龘靐齉与表情😀都能编码，Hello  world\t123！",
        "中间有  两个空格，结尾也有 ",
    ],
)
def test_tokenizer_round_trip(tok, text: str) -> None:
    # (A leading space is dropped, as with Llama's Metaspace(prepend_scheme="first") fast tokenizer.)
    ids = tok.encode(text)
    assert tok.unk_token_id not in ids  # byte fallback: anything encodes
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_chat_template_is_llama2_style(tok) -> None:
    msgs = [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "问题一"},
        {"role": "assistant", "content": "回答一"},
        {"role": "user", "content": "问题二"},
    ]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\n问题一 [/INST] 回答一 </s><s>[INST] 问题二 [/INST]"
    plain = tok.apply_chat_template([{"role": "user", "content": "你好"}], tokenize=False)
    assert plain == "<s>[INST] 你好 [/INST]"


# --------------------------------------------------------------------------------------------- model


def test_model_loads_and_has_the_tiny_shape(model, tok, tiny_model_dir: Path) -> None:
    cfg = model.config
    assert type(model).__name__ == "LlamaForCausalLM"
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (128, 4, 4, 2)
    assert cfg.max_position_embeddings == 4096 and not cfg.tie_word_embeddings
    assert cfg.vocab_size == len(tok)
    assert (tiny_model_dir / "model.safetensors").is_file()
    meta = json.loads((tiny_model_dir / T.META_FILE).read_text(encoding="utf-8"))
    assert meta["version"] == T.VERSION and meta["seed"] == 0 and meta["steps"] == T.DEFAULT_STEPS
    assert meta["corpus_sha256"] == hashlib.sha256(T.corpus_text().encode("utf-8")).hexdigest()
    assert meta["params"] == sum(p.numel() for p in model.parameters())


def test_checkpoint_is_small(tiny_model_dir: Path) -> None:
    size = sum(f.stat().st_size for f in tiny_model_dir.iterdir() if f.is_file())
    assert size < 20 * 2**20


def test_training_lowered_the_loss(tiny_model_dir: Path) -> None:
    meta = json.loads((tiny_model_dir / T.META_FILE).read_text(encoding="utf-8"))
    assert meta["final_loss"] < meta["initial_loss"] - 2.0
    assert meta["heldout_loss"] < meta["heldout_loss_before"]


def test_model_is_better_than_uniform_and_scores_choices(model, tok) -> None:
    import torch

    def loss_on(text: str) -> float:
        ids = torch.tensor([tok(text).input_ids])
        with torch.no_grad():
            return float(model(input_ids=ids, labels=ids).loss)

    uniform = math.log(len(tok))
    assert loss_on(T.corpus_text()[:800]) < uniform - 2.0  # learned its corpus
    # Unseen prose: the corpus is far too small to generalise much, but the model must not be
    # wildly overconfident either (PPL suites divide by nothing smaller than this).
    ppl_text = (ROOT / "evals" / "resources" / "ppl" / "zh_sample.txt").read_text(encoding="utf-8")
    assert loss_on(ppl_text[:800]) < uniform + 0.5
    prompt = "下列协议中，属于传输层协议的是\nA. TCP\nB. HTTP\nC. IP\nD. ARP\n答案："
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([tok(prompt).input_ids])).logits[0, -1]
    letters = [tok.encode("：" + x)[-1] for x in "ABCD"]
    scores = logits[letters]
    assert torch.isfinite(scores).all() and float(scores.max() - scores.min()) > 1e-3
    # Greedy continuation is real text: not just one repeated token.
    out = model.generate(torch.tensor([tok("中国的首都是").input_ids]), max_new_tokens=12, do_sample=False)
    assert len(set(out[0, -12:].tolist())) > 2


def test_same_seed_gives_identical_weights(tmp_path: Path) -> None:
    a = T.build_tiny(tmp_path / "a", steps=3, seed=7, progress=False)
    b = T.build_tiny(tmp_path / "b", steps=3, seed=7, progress=False)
    c = T.build_tiny(tmp_path / "c", steps=3, seed=8, progress=False)
    assert _sha(a / "model.safetensors") == _sha(b / "model.safetensors")
    assert _sha(a / "tokenizer.json") == _sha(b / "tokenizer.json")
    assert _sha(a / "model.safetensors") != _sha(c / "model.safetensors")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_build_refuses_foreign_dir_and_leaves_nothing_on_failure(tmp_path: Path, monkeypatch) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError):
        T.build_tiny(foreign, steps=1, progress=False)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"

    def broken(target: Path, **_: object) -> None:
        (target / "config.json").write_text("{}", encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "_build_into", broken)
    with pytest.raises(KeyboardInterrupt):
        T.build_tiny(tmp_path / "out", steps=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign"]


def test_default_tiny_dir_uses_cache_env_and_builds_once(tmp_path: Path, monkeypatch) -> None:
    calls: list[Path] = []

    def fake_build(out_dir: Path, **_: object) -> Path:
        calls.append(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / T.META_FILE).write_text("{}", encoding="utf-8")
        return out_dir

    monkeypatch.setenv("EVALS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(T, "build_tiny", fake_build)
    first = T.default_tiny_dir(progress=False)
    second = T.default_tiny_dir(progress=False)
    assert first == second == tmp_path / "cache" / f"tiny-zh-llama-v{T.VERSION}"
    assert calls == [first]


def test_import_does_not_pull_in_torch() -> None:
    code = "import sys, training.tiny; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT, timeout=60)


def test_cli_reports_existing_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "evals.cli", "train", "tiny", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=300,
        )

    res = cli("--out", str(tiny_model_dir))
    assert res.returncode == 0, res.stderr
    assert f"cached: {tiny_model_dir}" in res.stdout and "final loss" in res.stdout
    bad = cli("--steps", "5")  # custom builds need an explicit --out
    assert bad.returncode == 2 and "--out" in bad.stderr


# --------------------------------------------------------------------------------------------- data


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_ceval_sample_layout_and_rows(ceval_sample_dir: Path) -> None:
    subjects: dict[str, set[str]] = {}
    for split, min_rows in (("dev", 5), ("val", 10), ("test", 5)):
        files = sorted((ceval_sample_dir / split).glob("*.csv"))
        assert files, split
        for path in files:
            assert path.name.endswith(f"_{split}.csv")
            subject = path.name[: -len(f"_{split}.csv")]
            subjects.setdefault(subject, set()).add(split)
            header, rows = _read_rows(path)
            assert header == CEVAL_COLUMNS[split], path
            assert len(rows) >= min_rows and (split != "dev" or len(rows) == 5), path
            assert [r["id"] for r in rows] == [str(i) for i in range(len(rows))]
            for r in rows:
                assert r["question"].strip() and all(r[x].strip() for x in "ABCD"), (path, r["id"])
                assert len({r[x] for x in "ABCD"}) == 4, (path, r["id"])
                if split != "test":
                    assert r["answer"] in ("A", "B", "C", "D"), (path, r["id"])
                if split == "dev":
                    assert r["explanation"].strip(), (path, r["id"])
            if split != "test":
                assert len({r["answer"] for r in rows}) >= 3, f"answers not spread in {path}"
    assert all(s == {"dev", "val", "test"} for s in subjects.values()), subjects
    assert len(subjects) >= 8
    every_handle = set().union(*CEVAL_CATEGORIES.values())
    assert set(subjects) <= every_handle, set(subjects) - every_handle
    assert all(set(subjects) & handles for handles in CEVAL_CATEGORIES.values())


def test_ceval_sample_reads_with_pandas(ceval_sample_dir: Path) -> None:
    import pandas as pd

    df = pd.read_csv(ceval_sample_dir / "val" / "computer_network_val.csv")
    assert list(df.columns) == CEVAL_COLUMNS["val"] and len(df) >= 10


def test_text_resources() -> None:
    corpus, heldout = T.corpus_text(), T.heldout_text()
    ppl = (ROOT / "evals" / "resources" / "ppl" / "zh_sample.txt").read_text(encoding="utf-8")
    assert 15_000 <= len(corpus) <= 30_000
    assert 2_500 <= len(heldout) and len(ppl) >= 4_000
    paragraphs = {p.strip() for p in corpus.split("\n\n") if p.strip()}
    for other in (heldout, ppl):
        assert not paragraphs & {p.strip() for p in other.split("\n\n") if p.strip()}
