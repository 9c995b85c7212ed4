"""A real OpenAI-compatible chat server on loopback, streaming the real tiny model (stdlib http.server).

Used where vLLM's server is not installed (the main venv). It speaks what `vllm serve` speaks for
chat: `GET /v1/models`, `POST /v1/chat/completions` with `"stream": true` as server-sent events
(`data: {chunk}` lines, a usage chunk, `data: [DONE]`). Three extra served names exercise the
failures a live arena meets: "broken" answers HTTP 500, "silent" streams no text, "slow" waits
`slow_s` seconds before its first chunk. A request without `"stream": true` gets the whole answer as one
`chat.completion` JSON document (what `runners.openai_backend.OpenAIRunner.generate` reads); any
`ChatStreamer` may stand behind the server (the judge tests script one). The live arena's browser test paces chunks with `pace_s` too,
as a loaded server streams at reading speed (so the page is seen mid-answer however fast the tiny model is).

Deterministic pacing for the perf suite's tests: `pace_s` waits that long before every text chunk
after the first (so each inter-chunk gap is at least `pace_s`), and `queue_s` holds the first chunk
until `queue_s` x the requests in flight when the request arrived have passed since it arrived (the
model generates meanwhile, so its own speed hides under the delay: latency that grows with
concurrency, the way a saturated server queues, and depends little on the machine's load).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runners.base import GenParams
from runners.chat_stream import ChatStreamer, StreamEnd


@dataclass
class ChatServer:
    url: str  # base URL including /v1
    requests: list[dict[str, Any]]  # {"body": request JSON, "auth": Authorization header} per chat request


@contextmanager
def serve_chat(
    streamer: ChatStreamer,
    served_name: str = "tiny",
    *,
    slow_s: float = 5.0,
    pace_s: float = 0.0,
    queue_s: float = 0.0,
) -> Iterator[ChatServer]:
    """Serve `streamer` as `served_name` on a free loopback port."""
    seen: list[dict[str, Any]] = []
    in_flight = [0]
    flight_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, code: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                names = [served_name, "broken", "silent", "slow"]
                self._json(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            seen.append({"body": req, "auth": self.headers.get("Authorization")})
            model = req.get("model")
            if self.path != "/v1/chat/completions" or model not in (served_name, "silent", "slow", "broken"):
                self._json(404, {"error": {"message": f"unknown model {model}"}})
                return
            if model == "broken":
                self._json(500, {"error": {"message": "engine crashed"}})
                return
            if not req.get("stream"):
                self._whole(req)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")  # one request per connection: shutdown never waits on idle ones
            self.end_headers()
            self.close_connection = True
            if model == "slow":
                time.sleep(slow_s)
            with flight_lock:
                in_flight[0] += 1
                queued = in_flight[0]
            left = [False]

            def leave() -> None:  # once the answer is complete, before its closing chunks go out: a client
                with flight_lock:  # that reads [DONE] and sends its next request never finds this one counted
                    if not left[0]:
                        left[0] = True
                        in_flight[0] -= 1

            try:
                self._answer(req, model, leave, time.monotonic() + queue_s * queued)
            finally:
                leave()

        def _answer(self, req: dict[str, Any], model: str, leave: Any, first_due: float) -> None:
            msgs = req["messages"]
            system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else None
            history = msgs[1:] if system is not None else msgs
            params = GenParams(max_new_tokens=int(req.get("max_tokens") or 64),
                               temperature=float(req.get("temperature") or 0.0),
                               min_new_tokens=int(req.get("min_tokens") or 0))  # fmt: skip
            sent = [0]
            try:
                for event in streamer.stream_chat(history, params, system=system):
                    if isinstance(event, StreamEnd):
                        leave()
                        self._sse({"choices": [{"index": 0, "delta": {}, "finish_reason": event.finish_reason}]})
                        self._sse({"choices": [], "usage": {"prompt_tokens": event.prompt_tokens,
                                                            "completion_tokens": event.completion_tokens}})  # fmt: skip
                    elif model != "silent":
                        if sent[0] and pace_s:
                            time.sleep(pace_s)
                        elif not sent[0] and first_due > time.monotonic():  # generation ran meanwhile
                            time.sleep(first_due - time.monotonic())
                        sent[0] += 1
                        self._sse({"choices": [{"index": 0, "delta": {"content": event}, "finish_reason": None}]})
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def _whole(self, req: dict[str, Any]) -> None:
            msgs = req["messages"]
            system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else None
            params = GenParams(max_new_tokens=int(req.get("max_tokens") or 64),
                               temperature=float(req.get("temperature") or 0.0))  # fmt: skip
            pieces, end = [], None
            for event in streamer.stream_chat(msgs[1:] if system is not None else msgs, params, system=system):
                if isinstance(event, StreamEnd):
                    end = event
                else:
                    pieces.append(event)
            assert end is not None
            self._json(200, {
                "object": "chat.completion", "model": req.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces)},
                             "finish_reason": end.finish_reason}],
                "usage": {"prompt_tokens": end.prompt_tokens, "completion_tokens": end.completion_tokens},
            })  # fmt: skip

        def _sse(self, doc: dict[str, Any]) -> None:
            self._chunk(f"data: {json.dumps(doc, ensure_ascii=False)}\n\n".encode())

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False  # server_close() waits for handlers (no generation left running at exit)
    server.block_on_close = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ChatServer(f"http://127.0.0.1:{server.server_address[1]}/v1", seen)
    finally:
        server.shutdown()
        server.server_close()
