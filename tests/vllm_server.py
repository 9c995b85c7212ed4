"""vLLM's own OpenAI-compatible server on loopback, serving a local checkpoint (CPU build or GPU).

Shared by the tests that need a real server (`tests/runners/test_openai.py`, the live arena's browser
test) and by `benchmarks/live_load.py --server vllm`. `make test-vllm` installs vLLM's CPU build into
.venv-vllm, so these run on machines without a GPU too.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runners.vllm_server import free_port, stop, wait_up

__all__ = ["free_port", "serve_vllm", "stop", "vllm_command", "vllm_unusable", "wait_up"]


def vllm_unusable() -> str | None:
    """None when vLLM can serve here, else why not (a skip reason)."""
    if importlib.util.find_spec("vllm") is None:
        return "vLLM not installed"
    from runners.errors import ModelLoadError
    from runners.vllm_backend import check_available

    try:
        check_available()
    except ModelLoadError as exc:
        return str(exc)
    return None


def vllm_command(model_dir: Path, served: str, port: int, api_key: str | None) -> list[str]:
    """`runners.vllm_server`'s command line for the tests' settings (float32, 2048 tokens), with an API key."""
    from runners.vllm_backend import check_available
    from runners.vllm_server import server_command

    cmd = server_command(str(model_dir), port, served_name=served, dtype="float32", max_model_len=2048,
                         device=check_available())  # fmt: skip
    return [*cmd, "--api-key", api_key] if api_key else cmd


@contextmanager
def serve_vllm(model_dir: Path, served: str, log: Path, *, startup_s: float = 600.0) -> Iterator[str]:
    """Run `vllm serve` for `model_dir` as `served` on a free port (`runners.vllm_server`); yield its /v1 URL."""
    from runners.vllm_server import vllm_server

    log.parent.mkdir(parents=True, exist_ok=True)
    with vllm_server(str(model_dir), served_name=served, startup_s=startup_s, log_dir=log.parent,
                     dtype="float32", max_model_len=2048) as url:  # fmt: skip
        yield url
