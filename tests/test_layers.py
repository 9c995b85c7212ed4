"""The package layers are one-way (ARCHITECTURE.md draws them):

    3  application   evals.cli (the `evals` command), dashboards   -- the only place that wires the rest
    2  domain        evals (suites library), arena, training       -- side by side, none imports another
    1  foundations   runners, db                                   -- neither imports the other
    0  basics        core (UserError, progress display, ModelSpec)

A module may import its own package and any package of a lower layer, never one of its own layer or
above; and never another package's private modules (`runners._quant`): front doors only. Every import
counts, at module level and inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYER = {"core": 0, "runners": 1, "db": 1, "evals": 2, "arena": 2, "training": 2, "evals.cli": 3, "dashboards": 3}


def unit_of(module: str) -> str | None:
    """The layered unit a dotted module name belongs to (`evals.cli.run` -> `evals.cli`)."""
    parts = module.split(".")
    if parts[0] == "evals" and len(parts) > 1 and parts[1] == "cli":
        return "evals.cli"
    return parts[0] if parts[0] in LAYER else None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path).split(".")
    is_pkg = path.name == "__init__.py"
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names if a.name != "*"]
    return out


def violations() -> list[str]:
    found: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] not in {"core", "runners", "db", "evals", "arena", "training", "dashboards"}:
            continue
        me = unit_of(module_name(path))
        assert me is not None
        my_pkg = module_name(path).split(".")[0]
        seen: set[int] = set()
        for line, mod in imported_modules(path):
            if line in seen:  # one finding per import statement
                continue
            other = unit_of(mod)
            if other is None or other == me:
                continue
            where = f"{rel}:{line}"
            if LAYER[other] >= LAYER[me] and not (me == "evals.cli" and other == "evals"):
                kind = "upward" if LAYER[other] > LAYER[me] else "sideways"
                found.append(
                    f"{where}: {kind} import of {mod} ({me} is layer {LAYER[me]}, {other} layer {LAYER[other]})"
                )
                seen.add(line)
            elif mod.split(".")[0] != my_pkg and any(
                p.startswith("_") and not p.startswith("__") for p in mod.split(".")[1:]
            ):
                found.append(f"{where}: {mod} is private to {mod.split('.')[0]} (use its front door)")
                seen.add(line)
    return found


def test_layers_are_one_way() -> None:
    found = violations()
    assert not found, "layer violations:\n" + "\n".join(found)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The walker must catch what the real code could hide: an import inside a function, a relative one."""
    src = "def f():\n    from arena import ratings\n\nfrom ..cli import app\n"
    path = ROOT / "evals" / "suites" / "_probe_layers.py"
    path.write_text(src, encoding="utf-8")
    try:
        found = [v for v in violations() if "_probe_layers" in v]
    finally:
        path.unlink()
    assert any(":2: sideways import of arena" in v for v in found), found
    assert any(":4: upward import of evals.cli" in v for v in found), found
