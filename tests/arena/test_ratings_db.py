"""`evals arena ratings` over the stored votes: same output as --import, snapshots, history, kinds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from arena.battle_log import Battles
from arena.battles import battle_records, serve_battle
from arena.ratings import RatingParams, compute_ratings
from arena.ratings_board import RatingOptions, rate_board
from arena.snapshots import NoRatedVotes, ratings_from_db, store_snapshot
from arena.votes import VoteLimits, record_vote
from db import Database, arena_repo
from evals.cli import main
from tests.arena.store_fixtures import add_models_with_answers, database, db_url

MODELS = ("strong", "middle", "weak")
STRENGTH = {"strong": 2, "middle": 1, "weak": 0}
NO_LIMITS = VoteLimits(max_votes=None, daily_cap=None)


def run_cli(*args: str) -> int:
    try:
        main(["arena", "ratings", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def seed_votes(database: Database, n: int = 30, seed: int = 0) -> None:
    """Serve `n` human battles through the arena API and vote: the stronger model mostly wins."""
    add_models_with_answers(database, MODELS, n_prompts=3)
    rng = np.random.default_rng(seed)
    for k in range(n):
        session = f"session-{k % 4}"
        view = serve_battle(database, session, rng=rng)
        with database.session(write=False) as s:
            battle = arena_repo.get_battle(s, view.battle_id)
            assert battle is not None
            names = arena_repo.model_names(s, (battle.model_a_id, battle.model_b_id))
        a, b = names[battle.model_a_id], names[battle.model_b_id]
        if rng.random() < 0.15:
            outcome = "tie"
        elif (STRENGTH[a] > STRENGTH[b]) == (rng.random() < 0.8):
            outcome = "model_a"
        else:
            outcome = "model_b"
        record_vote(database, view.battle_id, session, outcome, f"voter-{k % 4}", limits=NO_LIMITS)


def history(database: Database, method: str, kind: str = "human") -> list[tuple[object, str, float]]:
    with database.session(write=False) as s:
        return [(r.computed_at, r.model, r.rating) for r in arena_repo.snapshot_history(s, method, kind)]


def test_db_ratings_store_snapshots_and_history(
    database: Database, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_votes(database)
    out_json = tmp_path / "r.json"
    # The seeded votes come within milliseconds of serving, so hygiene flags them all as too fast
    # to have read the answers (tested in test_vote_hygiene.py); keep them here.
    keep = ("--exclude-flags", "none")
    assert run_cli("--db", db_url, "--bootstrap", "20", "--json", str(out_json), *keep) == 0
    captured = capsys.readouterr()
    for text in ("Arena ratings (human votes): 30 battles, 3 models", "Rank (UB)", "strong", "20 bootstrap rounds"):
        assert text in captured.out
    assert "stored human rating snapshot (elo, bt)" in captured.err

    # Same numbers as rating the exported log with --import.
    expected = rate_board(
        Battles.from_records(battle_records(database, "human")), RatingOptions(ci="bootstrap", n_bootstrap=20)
    ).to_json()
    doc = json.loads(out_json.read_text())
    assert doc["models"] == expected["models"] and list(doc["models"]) == list(expected["models"])
    assert list(doc["models"])[0] == "strong"
    models = doc["models"]

    elo, bt = history(database, "elo"), history(database, "bt")
    assert len(elo) == len(bt) == 3 and len({t for t, _, _ in elo + bt}) == 1
    assert {m: r for _, m, r in bt} == pytest.approx({m: v["rating"] for m, v in models.items()})
    assert {m: r for _, m, r in elo} == pytest.approx({m: v["elo"] for m, v in models.items()})
    with database.session(write=False) as s:
        latest = arena_repo.latest_rating_snapshots(s, "bt", "human")
    assert [r.model for r in latest] == list(models)
    assert all(r.ci_low is not None and r.ci_low <= r.rating <= r.ci_high for r in latest)
    assert sum(r.n_battles for r in latest) == 2 * 30

    # A second call adds a second snapshot: the history grows, the latest is the new one.
    assert run_cli("--db", db_url, "--bootstrap", "0", *keep) == 0
    elo2, bt2 = history(database, "elo"), history(database, "bt")
    assert len(elo2) == len(bt2) == 6 and len({t for t, _, _ in bt2}) == 2
    with database.session(write=False) as s:
        latest = arena_repo.latest_rating_snapshots(s, "bt", "human")
    assert len(latest) == 3 and all(r.ci_low is None for r in latest)  # no bootstrap this time
    assert history(database, "bt", "judge") == []  # human and judge snapshots are kept apart

    # --no-store computes and prints but stores nothing.
    capsys.readouterr()
    assert run_cli("--db", db_url, "--bootstrap", "0", "--no-store", *keep) == 0
    assert "strong" in capsys.readouterr().out
    assert len(history(database, "bt")) == 6

    # Sandwich + style control from the stored answers: its own snapshot method.
    assert run_cli("--db", db_url, "--style-control", "--json", str(out_json), *keep) == 0
    doc = json.loads(out_json.read_text())
    assert set(doc["style"]) == {"length", "headers", "bold", "lists"}
    assert len(history(database, "bt+style")) == 3


def test_import_stores_only_on_request(database: Database, db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    log.write_text(json.dumps([{"model_a": "x", "model_b": "y", "winner": w} for w in ["model_a"] * 3 + ["model_b"]]))
    assert run_cli("--import", str(log), "--db", db_url, "--bootstrap", "0") == 0
    assert history(database, "elo") == []
    assert run_cli("--import", str(log), "--db", db_url, "--bootstrap", "0", "--store", "--kind", "judge") == 0
    assert [m for _, m, _ in history(database, "elo", "judge")] == ["x", "y"]
    assert history(database, "elo", "human") == []


def test_empty_db_and_wrong_kind_exit_2(database: Database, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("--db", db_url) == 2
    err = capsys.readouterr().err
    assert "no rated votes yet (human battles)" in err and err.count("\n") == 1 and "Traceback" not in err
    seed_votes(database, n=5)
    assert run_cli("--db", db_url, "--kind", "judge") == 2
    assert "no rated votes yet (judge battles)" in capsys.readouterr().err
    assert run_cli("--db", db_url, "--kind", "robot") == 2
    assert "--kind must be human, judge or composite" in capsys.readouterr().err
    assert history(database, "elo") == []


def test_snapshot_api_skips_unbounded_bt(database: Database) -> None:
    with pytest.raises(NoRatedVotes):
        ratings_from_db(database, "judge")
    with pytest.raises(ValueError, match="kind must be one of"):
        ratings_from_db(database, "robots")
    # "champ" wins everything: no finite BT rating, but its Elo row is stored.
    records = [{"model_a": "a", "model_b": "b", "winner": w} for w in ("model_a", "model_b", "tie")]
    records += [{"model_a": "champ", "model_b": "a", "winner": "model_a"}] * 2
    ratings = compute_ratings(Battles.from_records(records), RatingParams(n_bootstrap=0))
    at = store_snapshot(database, ratings, "human")
    assert {m for t, m, _ in history(database, "elo")} == {"a", "b", "champ"}
    assert {m for t, m, _ in history(database, "bt")} == {"a", "b"}
    times = {t for t, _, _ in history(database, "elo") + history(database, "bt")}
    assert len(times) == 1 and utc(next(iter(times))) == utc(at)


def utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def test_db_category_filter_accepts_aliases(
    database: Database, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_votes(database, n=12)
    keep = ("--exclude-flags", "none", "--no-store")
    assert run_cli("--db", db_url, "--category", "general_knowledge", *keep) == 0
    assert "category 通用知识: 12 battles" in capsys.readouterr().out
    assert run_cli("--db", db_url, "--category", "reasoning", *keep) == 2
    err = capsys.readouterr().err
    assert "no battles in category '逻辑推理' (categories present: 通用知识)" in err and err.count("\n") == 1
