"""`evals score ...`: score existing prediction files without a model (being built)."""

from __future__ import annotations

from evals.cli.app import app  # noqa: F401
