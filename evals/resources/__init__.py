"""Embedded sample data shipped with the package (all written by the Leitai authors)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def resource(name: str) -> Path:
    return ROOT / name
