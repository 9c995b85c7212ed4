"""The real CLI on models as users have them: GGUF files, a dir holding one, hub ids in the local HF cache;
`evals models add/show`, and the quant table over GGUF variants with its speed column."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from tests.evals.cli_helpers import ROOT, load_json, run_cli
from tests.hub_cache_helpers import add_to_hub_cache

pytest.importorskip("gguf", reason="the gguf package (dev/gguf extra) writes the files")

TEXT = (ROOT / "training" / "resources" / "heldout_zh.txt").read_text(encoding="utf-8")[:300]
REV = "c" * 40


@pytest.fixture(scope="module")
def variants(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.gguf_export import export_gguf

    out = tmp_path_factory.mktemp("variants") / "tiny-gguf"
    out.mkdir()
    for q in ("F16", "Q8_0"):
        export_gguf(tiny_model_dir, out / f"tiny-{q.lower()}.gguf", q)
    return out


def test_ppl_on_a_gguf_records_quant_type_and_size(variants: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "zh.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    db = tmp_path / "g.db"
    gguf = variants / "tiny-q8_0.gguf"
    res = run_cli("run", "--suite", "ppl", "--model", str(gguf), "--data", str(corpus), "--context", "64",
                  "--db", f"sqlite:///{db}", "--no-progress", "--json", str(tmp_path / "o.json"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = load_json(tmp_path / "o.json")
    assert doc["model"] == "tiny-q8_0" and math.isfinite(doc["metrics"]["ppl"])
    with sqlite3.connect(db) as con:
        (versions,) = con.execute("SELECT versions FROM runs WHERE id = ?", (doc["run_id"],)).fetchone()
    g = json.loads(versions)["model"]["gguf"]
    assert g["quant_type"] == "Q8_0" and g["file_bytes"] == gguf.stat().st_size and g["file"] == gguf.name


def test_models_add_and_show_gguf_dir_and_hub_id(variants: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    one = tmp_path / "one-gguf"
    one.mkdir()
    (one / "model.gguf").symlink_to(variants / "tiny-f16.gguf")
    hf_home = tmp_path / "hf"
    add_to_hub_cache(hf_home / "hub", "leitai/tiny-zh", tiny_model_dir, commit=REV)
    env = {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": ""}

    assert run_cli("models", "add", "g", "--path", str(one), "--db", db, env=env).returncode == 0
    assert run_cli("models", "add", "h", "--path", "leitai/tiny-zh", "--db", db, env=env).returncode == 0
    assert run_cli("models", "add", "d", "--path", str(tiny_model_dir), "--db", db, env=env).returncode == 0
    shown = {}
    for name in ("g", "h", "d"):
        res = run_cli("models", "show", name, "--db", db, env=env)
        assert res.returncode == 0, res.stderr
        shown[name] = json.loads(res.stdout)["resolved"]
    assert shown["g"]["format"] == "gguf" and shown["g"]["quant_type"] == "F16"
    assert shown["g"]["size_bytes"] == (variants / "tiny-f16.gguf").stat().st_size
    assert shown["h"]["revision"] == REV and shown["h"]["hub_id"] == "leitai/tiny-zh"
    assert shown["h"]["path"].endswith(f"models--leitai--tiny-zh/snapshots/{REV}")
    assert shown["h"]["format"] == "safetensors" and shown["h"]["quant_type"] is None
    assert shown["d"]["size_bytes"] == (tiny_model_dir / "model.safetensors").stat().st_size
    assert shown["h"]["fingerprint"] == shown["d"]["fingerprint"]

    # a registered GGUF runs by name (as the arena pool resolves its models)
    res = run_cli("run", "--suite", "ceval", "--model", "g", "--subjects", "computer_network", "--limit", "2",
                  "--db", db, "--no-progress", env=env)  # fmt: skip
    assert res.returncode == 0, res.stderr

    # a hub id not in the cache: one line on stderr naming where it looked, exit 2, nothing registered
    res = run_cli("models", "add", "q", "--path", "Qwen/Qwen2.5-7B-Instruct", "--db", db, env=env)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert str(hf_home / "hub" / "models--Qwen--Qwen2.5-7B-Instruct") in res.stderr
    res = run_cli("run", "--suite", "ceval", "--model", "Qwen/Qwen2.5-7B-Instruct@main", "--db", db, env=env)
    assert res.returncode == 2 and "local Hugging Face cache" in res.stderr and "Traceback" not in res.stderr


def test_quant_table_over_gguf_variants(variants: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "zh.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "q.json"
    res = run_cli("run", "--suite", "quant", "--variants", str(variants), "--data", str(corpus), "--context", "64",
                  "--subjects", "computer_network", "--limit", "2", "--db", f"sqlite:///{tmp_path / 'q.db'}",
                  "--no-progress", "--json", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    rows = {r["precision"]: r for r in doc["rows"]}
    assert list(rows) == ["F16", "Q8_0"] and doc["reference"] == "F16" and doc["model"] == "tiny-gguf"
    for q, r in rows.items():
        assert r["file_bytes"] == (variants / f"tiny-{q.lower()}.gguf").stat().st_size == r["weight_bytes"]
        assert r["prompt_ms_per_token"] > 0 and r["gen_ms_per_token"] > 0
        assert 0 <= r["ceval_0shot"] <= 1 and math.isfinite(r["ppl"])
    assert rows["Q8_0"]["ppl"] == pytest.approx(rows["F16"]["ppl"], rel=1e-2)
    assert rows["Q8_0"]["delta"]["weight_gib"] < -0.3
    for col in ("size GiB", "PPL", "C-Eval", "ms/token"):
        assert col in res.stdout
    bad = run_cli("run", "--suite", "quant", "--variants", str(tmp_path / "nope.gguf"), "--db",
                  f"sqlite:///{tmp_path / 'q.db'}", "--no-progress")  # fmt: skip
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_lmeval_task_on_a_gguf_answers_like_the_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    """lm-eval loads the GGUF itself (HFLM's gguf_file=): the F32 file gives the checkpoint's answers."""
    pytest.importorskip("lm_eval", reason="lm-eval not installed (pip install 'leitai[lmeval]')")
    from tests.evals.test_lmeval_bridge import DOCS, OFFLINE, TEXT
    from training.gguf_export import export_gguf

    tasks = tmp_path / "tasks"  # the bridge test's local multiple-choice task
    tasks.mkdir()
    data = tasks / "docs.jsonl"
    data.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS), encoding="utf-8")
    config = {
        "task": "leitai_tiny_mc", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test", "output_type": "multiple_choice", "doc_to_text": TEXT,
        "doc_to_choice": ["A", "B", "C", "D"], "doc_to_target": "label",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }  # fmt: skip
    (tasks / "tiny_mc.yaml").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    f32 = export_gguf(tiny_model_dir, tmp_path / "tiny-f32.gguf", "F32")
    preds = []
    for model in (f32, tiny_model_dir):
        out = tmp_path / f"{Path(model).name}.json"
        res = run_cli("run", "--suite", "lmeval:leitai_tiny_mc", "--lmeval-include", str(tasks), "--model", str(model),
                      "--limit", "3", "--db", f"sqlite:///{tmp_path / 'l.db'}", "--json", str(out), "--no-progress",
                      env=OFFLINE, timeout=600)  # fmt: skip
        assert res.returncode == 0, res.stderr
        preds.append([(it["id"], it["pred"]) for it in load_json(out)["items"] if it["id"] != "_metrics"])
    assert preds[0] == preds[1] and len(preds[0]) == 3


def test_arena_pool_answers_through_a_gguf_like_the_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A registered GGUF in the arena pool: greedy answers through its chat template equal the checkpoint's."""
    from sqlalchemy import select

    from arena.answers import generate_answers
    from db import arena_repo, open_db, repo
    from db.models_arena import ArenaAnswer
    from runners.base import GenParams
    from training.gguf_export import export_gguf

    database = open_db(f"sqlite:///{tmp_path / 'a.db'}")
    f32 = export_gguf(tiny_model_dir, tmp_path / "tiny-f32.gguf", "F32")
    with database.session() as s:
        repo.upsert_model(s, "as-dir", str(tiny_model_dir))
        repo.upsert_model(s, "as-gguf", str(f32))
        arena_repo.add_prompts(s, [
            {"text": t, "norm_hash": f"h{k}", "category": "通用知识", "lang": "zh", "source": "test"}
            for k, t in enumerate(["中国的首都是哪里？", "写一句问候语。"])
        ])  # fmt: skip
        ids = [p.id for p in arena_repo.list_prompts(s)]
        models = {m.name: m.id for m in repo.list_models(s)}
    generate_answers(database, ["as-dir", "as-gguf"], ids, GenParams(max_new_tokens=8), progress=False)
    with database.session(write=False) as s:
        rows = list(s.scalars(select(ArenaAnswer)))
    by_model = {m: {a.prompt_id: a.text for a in rows if a.model_id == mid} for m, mid in models.items()}
    assert len(by_model["as-gguf"]) == 2 and by_model["as-gguf"] == by_model["as-dir"]
