"""Fixtures for runner tests: one HFRunner on the project's tiny Llama per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def runner_model_dir(tiny_model_dir: Path) -> Path:
    """The shared tiny checkpoint (tests/conftest.py): real Llama code paths, Llama-like tokenizer."""
    return Path(tiny_model_dir)


@pytest.fixture(scope="session")
def runner(runner_model_dir: Path):
    from runners.hf import HFRunner

    return HFRunner(str(runner_model_dir), device="cpu")
