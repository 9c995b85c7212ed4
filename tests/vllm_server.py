"""vLLM's own OpenAI-compatible server on loopback, serving a local checkpoint (CPU build or GPU).

Shared by the tests that need a real server (`tests/runners/test_openai.py`, the live arena's browser
test) and by `benchmarks/live_load.py --serve-vllm`. `make test-vllm` installs vLLM's CPU build into
.venv-vllm, so these run on machines without a GPU too.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerFailed(RuntimeError):
    """The server exited or did not answer in time; the message carries the log's tail."""


def vllm_command(model_dir: Path, served: str, port: int, api_key: str | None) -> list[str]:
    from runners.vllm_backend import CPU_KV_CACHE_BYTES, check_available

    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--served-model-name", served, "--host", "127.0.0.1", "--port", str(port),
           "--dtype", "float32", "--enforce-eager", "--max-model-len", "2048"]  # fmt: skip
    if api_key:
        cmd += ["--api-key", api_key]
    # vLLM's CPU build reads a memory share of the whole node; a fixed KV budget starts on a busy box too
    cmd += ["--kv-cache-memory-bytes", str(CPU_KV_CACHE_BYTES)] if check_available() == "cpu" else \
           ["--gpu-memory-utilization", "0.2"]  # fmt: skip
    return cmd


def wait_up(proc: subprocess.Popen[str], url: str, startup_s: float, log: Path, api_key: str | None = None) -> None:
    """Poll `url`/models until it answers 200; raise ServerFailed if the process exits or time runs out."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + startup_s
    while True:
        if proc.poll() is not None:
            raise ServerFailed(f"server exited at start: {log.read_text(errors='replace')[-800:]}")
        try:
            if httpx.get(f"{url}/models", headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ServerFailed(f"server not up after {startup_s:.0f} s: {log.read_text(errors='replace')[-800:]}")
        time.sleep(0.5)


@contextmanager
def serve_vllm(
    model_dir: Path, served: str, log: Path, *, api_key: str | None = None, startup_s: float = 600.0
) -> Iterator[str]:
    """Run `vllm serve` for `model_dir` as `served` on a free port; yield its /v1 URL; stop it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            vllm_command(model_dir, served, port, api_key), stdout=sink, stderr=subprocess.STDOUT, text=True
        )
    try:
        wait_up(proc, url, startup_s, log, api_key)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
