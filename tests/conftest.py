"""Session-wide fixtures shared by all test packages (keep this file small)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point EVALS_HOME / EVALS_CACHE_DIR at session tmp dirs so tests never touch the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALS_HOME", str(tmp_path_factory.mktemp("evals_home")))
        mp.setenv("EVALS_CACHE_DIR", str(tmp_path_factory.mktemp("evals_cache")))
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(_isolated_user_dirs: None) -> Path:
    """The project's tiny Chinese Llama checkpoint, built once per session into the session's cache dir.

    It is the same directory `default_tiny_dir()` uses, so CLI runs without `--model` reuse it.
    """
    from training.tiny import default_tiny_dir

    return Path(default_tiny_dir(progress=False))


@pytest.fixture(scope="session")
def ceval_sample_dir() -> Path:
    """The embedded C-Eval sample data (official layout: {dev,val,test}/{subject}_{split}.csv)."""
    return ROOT / "evals" / "resources" / "ceval_sample"
