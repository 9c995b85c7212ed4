"""Hub ids resolved offline from a local Hugging Face cache holding our own tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import UserError
from core.hub_cache import hub_cache_dir, parse_hub_id
from db.model_lookup import resolve_model
from tests.hub_cache_helpers import add_to_hub_cache

REV1, REV2 = "a" * 40, "b" * 40


@pytest.fixture
def hub_cache(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf" / "hub"
    add_to_hub_cache(cache, "leitai/tiny-zh", tiny_model_dir, commit=REV1, ref=None)
    add_to_hub_cache(cache, "leitai/tiny-zh", tiny_model_dir, commit=REV2, ref="main")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_layout_is_what_huggingface_hub_reads(hub_cache: Path) -> None:
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache

    info = scan_cache_dir(hub_cache)
    (repo,) = info.repos
    assert repo.repo_id == "leitai/tiny-zh" and repo.repo_type == "model"
    revs = {r.commit_hash: r for r in repo.revisions}
    assert set(revs) == {REV1, REV2} and revs[REV2].refs == frozenset({"main"})
    assert "config.json" in {f.file_name for f in revs[REV1].files}
    found = try_to_load_from_cache("leitai/tiny-zh", "config.json", cache_dir=hub_cache)
    assert isinstance(found, str) and Path(found).parent.name == REV2


def test_hub_id_shapes() -> None:
    assert parse_hub_id("Qwen/Qwen2.5-7B-Instruct") == ("Qwen/Qwen2.5-7B-Instruct", None)
    assert parse_hub_id("Qwen/Qwen2.5-7B-Instruct@v1.0") == ("Qwen/Qwen2.5-7B-Instruct", "v1.0")
    assert parse_hub_id("./models/x") is None and parse_hub_id("/abs/x") is None and parse_hub_id("plain") is None


def test_hub_id_resolves_main_and_a_revision(hub_cache: Path, tiny_model_dir: Path) -> None:
    assert hub_cache_dir() == hub_cache
    spec = resolve_model("leitai/tiny-zh")
    assert spec.path == str(hub_cache / "models--leitai--tiny-zh" / "snapshots" / REV2)
    assert spec.params["hub"]["revision"] == REV2 and spec.params["hub"]["requested"] == "main"
    assert spec.name == "leitai/tiny-zh" and spec.params["format"] == "safetensors"
    old = resolve_model(f"leitai/tiny-zh@{REV1}")
    assert old.params["hub"]["revision"] == REV1 and old.path.endswith(REV1)
    # same files, same identity: a run on the cached copy reuses one on the dir
    assert spec.fingerprint == resolve_model(str(tiny_model_dir)).fingerprint


def test_missing_hub_id_is_one_line_naming_the_cache(hub_cache: Path) -> None:
    with pytest.raises(UserError) as e:
        resolve_model("Qwen/Qwen2.5-7B-Instruct")
    msg = str(e.value)
    assert "\n" not in msg and str(hub_cache / "models--Qwen--Qwen2.5-7B-Instruct") in msg
    with pytest.raises(UserError, match="at revision nope"):
        resolve_model("leitai/tiny-zh@nope")


def test_runner_loads_the_cached_snapshot(hub_cache: Path, tiny_model_dir: Path) -> None:
    from runners import open_runner

    r = open_runner(resolve_model("leitai/tiny-zh"), device="cpu")
    assert r.info.path.endswith(REV2)
    assert r.count_tokens("中国的首都是北京") > 1
