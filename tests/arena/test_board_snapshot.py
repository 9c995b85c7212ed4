"""The leaderboard reads stored snapshots only: a vote starts a background refresh, the page
never fits; 500 models read in well under 2 s."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from db import Database, arena_repo, repo
from db.models import utcnow
from db.models_arena import ArenaAnswer, Battle, Vote


def _fill(database: Database, n_models: int, n_votes: int, seed: int = 0) -> list[str]:
    """Models, one prompt, one answer each, and voted battles inserted directly (fast), with
    realistic reading times and one voter per vote, so hygiene flags nothing."""
    rng = np.random.default_rng(seed)
    names = [f"model-{k:03d}" for k in range(n_models)]
    strength = np.linspace(-2, 2, n_models)
    now = utcnow()
    with database.session() as s:
        ids = [repo.upsert_model(s, name, f"/m/{name}").id for name in names]
        arena_repo.add_prompts(
            s, [{"text": "问题", "norm_hash": "h0", "category": "通用知识", "lang": "zh", "source": "t"}]
        )
        prompt = arena_repo.list_prompts(s)[0].id
        answers = [ArenaAnswer(prompt_id=prompt, model_id=i, text="回答", gen_params={}, params_hash="t") for i in ids]
        s.add_all(answers)
        s.flush()
        a = np.arange(n_votes) % n_models  # every model plays, neighbours mostly: connected
        b = (a + rng.integers(1, 6, n_votes)) % n_models
        p = 1 / (1 + np.exp(-(strength[a] - strength[b])))
        won = rng.random(n_votes) < p
        battles, votes = [], []
        for k in range(n_votes):
            bid = f"b{k}"
            t = now - timedelta(hours=2) + timedelta(seconds=k * 0.1)
            battles.append(Battle(id=bid, prompt_id=prompt, model_a_id=ids[a[k]], model_b_id=ids[b[k]],
                                  answer_a_id=answers[a[k]].id, answer_b_id=answers[b[k]].id, session_id=f"s{k}",
                                  served_at=t - timedelta(minutes=1), kind="human"))  # fmt: skip
            votes.append(Vote(battle_id=bid, outcome="model_a" if won[k] else "model_b", voter_id=f"v{k}",
                              created_at=t))  # fmt: skip
        s.add_all(battles)
        s.flush()
        s.add_all(votes)
    return names


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"sqlite:///{tmp_path / 'board.db'}"
    monkeypatch.setenv("EVALS_DB_URL", url)
    return Database(url)


def test_page_reads_snapshots_and_refreshes_in_background(store: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.snapshots import refresh_board
    from dashboards import data

    _fill(store, 12, 1200)
    url = str(store.url)
    first = data.leaderboard(url)  # a store without a board computes its first one, once
    assert first.computed_at is not None and np.isfinite(first.bt).all()
    assert int(first.battles.sum()) == 2 * 1200

    # A new vote: the page answers from the old snapshot at once and never calls the fitter itself.
    with store.session() as s:
        s.add(Battle(id="late", prompt_id=1, model_a_id=1, model_b_id=2, answer_a_id=1, answer_b_id=2,
                     session_id="late", served_at=utcnow() - timedelta(minutes=1), kind="human"))  # fmt: skip
        s.flush()
        s.add(Vote(battle_id="late", outcome="model_b", voter_id="late-voter", created_at=utcnow()))
    fitted_in: list[str] = []
    real = refresh_board

    def spy(*args: object, **kw: object) -> object:
        fitted_in.append(threading.current_thread().name)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("arena.snapshots.refresh_board", spy)
    data._REFRESHING.clear()
    page = data.leaderboard(url)
    assert page.computed_at == first.computed_at  # the old snapshot, served without a fit
    for t in threading.enumerate():
        if t.name.startswith("board-refresh"):
            t.join(timeout=60)
    assert fitted_in == ["board-refresh-human"]  # the refresh ran, in the background thread
    after = data.BoardSnapshot(store, "human")
    assert after.computed_at is not None and after.computed_at > first.computed_at
    assert int(after.battles.sum()) == 2 * 1201


def test_500_models_page_data_under_2_seconds(store: Database) -> None:
    from arena.snapshots import refresh_board
    from dashboards import data

    _fill(store, 500, 20_000)
    t0 = time.perf_counter()
    assert refresh_board(store) is not None  # the background job: fit + sandwich CIs for 500 models
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    board = data.BoardSnapshot(store, "human")
    frame = data.leaderboard_frame(board, data.headline_table(store), data.models_frame(store))
    heat = data.win_rate_long(board)
    read_s = time.perf_counter() - t0
    assert len(frame) == 500 and frame["bt"].notna().all() and len(heat) == 500 * 499
    assert read_s < 2.0, f"page data took {read_s:.2f} s (fit took {fit_s:.2f} s in the background)"
