"""Streaming chat answers from the real tiny model: in-process (hf) and over a real HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.model_spec import ModelSpec
from runners import open_runner
from runners.base import GenParams
from runners.chat_stream import HFChatStreamer, OpenAIChatStreamer, StreamEnd
from runners.errors import RemoteError
from tests.arena.sse_server import ChatServer, serve_chat

GREEDY = GenParams(max_new_tokens=24, temperature=0.0)
SYSTEM = "你是一个乐于助人的助手。"
CHAT = [{"role": "user", "content": "你好，请介绍一下长城。"}]


@pytest.fixture(scope="module")
def hf_streamer(tiny_model_dir: Path) -> HFChatStreamer:
    return HFChatStreamer(open_runner(ModelSpec(name="tiny", path=str(tiny_model_dir))), timeout_s=60)


@pytest.fixture(scope="module")
def server(hf_streamer: HFChatStreamer) -> Iterator[ChatServer]:
    with serve_chat(hf_streamer, slow_s=3.0) as srv:
        yield srv
    # Let answers a client gave up on finish: a generation thread alive at exit aborts the interpreter.
    for t in threading.enumerate():
        if t.name == "hf-chat-stream":
            t.join(timeout=60)


def _collect(events: Iterator[object]) -> tuple[list[str], StreamEnd]:
    pieces, ends = [], []
    for e in events:
        (ends if isinstance(e, StreamEnd) else pieces).append(e)
    assert len(ends) == 1
    return pieces, ends[0]  # type: ignore[return-value]


def test_hf_stream_equals_batch_generate(hf_streamer: HFChatStreamer) -> None:
    pieces, end = _collect(hf_streamer.stream_chat(CHAT, GREEDY, system=SYSTEM))
    assert len(pieces) > 1  # token by token, not one blob
    expected = hf_streamer.runner.generate([CHAT[0]["content"]], GREEDY, chat=True, system=SYSTEM)[0]
    assert "".join(pieces).strip() == expected.strip()
    assert end.completion_tokens is not None and 0 < end.completion_tokens <= GREEDY.max_new_tokens
    assert end.finish_reason in ("stop", "length") and end.prompt_tokens and end.prompt_tokens > 5


def test_openai_stream_over_loopback_matches_in_process(
    hf_streamer: HFChatStreamer, server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVE_TEST_KEY", "sk-test-123")
    remote = OpenAIChatStreamer(server.url, "tiny", api_key_env="LIVE_TEST_KEY", timeout_s=30)
    history = [*CHAT, {"role": "assistant", "content": "长城很长。"}, {"role": "user", "content": "它有多长？"}]
    pieces, end = _collect(remote.stream_chat(history, GREEDY, system=SYSTEM))
    local, local_end = _collect(hf_streamer.stream_chat(history, GREEDY, system=SYSTEM))
    assert len(pieces) > 1 and "".join(pieces) == "".join(local)
    assert (end.completion_tokens, end.finish_reason) == (local_end.completion_tokens, local_end.finish_reason)
    sent = server.requests[-1]
    assert sent["auth"] == "Bearer sk-test-123"  # read from the environment at call time
    assert sent["body"]["stream"] is True and sent["body"]["messages"][0] == {"role": "system", "content": SYSTEM}
    assert sent["body"]["messages"][1:] == history
    remote.close()


def test_min_new_tokens_holds_off_the_end_in_process_and_over_http(
    hf_streamer: HFChatStreamer, server: ChatServer
) -> None:
    _, free = _collect(hf_streamer.stream_chat(CHAT, GREEDY, system=SYSTEM))
    assert free.finish_reason == "stop" and free.completion_tokens is not None and free.completion_tokens < 12
    held = GenParams(max_new_tokens=24, temperature=0.0, min_new_tokens=12)
    _, local = _collect(hf_streamer.stream_chat(CHAT, held, system=SYSTEM))
    assert local.completion_tokens is not None and local.completion_tokens >= 12
    remote = OpenAIChatStreamer(server.url, "tiny", timeout_s=30)
    _, end = _collect(remote.stream_chat(CHAT, held, system=SYSTEM))
    assert server.requests[-1]["body"]["min_tokens"] == 12  # sent as vLLM's `min_tokens`
    assert end.completion_tokens == local.completion_tokens
    _collect(remote.stream_chat(CHAT, GREEDY, system=SYSTEM))
    assert "min_tokens" not in server.requests[-1]["body"]  # never sent unless asked for
    remote.close()


def test_openai_stream_failures_are_one_line_remote_errors(server: ChatServer) -> None:
    broken = OpenAIChatStreamer(server.url, "broken", timeout_s=30)
    with pytest.raises(RemoteError, match="HTTP 500"):
        list(broken.stream_chat(CHAT, GREEDY))
    slow = OpenAIChatStreamer(server.url, "slow", timeout_s=0.5)
    with pytest.raises(RemoteError, match="timed out"):
        list(slow.stream_chat(CHAT, GREEDY))
    silent = OpenAIChatStreamer(server.url, "silent", timeout_s=30)
    pieces, end = _collect(silent.stream_chat(CHAT, GREEDY))
    assert pieces == [] and end.finish_reason in ("stop", "length")
    down = OpenAIChatStreamer("http://127.0.0.1:9/v1", "tiny", timeout_s=2)
    with pytest.raises(RemoteError, match="ConnectError"):
        list(down.stream_chat(CHAT, GREEDY))
