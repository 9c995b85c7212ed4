"""Suite registry: `@suite("name")` on a `Suite` subclass; every module of `evals.suites` is found by listing.

Discovery imports the modules of the `evals.suites` package (files whose name does not start with "_")
the first time a suite is looked up, so adding a suite is adding a file. Suite modules import nothing
heavy at module level (torch, transformers and lm-eval load inside predict), so listing them keeps
`evals --help` light. `@suite` checks the class's declared capabilities when its module is imported:
a malformed declaration is a TypeError naming the suite and every problem.

A family is a suite class named by a prefix and an argument (`lmeval:<task>`), registered with
`@suite_family("lmeval", usage="lmeval:<task>")`; its class takes the argument in its constructor.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable
from importlib import import_module
from typing import Any, TypeVar

from core.errors import UserError
from evals.suite_api import Suite, SuiteCapabilities, check_suite_class

SuiteClass = TypeVar("SuiteClass", bound=type[Suite[Any, Any, Any]])

_SUITES: dict[str, type[Suite[Any, Any, Any]]] = {}
_FAMILIES: dict[str, tuple[type[Suite[Any, Any, Any]], str]] = {}  # prefix -> (class, usage)
_discovered = False


def _register(name: str, cls: type[Suite[Any, Any, Any]], table: dict[str, Any], value: Any) -> None:
    check_suite_class(cls, name)
    taken = _SUITES.get(name) or (_FAMILIES[name][0] if name in _FAMILIES else None)
    if taken is not None and taken.__qualname__ != cls.__qualname__:
        raise TypeError(f"suite {name!r} is registered twice: {taken.__module__} and {cls.__module__}")
    table[name] = value


def suite(name: str) -> Callable[[SuiteClass], SuiteClass]:
    """Register a suite class under `name` after checking its declaration."""
    if not name or ":" in name or name != name.strip():
        raise TypeError(f"bad suite name {name!r} (no spaces or ':')")

    def register(cls: SuiteClass) -> SuiteClass:
        cls.name = name
        _register(name, cls, _SUITES, cls)
        return cls

    return register


def suite_family(prefix: str, *, usage: str) -> Callable[[SuiteClass], SuiteClass]:
    """Register a class whose suites are named `prefix:ARG`; it is built as `cls(ARG)`."""

    def register(cls: SuiteClass) -> SuiteClass:
        _register(prefix, cls, _FAMILIES, (cls, usage))
        return cls

    return register


def _discover() -> None:
    """Import every suite module once (each registers itself)."""
    global _discovered
    if _discovered:
        return
    import evals.suites as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            import_module(f"{package.__name__}.{info.name}")
    _discovered = True


def suite_names() -> list[str]:
    """The registered suite names, sorted (families not included: see `suite_families`)."""
    _discover()
    return sorted(_SUITES)


def suite_families() -> dict[str, str]:
    """prefix -> usage (`{"lmeval": "lmeval:<task>"}`)."""
    _discover()
    return {prefix: usage for prefix, (_, usage) in sorted(_FAMILIES.items())}


def suite_class(name: str) -> type[Suite[Any, Any, Any]]:
    """The class behind a suite name (a family member's class for `prefix:ARG`).

    Raises:
        UserError: no such suite.
    """
    _discover()
    prefix, sep, _ = name.partition(":")
    if sep and prefix in _FAMILIES:
        return _FAMILIES[prefix][0]
    if name not in _SUITES:
        usages = [*sorted(_SUITES), *(u for _, u in _FAMILIES.values())]
        raise UserError(f"unknown suite {name!r}; available: {', '.join(usages)}")
    return _SUITES[name]


def capabilities(name: str) -> SuiteCapabilities:
    return suite_class(name).capabilities


def get_suite(name: str) -> Suite[Any, Any, Any]:
    """A fresh instance of the named suite (`prefix:ARG` builds a family member)."""
    cls = suite_class(name)
    prefix, sep, arg = name.partition(":")
    if sep and prefix in _FAMILIES:
        return cls(arg)  # type: ignore[call-arg]
    return cls()


def all_capabilities() -> dict[str, SuiteCapabilities]:
    """name -> capabilities of every registered suite (families not included)."""
    return {name: capabilities(name) for name in suite_names()}
