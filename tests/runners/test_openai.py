"""`--backend openai` against a real OpenAI-compatible server on loopback.

The server is llama.cpp's (llama-cpp-python[server]) serving our tiny checkpoint converted to an
f32 GGUF, so its numbers can be checked against the hf backend on the same weights. The fixture
skips with the reason when the server package or llama.cpp's converter is missing:
    pip install 'llama-cpp-python[server]'    # builds llama.cpp (CPU) from the sdist
    LLAMA_CPP_CONVERT=/path/to/llama.cpp/convert_hf_to_gguf.py   # + `pip install gguf`
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runners.errors import ModelLoadError, RemoteError
from tests.evals.cli_helpers import load_json, run_cli

SERVED = "tiny-gguf"
API_KEY = "test-key-123"
STARTUP_S = 90


def _converter() -> Path | None:
    found = os.environ.get("LLAMA_CPP_CONVERT") or shutil.which("convert_hf_to_gguf.py")
    return Path(found) if found and Path(found).is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gguf_model(request, tmp_path_factory) -> Path:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("sse_starlette") is None:
        pytest.skip("llama-cpp-python[server] not installed")
    converter = _converter()
    if converter is None:
        pytest.skip("llama.cpp's convert_hf_to_gguf.py not found (set LLAMA_CPP_CONVERT to its path)")
    tiny_model_dir = request.getfixturevalue("tiny_model_dir")  # built only when a server can run
    out = tmp_path_factory.mktemp("gguf") / "tiny.f32.gguf"
    env = {**os.environ}
    gguf_py = converter.parent / "gguf-py"
    if gguf_py.is_dir():  # the converter's own gguf library, matching its version
        env["PYTHONPATH"] = f"{gguf_py}{os.pathsep}{env.get('PYTHONPATH', '')}"
    res = subprocess.run([sys.executable, str(converter), str(tiny_model_dir), "--outfile", str(out), "--outtype", "f32"],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    if res.returncode != 0:
        pytest.skip(f"GGUF conversion failed: {res.stderr.strip().splitlines()[-1:]}")
    return out


@pytest.fixture(scope="module")
def server(gguf_model) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port; yields its /v1 URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_model), "--model_alias", SERVED,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
           "--api_key", API_KEY, "--verbose", "false"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + STARTUP_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.skip(f"llama.cpp server exited at start: {proc.stderr.read()[-300:]}")
            try:
                if httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.skip(f"llama.cpp server not up after {STARTUP_S} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def remote(server):
    from runners.openai_backend import OpenAIRunner

    os.environ["LEITAI_TEST_KEY"] = API_KEY
    exchanges: list[tuple[dict, dict, float]] = []
    r = OpenAIRunner(SERVED, base_url=server, api_key_env="LEITAI_TEST_KEY", concurrency=2,
                     on_exchange=lambda q, a, t: exchanges.append((q, a, t)),
                     extra_body={"repeat_penalty": 1.0})  # llama.cpp's default 1.1 is no greedy decoding  # fmt: skip
    r.exchanges = exchanges
    return r


def _server_ids(server: str, text: str) -> list[int]:
    """The server's own token ids of `text` (BOS first): llama.cpp's tokenize endpoint, used only to
    feed the hf backend the very tokens the server read (its GGUF tokenizer splits Chinese differently)."""
    root = server.removesuffix("/v1")
    resp = httpx.post(f"{root}/extras/tokenize", json={"input": text, "model": SERVED},
                      headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)  # fmt: skip
    return resp.json()["tokens"]


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


PAIRS = [("中国的首都是", "北京"), ("The answer is", " B"), ("一加一等于", "二。")]


def test_loglikelihood_matches_hf_on_the_servers_tokens(remote, runner, server):
    got = remote.loglikelihood([*PAIRS, ("你好", "")])
    assert got[-1] == (0.0, True)
    for (ctx, cont), (value, greedy) in zip(PAIRS, got):
        full, head = _server_ids(server, ctx + cont), _server_ids(server, ctx)
        (logprobs, is_greedy), = runner.token_logprobs([(full, _common(full, head))], with_greedy=True)
        assert value == pytest.approx(float(logprobs.double().sum()), abs=2e-3)
        assert greedy == bool(is_greedy.all())


def test_choice_logprobs_rolling_and_counts(remote, runner, server):
    prompt = "以下是中国关于法学考试的单项选择题，请选出其中的正确答案。\n\n宪法是什么？\nA. 根本法\nB. 普通法\nC. 习惯\nD. 判例\n答案："
    got = remote.choice_logprobs([prompt], ["A", "B", "C", "D"])[0]
    assert [got[c] for c in "ABCD"] == pytest.approx([v for v, _ in remote.loglikelihood([(prompt, c) for c in "ABCD"])])
    head = _server_ids(server, prompt)
    for c in "ABCD":
        full = _server_ids(server, prompt + c)
        want = float(runner.token_logprobs([(full, _common(full, head))])[0].double().sum())
        assert got[c] == pytest.approx(want, abs=2e-3)
    with pytest.raises(ValueError, match="--scoring logprob"):
        remote.choice_logprobs([prompt], ["A"], scoring="cla2")
    text = "中华人民共和国成立于一九四九年。"
    ids = _server_ids(server, text)
    (lp, n), = remote.rolling_loglikelihood([text], max_length=512)
    # llama.cpp echoes no BOS and gives the first text token no log-prob: it scores ids[2:].
    assert n == len(ids) - 2
    assert lp == pytest.approx(float(runner.token_logprobs([(ids, 2)])[0].double().sum()), abs=2e-3)
    assert remote.count_tokens(text) == len(ids)
    with pytest.raises(ValueError, match="exceeds max_length=4"):
        remote.rolling_loglikelihood([text], max_length=4)


def test_generate_plain_and_chat(remote, runner, server):
    from runners import _generate
    from runners.base import GenParams

    params = GenParams(max_new_tokens=8)
    prompts = ["中国的首都是", "今天天气"]
    want = _generate.generate_batches(runner.model, runner.tokenizer, [_server_ids(server, p) for p in prompts], params,
                                      pad_id=runner._pad_id, device=runner.device, batch_size=2, progress=False)  # fmt: skip
    assert remote.generate(prompts, params) == want  # greedy on the same weights and tokens
    chat = remote.generate(["你好"], GenParams(max_new_tokens=6), chat=True, system="你是助手。")
    assert isinstance(chat[0], str)
    cut = remote.generate(prompts[:1], GenParams(max_new_tokens=8, stop=("京",)))
    assert "京" not in cut[0]


def test_exchanges_are_logged_without_the_key(remote):
    remote.exchanges.clear()
    remote.generate(["你好"], __import__("runners.base", fromlist=["GenParams"]).GenParams(max_new_tokens=2))
    (request, response, latency), = remote.exchanges
    assert request["endpoint"] == "/completions" and request["prompt"] == "你好" and request["model"] == SERVED
    assert "choices" in response and latency > 0
    assert API_KEY not in repr(remote.exchanges)


def test_wrong_key_and_unknown_model_are_one_line_errors(server, monkeypatch):
    from runners.openai_backend import OpenAIRunner

    monkeypatch.setenv("LEITAI_BAD_KEY", "nope")
    with pytest.raises(ModelLoadError, match="refused the API key"):
        OpenAIRunner(SERVED, base_url=server, api_key_env="LEITAI_BAD_KEY")
    monkeypatch.setenv("LEITAI_TEST_KEY", API_KEY)
    with pytest.raises(ModelLoadError, match="does not serve model 'nope'"):
        OpenAIRunner("nope", base_url=server, api_key_env="LEITAI_TEST_KEY")


def test_ceval_through_the_cli(server, tiny_model_dir, ceval_sample_dir, tmp_path):
    out = tmp_path / "out.json"
    common = ("run", "--suite", "ceval", "--data", str(ceval_sample_dir), "--subjects", "law", "--limit", "2",
              "--scoring", "logprob", "--db", f"sqlite:///{tmp_path / 'r.db'}", "--no-progress")  # fmt: skip
    res = run_cli(*common, "--backend", "openai", "--base-url", server, "--served-model-name", SERVED,
                  "--api-key-env", "LEITAI_TEST_KEY", "--json", str(out), env={"LEITAI_TEST_KEY": API_KEY})  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert doc["backend"] == "openai" and doc["n_items"] == 2
    hf_out = tmp_path / "hf.json"
    res = run_cli(*common, "--model", str(tiny_model_dir), "--json", str(hf_out))
    assert res.returncode == 0, res.stderr
    ref = {it["id"]: it for it in load_json(hf_out)["items"]}
    for it in doc["items"]:  # hf "logprob" sums the letter's two piece variants; the server scores one
        assert set(it["scores"]) == set("ABCD") and it["id"] in ref


# --- transport behaviour (retry policy) on a real local HTTP stack, no model involved ---------


def test_retries_with_backoff_then_gives_up(monkeypatch):
    from runners import openai_backend
    from runners.openai_backend import OpenAIRunner

    monkeypatch.setattr(openai_backend, "BACKOFF_BASE_S", 0.01)
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        calls["n"] += 1
        if calls["n"] < 3:
            return httpx.Response(503 if calls["n"] == 1 else 429, json={"error": {"message": "busy"}})
        return httpx.Response(200, json={"choices": [{"text": "ok"}]})

    r = OpenAIRunner("m", base_url="http://x/v1", transport=httpx.MockTransport(handler), max_retries=3)
    assert r.generate(["a"]) == ["ok"] and calls["n"] == 3
    calls["n"] = -10
    with pytest.raises(RemoteError, match="failed after 2 attempts: HTTP 429: busy"):
        OpenAIRunner("m", base_url="http://x/v1", transport=httpx.MockTransport(handler), max_retries=1).generate(["a"])
    no_logprobs = httpx.MockTransport(lambda q: httpx.Response(200, json={"data": [{"id": "m"}]} if q.url.path.endswith("/models")
                                                               else {"choices": [{"text": ""}]}))  # fmt: skip
    with pytest.raises(RemoteError, match="does not return logprobs; logprob suites need a server that does"):
        OpenAIRunner("m", base_url="http://x/v1", transport=no_logprobs).loglikelihood([("a", "b")])
