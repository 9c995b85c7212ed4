"""`arena/__init__.py` lists every public name twice: `_EXPORTS` (runtime, lazy) and the
`if TYPE_CHECKING:` imports (what mypy sees). They must name the same objects."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import arena

INIT = Path(arena.__file__)


def _static_exports() -> dict[str, str]:
    """{name: module} of the `from M import X as X` lines under `if TYPE_CHECKING:`."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, ast.unparse(stmt)
                for alias in stmt.names:
                    # `X as X` is what marks a re-export for mypy; a bare `X` would be private to it.
                    assert alias.asname == alias.name, f"write `{alias.name} as {alias.name}` in arena/__init__.py"
                    out[alias.name] = stmt.module
    return out


def test_static_and_lazy_exports_agree():
    assert _static_exports() == arena._EXPORTS


def test_every_export_resolves_to_its_module_object():
    for name, module in arena._EXPORTS.items():
        assert getattr(arena, name) is getattr(importlib.import_module(module), name)
    assert sorted(arena.__all__) == sorted(arena._EXPORTS)
