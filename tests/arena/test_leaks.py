"""Identity leaks: matching rules, configuration, and votes kept but excluded from ratings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena.battles import battle_records, serve_battle
from arena.leaks import LeakChecker, load_checker
from arena.votes import VoteLimits, record_vote, vote_stats
from db import Database, arena_repo
from tests.arena.store_fixtures import add_models_with_answers, database, db_url

NO_LIMITS = VoteLimits(max_votes=None)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("作为ChatGPT，我无法浏览网页。", ["ChatGPT"]),
        ("I am a large language model trained by openai.", ["openai"]),
        ("我是通义千问，由阿里云开发。", ["通义千问"]),
        ("我是文心一言。", ["文心一言"]),
        ("本模型基于 llama3 微调，并参考了 Claude 的风格。", ["llama", "Claude"]),
        ("你好，我是智谱清言，基于 ChatGLM。", ["智谱", "ChatGLM"]),
        ("我是 Kimi，由月之暗面开发。", ["Kimi", "月之暗面"]),
        ("DeepSeek-V2 是深度求索的模型", ["DeepSeek", "深度求索"]),
        ("百川智能发布了新模型", ["百川"]),
        # not leaks
        ("Llamas and alpacas live in the Andes.", []),  # plural animal, whole-word rule
        ("海纳百川，有容乃大。", []),  # allowed idiom
        ("我今天工作上犯了错。", []),  # 天工 spans two words, not in the list
        ("请用 Python 写一个排序函数。", []),
    ],
)
def test_checker_finds_names(text: str, found: list[str]) -> None:
    assert LeakChecker().find(text) == found


def test_config_file_and_env_extend_or_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "leaks.json"
    cfg.write_text(json.dumps({"names": ["星河大模型"], "allow": ["Claude Monet"]}), encoding="utf-8")
    checker = load_checker(cfg, extra_names="Leitai-7B")
    assert checker.find("我是星河大模型") == ["星河大模型"]
    assert checker.find("Claude Monet painted water lilies") == []
    assert checker.find("this is leitai-7b") == ["leitai-7b"]
    assert checker.find("ChatGPT") == ["ChatGPT"]  # defaults kept

    cfg.write_text(json.dumps({"names": ["OnlyThis"], "replace_defaults": True}), encoding="utf-8")
    monkeypatch.setenv("EVALS_LEAK_FILE", str(cfg))
    monkeypatch.setenv("EVALS_LEAK_NAMES", "Other")
    env_checker = load_checker()
    assert env_checker.find("ChatGPT, OnlyThis, Other") == ["OnlyThis", "Other"]

    cfg.write_text('{"names": "not a list"}', encoding="utf-8")
    with pytest.raises(ValueError, match="leak config"):
        load_checker(cfg)


def test_leaky_battle_vote_is_kept_counted_and_not_rated(database: Database) -> None:
    # m2 names itself in its answer to every question, so every battle with m2 leaks.
    texts = {("m2", k): f"我是通义千问，回答{k}。" for k in range(3)}
    add_models_with_answers(database, ["m1", "m2", "m3"], texts=texts)
    rng = np.random.default_rng(3)
    leaky = clean = 0
    for k in range(30):
        view = serve_battle(database, f"s{k}", rng=rng)
        result = record_vote(database, view.battle_id, f"s{k}", "tie", f"v{k}", limits=NO_LIMITS)
        has_m2 = "m2" in (result.model_a, result.model_b)
        assert result.excluded == has_m2
        if has_m2:
            assert result.excluded_reason == "identity_leak" and result.leaked_names == ("通义千问",)
            with database.session(write=False) as s:
                assert arena_repo.get_battle(s, view.battle_id).excluded_reason == "identity_leak"
        leaky += has_m2
        clean += not has_m2
    assert leaky > 0 and clean > 0

    stats = vote_stats(database)
    assert (stats.battles, stats.votes, stats.rated) == (30, 30, clean)
    assert stats.excluded == {"identity_leak": leaky}
    rated = battle_records(database)
    assert len(rated) == clean and all("m2" not in (r["model_a"], r["model_b"]) for r in rated)
    audit = battle_records(database, include_excluded=True)
    assert len(audit) == 30 and sum(r["excluded"] for r in audit) == leaky
    # Excluded votes never feed matchmaking either.
    with database.session(write=False) as s:
        assert sum(n for *_, n in arena_repo.vote_counts(s)) == clean
