"""Load shapes over any `ChatStreamer`: closed loop (N requests in flight) and open loop (Poisson arrivals).

Each request is timed on the consumer side of the stream: the clock starts just before the request is
sent and every piece of text is stamped as it arrives (runners.chat_stream yields pieces as the server
sends them), so the same code times a remote server and a local model alike.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from evals.perf.metrics import RequestTiming
from runners.base import GenParams
from runners.chat_stream import ChatStreamer, StreamEnd
from runners.errors import RemoteError

StreamerFactory = Callable[[], ChatStreamer]  # called once per worker thread (one connection pool each)


@dataclass(frozen=True, slots=True)
class Level:
    """One load level: a fixed concurrency (closed loop) or an arrival rate (open loop, `concurrency` caps it)."""

    concurrency: int | None = None
    rate: float | None = None  # requests/s; math.inf sends everything at once

    @property
    def label(self) -> str:
        if self.rate is None:
            return f"c{self.concurrency}"
        rate = "inf" if math.isinf(self.rate) else f"{self.rate:g}"
        return f"r{rate}" + (f"c{self.concurrency}" if self.concurrency else "")


def timed_request(streamer: ChatStreamer, prompt: str, params: GenParams, seq: int, t0: float) -> RequestTiming:
    """Send one chat request and time it; a failure is recorded on the row, never raised."""
    start = time.perf_counter()
    row = RequestTiming(seq=seq, start_s=start - t0)
    last = start
    pieces = 0
    end: StreamEnd | None = None
    try:
        for event in streamer.stream_chat([{"role": "user", "content": prompt}], params):
            now = time.perf_counter()
            if isinstance(event, StreamEnd):
                end = event
                continue
            if pieces == 0:
                row.ttft_s = now - start
            else:
                row.itl_s.append(now - last)
            last, pieces = now, pieces + 1
    except RemoteError as exc:
        row.error = str(exc)[:500]
        return row
    # As vllm bench serve: the request ends with its last piece of text (the usage chunk and [DONE] after it
    # carry no token), so latency - TTFT is exactly the sum of the inter-token gaps.
    row.latency_s = last - start
    if pieces == 0:
        row.error = "the stream carried no text"
        return row
    row.ok = True
    row.prompt_tokens = end.prompt_tokens if end else None
    row.output_tokens = end.completion_tokens if end and end.completion_tokens else pieces
    return row


class _PerThread:
    """One streamer per worker thread, closed at the end (each OpenAI streamer owns a connection pool).

    `ready` streamers are made before the level starts and each opens its connection with a health check,
    so no timed request pays a TCP connect that the others did not (vllm bench serve's shared session
    is warmed the same way by its warm-up request)."""

    def __init__(self, factory: StreamerFactory, ready: int) -> None:
        self._factory, self._local, self._made = factory, threading.local(), list[ChatStreamer]()
        self._lock = threading.Lock()
        self._spare = [self._new() for _ in range(ready)]

    def _new(self) -> ChatStreamer:
        s = self._factory()
        ping = getattr(s, "ping", None)  # OpenAI streamers: GET /models on a connection that is then kept
        if callable(ping):
            ping()
        with self._lock:
            if s not in self._made:  # the in-process hf streamer is one shared object
                self._made.append(s)
        return s

    def get(self) -> ChatStreamer:
        s: ChatStreamer | None = getattr(self._local, "streamer", None)
        if s is None:
            with self._lock:
                s = self._spare.pop() if self._spare else None
            s = self._local.streamer = s if s is not None else self._new()
        return s

    def close(self) -> None:
        for s in self._made:
            close = getattr(s, "close", None)
            if callable(close):
                close()


def run_level(
    factory: StreamerFactory,
    prompts: Sequence[str],
    params: GenParams,
    level: Level,
    *,
    duration_s: float | None = None,
    seed: int = 0,
    on_done: Callable[[RequestTiming], None] | None = None,
) -> tuple[list[RequestTiming], float, float]:
    """Send every prompt under `level`'s load shape; returns the rows (in send order), the wall time and the
    CPU seconds this process spent meanwhile (the load generator's own cost: near a core's worth, it is
    the client, not the server, that limits the numbers; with --backend hf it includes the model).

    `duration_s` caps the level: no request is sent after it (those in flight finish)."""
    workers = level.concurrency if level.concurrency else len(prompts) if level.rate is not None else 1
    pool = _PerThread(factory, ready=min(workers, len(prompts)))
    cpu0 = time.process_time()
    rows: list[RequestTiming] = []
    lock = threading.Lock()
    t0 = time.perf_counter()

    def one(i: int) -> None:
        row = timed_request(pool.get(), prompts[i], params, i, t0)
        with lock:
            rows.append(row)
        if on_done is not None:
            on_done(row)

    def expired() -> bool:
        return duration_s is not None and time.perf_counter() - t0 >= duration_s

    try:
        if level.rate is None:
            _closed_loop(one, len(prompts), level.concurrency or 1, expired)
        else:
            _open_loop(one, len(prompts), level, seed, expired)
    finally:
        pool.close()
    rows.sort(key=lambda r: r.seq)
    finish = max((r.start_s + (r.latency_s or 0.0) for r in rows), default=0.0)
    return rows, finish, time.process_time() - cpu0


def _closed_loop(one: Callable[[int], None], n: int, concurrency: int, expired: Callable[[], bool]) -> None:
    """`concurrency` workers, each sending its next request as soon as its previous one ends."""
    counter = iter(range(n))
    take = threading.Lock()

    def worker() -> None:
        while not expired():
            with take:
                i = next(counter, None)
            if i is None:
                return
            one(i)

    threads = [threading.Thread(target=worker, name=f"perf-{k}", daemon=True) for k in range(min(concurrency, n))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _open_loop(one: Callable[[int], None], n: int, level: Level, seed: int, expired: Callable[[], bool]) -> None:
    """Requests arrive as a Poisson process of `level.rate` per second (exponential gaps from a seeded
    generator, so a rerun sends on the same schedule); `level.concurrency` caps those in flight."""
    rng = random.Random(seed)
    rate = level.rate or math.inf
    gaps = [0.0 if math.isinf(rate) else rng.expovariate(rate) for _ in range(n)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=level.concurrency or max(1, n), thread_name_prefix="perf") as ex:
        due = 0.0
        for i, gap in enumerate(gaps):
            due += gap
            wait = start + due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if expired():
                break
            ex.submit(one, i)
