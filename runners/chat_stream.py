"""Streaming chat answers, token by token, for the live arena.

    streamer = open_chat_streamer(...)            # or OpenAIChatStreamer / HFChatStreamer directly
    for event in streamer.stream_chat(messages, params, system="你是一个乐于助人的助手。"):
        if isinstance(event, str): show(event)     # a piece of text
        else: end = event                          # StreamEnd: finish reason and token counts

Two implementations of the one verb `stream_chat`:
- `OpenAIChatStreamer`: `POST {base_url}/chat/completions` with `"stream": true` (server-sent events),
  the way `vllm serve`, llama.cpp's server and hosted APIs stream. The API key is read from the
  named environment variable when the streamer is built; it is never stored or logged.
- `HFChatStreamer`: a loaded `HFRunner` generating in a worker thread into transformers'
  `TextIteratorStreamer`, so a local checkpoint streams in-process with no server.

Failures raise `RemoteError` with one line (timeouts, HTTP errors, a broken stream).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import httpx

from runners.base import GenParams
from runners.errors import RemoteError

Messages = Sequence[dict[str, str]]  # [{"role": "user" | "assistant", "content": ...}, ...]


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of a stream.

    Attributes:
        finish_reason: "stop" (the model ended), "length" (max_new_tokens reached), or what the server said.
        prompt_tokens: Tokens of the rendered conversation, when known.
        completion_tokens: Tokens generated, when known.
    """

    finish_reason: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


StreamEvent = str | StreamEnd


class ChatStreamer(Protocol):
    """Anything that streams a chat answer: text pieces, then exactly one `StreamEnd`."""

    def stream_chat(self, messages: Messages, params: GenParams, *, system: str | None = None) -> Iterator[StreamEvent]:
        """Answer the last user message of `messages`; `system` is prepended as a system message."""
        ...


def _with_system(messages: Messages, system: str | None) -> list[dict[str, str]]:
    msgs = [dict(m) for m in messages]
    return [{"role": "system", "content": system}, *msgs] if system else msgs


class OpenAIChatStreamer:
    """A model behind an OpenAI-compatible `/chat/completions` endpoint, streamed."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        """
        Args:
            base_url: The API root including `/v1`, e.g. "http://127.0.0.1:8000/v1".
            model: The `model` field of each request (the server's served model name).
            api_key_env: Environment variable holding the key; unset or empty means no Authorization header.
            timeout_s: Connect timeout and the longest wait between two chunks.
            transport: An httpx transport (tests may pass a real in-process one).
            extra_body: Fields added to every request (e.g. vLLM's `{"ignore_eos": true}` for fixed-length output).
        """
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.extra_body = dict(extra_body or {})
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        key = os.environ.get(api_key_env, "") if api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def ping(self, timeout_s: float = 2.0) -> str | None:
        """A cheap health check (`GET /models`): None when the server answers, else why not (one line).

        Any answer below HTTP 500 counts as up (a 401/404 still proves a server is listening);
        connection refused, a timeout or a 5xx counts as down.
        """
        try:
            resp = self._client.get("/models", timeout=timeout_s)
        except httpx.HTTPError as exc:
            return f"{self.base_url}: {type(exc).__name__}"
        return f"{self.base_url}: HTTP {resp.status_code}" if resp.status_code >= 500 else None

    def request_body(self, messages: Messages, params: GenParams, system: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": _with_system(messages, system),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.min_new_tokens:  # vLLM's extension; sent only when asked for (other APIs may refuse it)
            body["min_tokens"] = params.min_new_tokens
        return {**body, **self.extra_body}

    def stream_chat(self, messages: Messages, params: GenParams, *, system: str | None = None) -> Iterator[StreamEvent]:
        body = self.request_body(messages, params, system)
        finish: str | None = None
        usage: dict[str, Any] = {}
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise RemoteError(f"{self.base_url}: HTTP {resp.status_code}: {resp.text[:200]}")
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, comments (": ping"), event names
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if chunk.get("error"):
                        raise RemoteError(f"{self.base_url}: {chunk['error']}")
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            yield piece
                        finish = choice.get("finish_reason") or finish
        except httpx.TimeoutException as exc:
            raise RemoteError(f"{self.base_url}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise RemoteError(f"{self.base_url}: {type(exc).__name__}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise RemoteError(f"{self.base_url}: malformed stream chunk ({exc})") from None
        yield StreamEnd(finish, usage.get("prompt_tokens"), usage.get("completion_tokens"))


class HFChatStreamer:
    """A loaded `HFRunner` streamed in-process (generation runs in a worker thread)."""

    def __init__(self, runner: Any, *, timeout_s: float = 120.0) -> None:
        """
        Args:
            runner: An `HFRunner` (needs `.model`, `.tokenizer`, `.device`, `.apply_chat_template`).
            timeout_s: Longest wait for the next piece of text.
        """
        self.runner = runner
        self.timeout_s = timeout_s

    def stream_chat(self, messages: Messages, params: GenParams, *, system: str | None = None) -> Iterator[StreamEvent]:
        import torch
        from transformers import TextIteratorStreamer

        from runners._generate import generation_config

        runner = self.runner
        tok = runner.tokenizer
        try:
            prompt = runner.apply_chat_template(_with_system(messages, system))
        except ValueError as exc:
            raise RemoteError(str(exc)) from None
        ids = tok(prompt, return_tensors="pt")["input_ids"].to(runner.device)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        config = generation_config(params, runner.model, tok, pad)
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True, timeout=self.timeout_s)
        failure: list[BaseException] = []
        n_new = [0]

        def work() -> None:
            try:
                # Live answers are not seeded: the global RNG is shared by concurrent voters' threads.
                with torch.inference_mode():
                    out = runner.model.generate(
                        input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config,
                        streamer=streamer,
                    )  # fmt: skip
                n_new[0] = int(out.shape[1] - ids.shape[1])
            except BaseException as exc:  # reported to the consumer below
                failure.append(exc)
                cast(Any, streamer).end()  # untyped in some transformers versions

        thread = threading.Thread(target=work, name="hf-chat-stream", daemon=True)
        thread.start()
        text = ""
        try:
            for piece in streamer:
                if piece:
                    text += piece
                    cut = _cut(text, params.stop)
                    if cut is not None:
                        yield piece[: max(0, len(piece) - (len(text) - cut))]
                        break
                    yield piece
        except Exception as exc:  # queue.Empty on timeout
            raise RemoteError(
                f"{runner.info.name}: no output within {self.timeout_s:g} s ({type(exc).__name__})"
            ) from None
        thread.join(timeout=self.timeout_s)
        if failure:
            raise RemoteError(f"{runner.info.name}: generation failed: {failure[0]}")
        finish = "length" if n_new[0] >= params.max_new_tokens else "stop"
        yield StreamEnd(finish, int(ids.shape[1]), n_new[0])


def _cut(text: str, stops: Sequence[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None
