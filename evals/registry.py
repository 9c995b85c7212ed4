"""Suite registry: `@suite("name")` on a class; lookups import suite modules lazily."""

from __future__ import annotations

from importlib import import_module
from typing import Any

# name -> module that registers it; imported on first use so `evals --help` stays light.
_SUITE_MODULES: dict[str, str] = {
    "ceval": "evals.suites.ceval",
    "cmmlu": "evals.suites.cmmlu",
    "longbench": "evals.suites.longbench",
    "ppl": "evals.suites.ppl",
    "quant": "evals.suites.quant",
}
_SUITES: dict[str, type] = {}


def suite(name: str):
    def register(cls: type) -> type:
        cls.name = name
        _SUITES[name] = cls
        return cls

    return register


def suite_names() -> list[str]:
    return sorted(_SUITE_MODULES)


def get_suite(name: str) -> Any:
    from core.errors import UserError

    if name.startswith("lmeval:"):  # any lm-evaluation-harness task, run by its own harness
        from evals.suites.lmeval_bridge import LMEvalSuite

        return LMEvalSuite(name.removeprefix("lmeval:"))
    if name not in _SUITE_MODULES:
        raise UserError(f"unknown suite {name!r}; available: {', '.join(suite_names())}")
    if name not in _SUITES:
        import_module(_SUITE_MODULES[name])
    return _SUITES[name]()
