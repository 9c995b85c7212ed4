"""PPL suite on the real tiny model and real SQLite, checked against a direct transformers loop."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from pathlib import Path

import pytest
import torch

from core.errors import UserError
from evals.ppl.data import load_corpus
from evals.ppl.windows import chunk_windows, resolve_context, sliding_windows
from evals.suite_api import SuiteOptions
from tests.evals.cli_helpers import ROOT, load_json, run_cli

REL = 1e-4
N_CTX = 64
TEXT = (ROOT / "training" / "resources" / "heldout_zh.txt").read_text(encoding="utf-8")[:700]


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def runner(tiny_model_dir):
    from runners.hf import HFRunner

    return HFRunner(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="module")
def spec(tiny_model_dir):
    from db.model_lookup import resolve_model

    return resolve_model(str(tiny_model_dir))


@pytest.fixture()
def database(tmp_path):
    from db import open_db

    return open_db(f"sqlite:///{tmp_path / 'ppl.db'}")


@pytest.fixture()
def text_file(tmp_path) -> Path:
    path = tmp_path / "sample.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def _run(spec, runner, database, data, **extra):
    from evals.engine import execute

    return execute("ppl", SuiteOptions(data=data, extra=extra), spec, database=database, runner=runner, progress=False)


# ------------------------------------------------------------------------------------- reference (direct)


def _ids(tok, text):
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    return bos, [bos, *tok(text, add_special_tokens=False)["input_ids"]]


def _logprobs(model, ids):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    return torch.log_softmax(logits, dim=-1)


def _config_adds_bos(model_dir) -> bool:
    """llama.cpp's add_bos as the checkpoint declares it (tokenizer_config.json), read independently."""
    return bool(json.loads((Path(model_dir) / "tokenizer_config.json").read_text(encoding="utf-8"))["add_bos_token"])


def direct_chunks(model, tok, text, n_ctx, add_bos=True, stand_in=None):
    """llama.cpp perplexity, written out from PROTOCOLS.md: (NLL sum, scored tokens).

    BOS is put in front and replaces each chunk's first token only when the vocabulary adds BOS;
    `stand_in` replays the withdrawn rule (that token in front and in every chunk's first position).
    """
    ids = tok(text, add_special_tokens=False)["input_ids"]
    lead = tok.bos_token_id if add_bos else stand_in
    if lead is not None:
        ids = [lead, *ids]
    nll, count = 0.0, 0
    for k in range(len(ids) // n_ctx):
        chunk = ids[k * n_ctx : (k + 1) * n_ctx]
        if lead is not None:
            chunk[0] = lead
        logp = _logprobs(model, chunk)
        for pos in range(n_ctx // 2 + 1, n_ctx):
            nll -= float(logp[pos - 1, chunk[pos]])
            count += 1
    return nll, count


def direct_sliding(model, tok, text, n_ctx, stride):
    """Sliding windows as PROTOCOLS.md words them: (NLL sum, scored tokens)."""
    _, ids = _ids(tok, text)
    n = len(ids)
    nll, count, prev_end, start = 0.0, 0, 0, 0
    while True:
        end = min(start + n_ctx, n)
        window = ids[start:end]
        logp = _logprobs(model, window)
        for pos in range(max(prev_end, start + 1), end):
            nll -= float(logp[pos - 1 - start, ids[pos]])
            count += 1
        if end == n:
            return nll, count
        prev_end, start = end, start + stride


# ------------------------------------------------------------------------------------------ numerics


def test_chunks_ppl_equals_direct_loop(spec, runner, database, text_file, tiny_model_dir):
    out = _run(spec, runner, database, text_file, mode="chunks", context=N_CTX)
    assert _config_adds_bos(tiny_model_dir)  # the tiny Llama vocabulary adds BOS, as Llama's does
    nll, count = direct_chunks(runner.model, runner.tokenizer, TEXT, N_CTX, add_bos=True)
    m = out.metrics
    assert m["add_bos"] is True
    assert m["scored_tokens"] == count == (len(_ids(runner.tokenizer, TEXT)[1]) // N_CTX) * (N_CTX - 1 - N_CTX // 2)
    assert m["ppl"] == pytest.approx(math.exp(nll / count), rel=REL)
    assert m["nll"] == pytest.approx(nll, rel=REL)
    assert m["n_ctx"] == N_CTX and m["mode"] == "chunks"
    tokens = len(runner.tokenizer(TEXT, add_special_tokens=False)["input_ids"])
    assert m["tokens"] == tokens and m["characters"] == len(TEXT)
    assert m["chars_per_token"] == pytest.approx(len(TEXT) / tokens)
    assert m["bits_per_char"] == pytest.approx(nll / count / math.log(2) * tokens / len(TEXT), rel=REL)
    assert 0 < m["ppl_stderr"] < m["ppl"]


@pytest.mark.parametrize("stride", [24, N_CTX - 1])
def test_sliding_ppl_equals_direct_loop(spec, runner, database, text_file, stride):
    out = _run(spec, runner, database, text_file, mode="sliding", context=N_CTX, stride=stride)
    nll, count = direct_sliding(runner.model, runner.tokenizer, TEXT, N_CTX, stride)
    m = out.metrics
    tokens = len(runner.tokenizer(TEXT, add_special_tokens=False)["input_ids"])
    assert m["scored_tokens"] == count == tokens  # every token after BOS exactly once
    assert m["ppl"] == pytest.approx(math.exp(nll / count), rel=REL)
    # PROTOCOLS.md: bits per character = (NLL sum / ln 2) / number of characters.
    assert m["bits_per_char"] == pytest.approx(nll / math.log(2) / len(TEXT), rel=REL)
    assert m["stride"] == stride


@pytest.fixture(scope="module")
def bosless_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny checkpoint with `add_bos_token: false`: a vocabulary that has a BOS token but does not
    add it by default, which is what llama.cpp's `add_bos` reads (Qwen-style vocabularies have none)."""
    import shutil

    dst = tmp_path_factory.mktemp("bosless") / "tiny-no-bos"
    shutil.copytree(tiny_model_dir, dst)
    cfg_path = dst / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["add_bos_token"] = False
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    # transformers 5 reads BOS from tokenizer.json's post-processor (4.x rebuilt it from add_bos_token): drop it
    tok_path = dst / "tokenizer.json"
    tok = json.loads(tok_path.read_text(encoding="utf-8"))
    tok["post_processor"] = None
    tok_path.write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    return dst


def test_chunks_ppl_without_bos_follows_llama_cpp(bosless_dir, database, text_file):
    from db.model_lookup import resolve_model
    from runners.hf import HFRunner

    runner = HFRunner(str(bosless_dir), device="cpu")
    assert not _config_adds_bos(bosless_dir) and runner.tokenizer("x")["input_ids"][0] != runner.tokenizer.bos_token_id
    out = _run(resolve_model(str(bosless_dir)), runner, database, text_file, mode="chunks", context=N_CTX)
    m = out.metrics
    tok = runner.tokenizer
    n_text = len(tok(TEXT, add_special_tokens=False)["input_ids"])
    nll, count = direct_chunks(runner.model, tok, TEXT, N_CTX, add_bos=False)
    # nothing prepended: the chunks are the text tokens themselves
    assert m["add_bos"] is False
    assert m["scored_tokens"] == count == (n_text // N_CTX) * (N_CTX - 1 - N_CTX // 2)
    assert m["ppl"] == pytest.approx(math.exp(nll / count), rel=REL)
    assert m["nll"] == pytest.approx(nll, rel=REL) and m["tokens"] == n_text
    # and it is not the withdrawn rule (BOS in front and in each chunk's first position regardless)
    old_nll, old_count = direct_chunks(runner.model, tok, TEXT, N_CTX, add_bos=False, stand_in=tok.bos_token_id)
    assert math.exp(old_nll / old_count) != pytest.approx(m["ppl"], rel=1e-3)
    # sliding mode keeps a leading BOS so every text token is scored, whatever the vocabulary adds
    sliding = _run(resolve_model(str(bosless_dir)), runner, database, text_file, mode="sliding", context=N_CTX)
    assert sliding.metrics["scored_tokens"] == n_text and sliding.metrics["add_bos"] is False


def test_adds_bos_rules():
    from evals.ppl.bos import GGUF_ADD_BOS_KEY, gguf_adds_bos, runner_adds_bos

    class Declared:  # a runner that knows its vocabulary's rule (e.g. from GGUF metadata)
        adds_bos = False
        tokenizer = None

    assert runner_adds_bos(Declared()) is False
    assert gguf_adds_bos({GGUF_ADD_BOS_KEY: True}) is True and gguf_adds_bos({GGUF_ADD_BOS_KEY: False}) is False
    assert gguf_adds_bos({}) is None


def test_window_plans_score_the_protocol_positions():
    ids = list(range(100, 100 + 41))  # 41 tokens incl. the leading "BOS"
    chunks = chunk_windows(ids, 8, bos=1)
    assert len(chunks) == 5 and all(w[0] == 1 and len(w) == 8 and first == 5 for w, first in chunks)
    assert chunks[1][0][1:] == ids[9:16]
    plain = chunk_windows(ids, 8, bos=None)  # a vocabulary without add_bos: tokens left alone
    assert [w for w, _ in plain] == [ids[k * 8 : (k + 1) * 8] for k in range(5)]
    seen = []
    for window, first in sliding_windows(ids, 8, 3):
        start = ids.index(window[0])
        seen += [start + j for j in range(first, len(window))]
    assert seen == list(range(1, 41))


# ------------------------------------------------------------------------------------- corpus + resume


def test_jsonl_directory_aggregates_per_document_and_resumes(spec, runner, database, tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_text(TEXT[:300], encoding="utf-8")
    lines = [{"text": TEXT[300:500]}, {"text": ""}, {"text": TEXT[500:], "meta": 1}]
    (corpus / "sub" / "b.jsonl").write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n", encoding="utf-8"
    )
    (corpus / "notes.md").write_text("ignored", encoding="utf-8")

    first = _run(spec, runner, database, corpus, mode="sliding", context=N_CTX)
    assert [it["id"] for it in first.items] == ["a.txt", "sub/b.jsonl:1", "sub/b.jsonl:3"]
    extras = [it for it in first.items]
    nll = sum(it["nll"] for it in extras)
    scored = sum(it["scored_tokens"] for it in extras)
    assert first.metrics["ppl"] == pytest.approx(math.exp(nll / scored), rel=1e-12)
    assert first.metrics["n_documents"] == 3 and set(first.metrics["by_document"]) == {it["id"] for it in extras}
    manifest = "".join(
        f"{hashlib.sha256((corpus / n).read_bytes()).hexdigest()}  {n}\n" for n in ("a.txt", "sub/b.jsonl")
    )
    assert first.metrics["corpus_sha256"] == hashlib.sha256(manifest.encode()).hexdigest()

    # Lose one stored document: the same run recomputes only that one and aggregates identically.
    with sqlite3.connect(database.url.removeprefix("sqlite:///")) as con:
        con.execute("DELETE FROM item_results WHERE run_id = ? AND item_id = ?", (first.run_id, "sub/b.jsonl:1"))
    again = _run(spec, runner, database, corpus, mode="sliding", context=N_CTX)
    assert again.run_id == first.run_id and again.computed == 1
    assert again.metrics["ppl"] == pytest.approx(first.metrics["ppl"], rel=1e-9)
    assert _run(spec, runner, database, corpus, mode="sliding", context=N_CTX).computed == 0
    # Mode and stride are part of the run identity.
    assert _run(spec, runner, database, corpus, mode="sliding", context=N_CTX, stride=40).run_id != first.run_id


def test_default_context_fits_a_short_text(spec, runner, database, text_file):
    out = _run(spec, runner, database, text_file)  # default: chunks, 4096 clipped, then fitted
    n_tokens = len(_ids(runner.tokenizer, TEXT)[1])
    assert out.metrics["n_ctx"] <= n_tokens // 2 and out.metrics["n_ctx"] * 4 > n_tokens
    assert "reduced" in out.metrics["context_note"]
    nll, count = direct_chunks(runner.model, runner.tokenizer, TEXT, out.metrics["n_ctx"], add_bos=True)
    assert out.metrics["ppl"] == pytest.approx(math.exp(nll / count), rel=REL)


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "", "no text to score"),
        ("blank.txt", " \n\n ", "no text to score"),
        ("bad.jsonl", '{"text": "好"}\n{"txt": "x"}\n', 'bad.jsonl:2: expected an object with a "text" field'),
        ("bad2.jsonl", '{"text": "好"\n', "bad2.jsonl:1: invalid JSON"),
        ("num.jsonl", '{"text": 3}\n', '"text" must be a string'),
        ("data.csv", "a,b\n", "unsupported file type '.csv'"),
    ],
)
def test_bad_corpus_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_corpus(path)


def test_bad_corpus_dirs_and_encoding(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .txt or .jsonl files"):
        load_corpus(tmp_path / "empty")
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        load_corpus(tmp_path / "latin.txt")
    with pytest.raises(UserError, match="does not exist"):
        load_corpus(tmp_path / "missing.txt")


def test_text_shorter_than_two_windows(spec, runner, database, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text(TEXT[:100], encoding="utf-8")
    with pytest.raises(
        UserError, match=r"short\.txt: \d+ tokens, but chunks mode with n_ctx=64 needs at least 128.*--context \d+"
    ):
        _run(spec, runner, database, short, mode="chunks", context=N_CTX)
    # Sliding mode scores a text shorter than one window in a single window.
    out = _run(spec, runner, database, short, mode="sliding", context=4096)
    assert out.metrics["n_windows"] == 1 and out.metrics["scored_tokens"] == out.metrics["tokens"]


def test_bad_options():
    from evals.suites.ppl import ppl_options

    with pytest.raises(UserError, match="--stride applies to --mode sliding only"):
        ppl_options({"mode": "chunks", "stride": 8})
    with pytest.raises(UserError, match="--stride 64 must be <= --context - 1 = 63"):
        ppl_options({"mode": "sliding", "context": 64, "stride": 64})
    with pytest.raises(UserError, match="unknown --mode"):
        ppl_options({"mode": "windows"})
    with pytest.raises(UserError, match="--context must be >= 4"):
        ppl_options({"context": 2})
    assert resolve_context(8192, 4096, "sliding", ("x", 10))[0] == 4096  # clipped to the model's maximum


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_json_and_table(tiny_model_dir, text_file, tmp_path):
    out = tmp_path / "ppl.json"
    res = run_cli(
        "run",
        "--suite",
        "ppl",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(text_file),
        "--mode",
        "sliding",
        "--context",
        str(N_CTX),
        "--stride",
        "32",
        "--db",
        f"sqlite:///{tmp_path / 'cli.db'}",
        "--json",
        str(out),
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert doc["suite"] == "ppl"
    m = doc["metrics"]
    for key in ("ppl", "nll", "scored_tokens", "bits_per_char", "chars_per_token", "n_ctx", "mode", "stride"):
        assert key in m
    assert m["corpus_sha256"] == hashlib.sha256(text_file.read_bytes()).hexdigest()
    assert doc["config"]["options"]["mode"] == "sliding" and doc["config"]["options"]["stride"] == 32
    assert doc["items"][0]["id"] == "sample.txt" and doc["items"][0]["scored_tokens"] == m["scored_tokens"]
    assert "bits / char" in res.stdout and "chars / token" in res.stdout

    short = tmp_path / "short.txt"
    short.write_text(TEXT[:100], encoding="utf-8")
    bad = run_cli(
        "run",
        "--suite",
        "ppl",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(short),
        "--context",
        "64",
        "--db",
        f"sqlite:///{tmp_path / 'cli.db'}",
        "--no-progress",
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: short.txt:") and "--context" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
