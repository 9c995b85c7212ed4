"""`vllm serve` of a local checkpoint as a child process, for what needs vLLM's real serving path.

    with vllm_server(model_dir, dtype="float32") as base_url:   # "http://127.0.0.1:PORT/v1"
        ...                                                   # any OpenAI-compatible client

The perf suite times `--backend vllm` through it: continuous batching, the scheduler and the HTTP/SSE
layer are what a served model's latency is made of, and the in-process `vllm.LLM` has none of them.
On vLLM's CPU build the KV cache gets `CPU_KV_CACHE_BYTES` (as the in-process runner); on CUDA,
`gpu_memory_utilization` (default vLLM's own). The server's output goes to a log file; a server that
exits or is not up within `startup_s` raises ModelLoadError with the log's tail.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from runners.errors import ModelLoadError
from runners.vllm_backend import CPU_KV_CACHE_BYTES, check_available


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(
    model_path: str,
    port: int,
    *,
    served_name: str,
    dtype: str = "auto",
    device: str = "cpu",
    tensor_parallel_size: int = 1,
    pipeline_parallel_size: int = 1,
    gpu_memory_utilization: float | None = None,
    max_model_len: int | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The `vllm serve` command line (the API server module of `python`'s vLLM: this interpreter's by default)."""
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path,
           "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port),
           "--tensor-parallel-size", str(tensor_parallel_size),
           "--pipeline-parallel-size", str(pipeline_parallel_size)]  # fmt: skip
    if dtype != "auto":
        cmd += ["--dtype", dtype]
    if max_model_len:
        cmd += ["--max-model-len", str(max_model_len)]
    if device == "cpu" and gpu_memory_utilization is None:
        cmd += ["--kv-cache-memory-bytes", str(CPU_KV_CACHE_BYTES), "--enforce-eager"]
    elif gpu_memory_utilization is not None:
        cmd += ["--gpu-memory-utilization", str(gpu_memory_utilization)]
    return cmd


def wait_up(
    proc: subprocess.Popen[bytes],
    url: str,
    log: Path,
    startup_s: float,
    headers: dict[str, str] | None = None,
    what: str = "vllm serve",
) -> None:
    """Poll `url`/models until the server (`what`, for messages) answers 200.

    Raises:
        ModelLoadError: the process exited, or it was not up within `startup_s` (with the log's last line).
    """
    deadline = time.monotonic() + startup_s
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise ModelLoadError(f"{what} exited at start ({tail[0][:300]}); log: {log}")
        try:
            if httpx.get(f"{url}/models", headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ModelLoadError(f"{what} not up after {startup_s:.0f} s; log: {log}")
        time.sleep(1.0)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server, killing it if it has not exited within a minute."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def vllm_server(
    model_path: str,
    *,
    served_name: str = "model",
    startup_s: float = 900.0,
    log_dir: Path | None = None,
    **options: object,
) -> Iterator[str]:
    """Start `vllm serve` on a free loopback port, yield its API root (with /v1), stop it on exit.

    `options` are `server_command`'s keyword arguments (dtype, parallel sizes, memory, max_model_len)."""
    device = check_available()
    port = free_port()
    cmd = server_command(model_path, port, served_name=served_name, device=device, **options)  # type: ignore[arg-type]
    log = Path(log_dir or tempfile.mkdtemp(prefix="leitai-vllm-")) / "vllm-serve.log"
    url = f"http://127.0.0.1:{port}/v1"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_up(proc, url, log, startup_s)
        yield url
    finally:
        stop(proc)
