"""Every backend class implements every member of the `Runner` protocol, with the same parameters.

Structural, from the classes themselves (no model loaded): hf and openai are imported; vllm_backend is
read as source (`ast`) so the check runs without vLLM installed. mypy checks the types of the same
conformance in each backend module (`_conforms`).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from runners.base import Runner

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = sorted(
    name for name in {*vars(Runner), *Runner.__annotations__} if not name.startswith("_") and name != "mro"
)
METHODS = sorted(name for name in MEMBERS if inspect.isfunction(vars(Runner).get(name)))
# Declared as data: an attribute or a read-only property each backend provides.
DATA = sorted(set(MEMBERS) - set(METHODS))


def _parameters(fn: object) -> list[tuple[str, str, bool]]:
    """(name, kind, has default) of each parameter: what a caller relies on."""
    return [
        (p.name, p.kind.name, p.default is not inspect.Parameter.empty)
        for p in inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
    ]


def _ast_parameters(node: ast.FunctionDef) -> list[tuple[str, str, bool]]:
    """The same triple from source, for a class that cannot be imported here."""
    a = node.args
    positional = a.posonlyargs + a.args
    first_default = len(positional) - len(a.defaults)
    out = [
        (arg.arg, "POSITIONAL_ONLY" if i < len(a.posonlyargs) else "POSITIONAL_OR_KEYWORD", i >= first_default)
        for i, arg in enumerate(positional)
    ]
    if a.vararg:
        out.append((a.vararg.arg, "VAR_POSITIONAL", False))
    out += [(arg.arg, "KEYWORD_ONLY", d is not None) for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    if a.kwarg:
        out.append((a.kwarg.arg, "VAR_KEYWORD", False))
    return out


def _implementation(fn: object) -> object:
    """The implementation behind an overloaded/decorated method (e.g. `torch.inference_mode`)."""
    return inspect.unwrap(fn)  # type: ignore[arg-type]


def test_protocol_declares_the_verbs_suites_use() -> None:
    assert set(METHODS) >= {
        "choice_logprobs", "loglikelihood", "rolling_loglikelihood", "token_logprobs", "generate",
        "count_tokens", "encode", "decode", "apply_chat_template", "close",
    }  # fmt: skip
    assert set(DATA) >= {"backend", "info", "bos_token_id"}


def problems(backend: type) -> list[str]:
    """What `backend` (a class) lacks of the protocol, or declares with other parameters."""
    out = []
    for name in METHODS:
        if not callable(getattr(backend, name, None)):
            out.append(f"lacks {name}")
            continue
        want = _parameters(vars(Runner)[name])
        got = _parameters(_implementation(getattr(backend, name)))
        if got[: len(want)] != want or not all(has_default for _, _, has_default in got[len(want) :]):
            out.append(f"{name}{got} != Runner.{name}{want}")
    for name in DATA:
        if not hasattr(backend, name) and name not in _instance_attributes(inspect.getsource(backend)):
            out.append(f"has no {name}")
    return out


@pytest.mark.parametrize(("module", "cls"), [("runners.hf", "HFRunner"), ("runners.openai_backend", "OpenAIRunner")])
def test_importable_backends_implement_the_protocol(module: str, cls: str) -> None:
    import importlib

    assert problems(getattr(importlib.import_module(module), cls)) == []


def test_vllm_backend_implements_the_protocol_from_source() -> None:
    tree = ast.parse((ROOT / "runners" / "vllm_backend.py").read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "VLLMRunner")
    # The last definition of a name wins (overload stubs come first, the implementation last).
    methods = {f.name: f for f in node.body if isinstance(f, ast.FunctionDef)}
    class_data = {t.id for n in node.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    for name in METHODS:
        assert name in methods, f"VLLMRunner lacks {name}"
        want = _parameters(vars(Runner)[name])
        got = _ast_parameters(methods[name])
        assert got[: len(want)] == want, f"VLLMRunner.{name}{got} != Runner.{name}{want}"
        assert all(has_default for _, _, has_default in got[len(want) :]), f"VLLMRunner.{name}: extra required params"
    for name in DATA:
        assert name in class_data or name in _instance_attributes(ast.unparse(node)), f"VLLMRunner has no {name}"


def _instance_attributes(source: str) -> set[str]:
    """Names assigned as `self.<name>` anywhere in a class's source."""
    import textwrap

    tree = ast.parse(textwrap.dedent(source))
    out: set[str] = set()
    for n in ast.walk(tree):
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                out.add(t.attr)
    return out


class Partial:
    """A backend that forgot `decode` and renamed a keyword of `encode`."""

    backend = "partial"

    def __init__(self) -> None:
        self.info = None
        self.bos_token_id = 1

    def encode(self, texts: list[str], *, special: bool = True) -> list[list[int]]:
        return [[self.bos_token_id] for _ in texts]


def test_a_missing_verb_or_parameter_is_caught() -> None:
    found = problems(Partial)
    assert "lacks decode" in found and "lacks generate" in found
    assert any(p.startswith("encode[") for p in found)
    assert not any("bos_token_id" in p or "info" in p for p in found)  # instance attributes count
