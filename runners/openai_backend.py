"""OpenAI-compatible HTTP backend: `OpenAIRunner` talks to any server speaking `/v1/completions` and
`/v1/chat/completions` (vLLM's `vllm serve`, llama.cpp's server, OpenAI itself, ...).

Generation works everywhere. The likelihood verbs need a server that echoes prompt log-probabilities
(`echo` + `logprobs` on `/v1/completions`, as vLLM and llama.cpp do); without them they raise
`RemoteError` with one line. The client never tokenizes: token boundaries come from the server's
`text_offset`s, so no local tokenizer or weights are needed.

Cross-cutting HTTP behaviour lives here and nowhere else: a bounded thread pool (`concurrency`),
per-request timeouts, retries with exponential backoff and jitter on 429 / 5xx / connection errors,
and an optional `on_exchange(request, response, latency_s)` hook through which the CLI or the arena
stores every exchange (the runner itself never touches the DB).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, NoReturn, overload

import httpx

from core.scrub import remember_secret, remember_url_secrets, scrub
from runners._progress import progress_bar
from runners.base import ChoiceScoring, GenParams, ModelInfo, Runner, TokenWindow
from runners.errors import ModelLoadError, RemoteError, VerbUnsupported

if TYPE_CHECKING:
    from torch import Tensor

# (request body + endpoint, response body or {"error": ...}, seconds) -> None; never sees the API key.
ExchangeHook = Callable[[dict[str, Any], dict[str, Any], float], None]

API_KEY_ENVS = ("EVALS_API_KEY", "OPENAI_API_KEY")  # first one set wins
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5  # first retry waits ~0.5 s, then 1, 2, 4 ... (plus up to 50 % jitter)
BACKOFF_CAP_S = 30.0


class OpenAIRunner:
    """A model behind an OpenAI-compatible endpoint.

    Attributes:
        info: what is served (name, base URL as path, max length when the server reports it).
        base_url: e.g. "http://127.0.0.1:8000/v1".
        model: the model name sent in every request (what the server calls it).
    """

    backend = "openai"

    def __init__(
        self,
        model_path: str,
        *,
        base_url: str | None = None,
        name: str | None = None,
        served_model_name: str | None = None,
        api_key_env: str | None = None,
        concurrency: int = 8,
        max_retries: int = 5,
        timeout_s: float = 120.0,
        max_length: int | None = None,
        on_exchange: ExchangeHook | None = None,
        extra_body: dict[str, Any] | None = None,
        dtype: str = "auto",
        quant: str = "none",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Connect to the server and check that it serves the model.

        Args:
            model_path: the served model name when `served_model_name` is not given (the engine passes
                `--model` here).
            base_url: the API root including `/v1`; default: env `EVALS_BASE_URL`.
            name: display name; defaults to the served model name.
            served_model_name: the `model` field of each request.
            api_key_env: environment variable holding the API key; default: `EVALS_API_KEY`, then
                `OPENAI_API_KEY`; none set means no Authorization header (local servers).
            concurrency: requests in flight at once.
            max_retries: retries per request on 429 / 5xx / connection errors (0 = fail at once).
            timeout_s: per-request timeout (connect, read and write each).
            max_length: context length to report; default: the server's `max_model_len` if listed, else 2048.
            on_exchange: called after every request with (request, response, latency_s), also for
                failed attempts (response `{"error": ..., "status": ...}`); the key is never included.
            extra_body: fields merged into every generation request, for server-specific settings the
                OpenAI schema lacks (e.g. llama.cpp's `{"repeat_penalty": 1.0}`: its default 1.1 would
                otherwise apply to "greedy" decoding).
            dtype: accepted for a uniform signature; only "auto" (the server decides) is valid.
            quant: as `dtype`; only "none".
            transport: an httpx transport (tests may pass a real in-process one).

        Raises:
            ModelLoadError: no base URL, a local-only option, unreachable server, or unknown model.
        """
        base_url = base_url or os.environ.get("EVALS_BASE_URL")
        if not base_url:
            raise ModelLoadError(
                "the openai backend needs --base-url (or EVALS_BASE_URL), e.g. http://127.0.0.1:8000/v1"
            )
        if dtype != "auto" or quant != "none":
            raise ModelLoadError(
                "--dtype/--quant are decided by the server; leave them at auto/none for --backend openai"
            )
        self.base_url = base_url.rstrip("/")
        remember_url_secrets(self.base_url)
        self.model = served_model_name or model_path
        self.concurrency = max(1, concurrency)
        self.max_retries = max(0, max_retries)
        self.on_exchange = on_exchange
        self.extra_body = dict(extra_body or {})
        headers = {"Content-Type": "application/json"}
        key = _api_key(api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=self.concurrency), transport=transport,
        )  # fmt: skip
        listed = self._list_models()
        served = next((m for m in listed if m.get("id") == self.model), None)
        if listed and served is None:
            ids = ", ".join(str(m.get("id")) for m in listed[:8])
            raise ModelLoadError(f"server {self.base_url} does not serve model {self.model!r} (it serves: {ids})")
        self._logprobs_ok: bool | None = None
        self.info = ModelInfo(
            name=name or self.model,
            path=self.base_url,
            backend=self.backend,
            dtype="server",
            device=self.base_url,
            max_length=max_length or int((served or {}).get("max_model_len") or 2048),
            has_chat_template=True,  # the server applies its own; a missing one fails there, clearly
            extra={"served_model_name": self.model, "owned_by": (served or {}).get("owned_by")},
        )

    def __repr__(self) -> str:
        return f"OpenAIRunner({self.model!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ HTTP

    def _list_models(self) -> list[dict[str, Any]]:
        try:
            resp = self._client.get("/models")
        except httpx.HTTPError as exc:
            raise ModelLoadError(f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code in (401, 403):
            raise ModelLoadError(
                f"{self.base_url} refused the API key (HTTP {resp.status_code}); set EVALS_API_KEY or --api-key-env"
            )
        if resp.status_code != 200:
            return []  # some servers have no /models; the first real request will tell
        data = resp.json().get("data")
        return data if isinstance(data, list) else []

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries: exponential backoff with jitter (or the server's Retry-After) on
        429 / 5xx / connection errors; any other failure raises RemoteError at once."""
        attempt = 0
        while True:
            t0 = time.perf_counter()
            retry_after: float | None = None
            try:
                resp = self._client.post(endpoint, json=body)
            except httpx.TransportError as exc:  # connect/read/write errors and timeouts
                error = f"{type(exc).__name__}: {exc}"
                self._log(endpoint, body, {"error": error, "status": None}, t0)
                retryable = True
            else:
                if resp.status_code == 200:
                    data: dict[str, Any] = resp.json()
                    self._log(endpoint, body, data, t0)
                    return data
                error = f"HTTP {resp.status_code}: {_error_message(resp)}"
                self._log(endpoint, body, {"error": error, "status": resp.status_code}, t0)
                retryable = resp.status_code in RETRY_STATUS or resp.status_code >= 500
                retry_after = _retry_after(resp)
            if not retryable or attempt >= self.max_retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise RemoteError(f"{self.base_url}{endpoint} failed{tries}: {error}")
            delay = BACKOFF_BASE_S * 2**attempt
            delay = min(BACKOFF_CAP_S, retry_after if retry_after is not None else delay * (1 + random.random() / 2))
            time.sleep(delay)
            attempt += 1

    def _log(self, endpoint: str, body: dict[str, Any], response: dict[str, Any], t0: float) -> None:
        if self.on_exchange is not None:
            self.on_exchange({"endpoint": endpoint, **body}, response, time.perf_counter() - t0)

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any], what: str, progress: bool) -> list[Any]:
        """`fn` over `items` with at most `concurrency` in flight; results in input order."""
        if not items:
            return []
        with progress_bar(len(items), what, progress) as advance, ThreadPoolExecutor(self.concurrency) as pool:
            futures = [pool.submit(fn, x) for x in items]
            out = []
            for f in futures:
                out.append(f.result())
                advance(1)
            return out

    # ------------------------------------------------------------------ echo log-probs

    def _echo(self, text: str) -> tuple[list[str], list[int], list[float | None], list[dict[str, float] | None]]:
        """Score `text` as a prompt: its tokens, character offsets, log-probs (None for the first) and
        top log-probs, from one `/completions` call with echo (the one generated token is dropped)."""
        body = {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1}
        data = self._post("/completions", body)
        lp = (data.get("choices") or [{}])[0].get("logprobs") or {}
        tokens, offsets, values = lp.get("tokens"), lp.get("text_offset"), lp.get("token_logprobs")
        if not tokens or offsets is None or values is None or len(tokens) < 2:
            raise RemoteError(
                f"server {self.base_url} does not return logprobs; logprob suites need a server that does (e.g. vLLM)"
            )
        top = lp.get("top_logprobs") or [None] * len(tokens)
        # Offsets index the concatenated token texts, which start with pieces the prompt text lacks: a
        # BOS ("<s>", vLLM) or an extra space (llama.cpp). Shift them so they index `text`: where the
        # text first appears in that concatenation, else (byte pieces) from the end of the echoed text,
        # skipping a generated special token the echo does not render ("</s>").
        pos = "".join(tokens).find(text)
        if pos >= 0:
            shift = offsets[0] + pos
        else:
            echoed = str(data["choices"][0].get("text") or "")
            last = len(tokens) - 2 if len(tokens) > 1 and not echoed.endswith(tokens[-1]) else len(tokens) - 1
            shift = max(0, offsets[last] + len(tokens[last]) - len(echoed)) if echoed.startswith(text) else 0
        offsets = [off - shift for off in offsets]
        # Keep prompt tokens only: the generated token starts at or after the end of the prompt text.
        keep = [i for i, off in enumerate(offsets) if off < len(text)] or list(range(len(tokens) - 1))
        return (
            [tokens[i] for i in keep],
            [offsets[i] for i in keep],
            [values[i] for i in keep],
            [top[i] for i in keep],
        )

    def loglikelihood(
        self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 8, progress: bool = False
    ) -> list[tuple[float, bool]]:
        """Sum of log-probs of each continuation given its context, and whether it is greedy.

        The server tokenizes context + continuation as one text; a token counts as continuation when
        it ends after the context's last character (so a piece merging across the boundary belongs to
        the continuation). is_greedy: every continuation token is the top-1 of its position.
        `batch_size` is unused (see `concurrency`).
        """

        def one(pair: tuple[str, str]) -> tuple[float, bool]:
            context, continuation = pair
            if not continuation:
                return 0.0, True
            tokens, offsets, values, top = self._echo(context + continuation)
            total, greedy = 0.0, True
            for tok, off, value, alts in zip(tokens, offsets, values, top, strict=True):
                if off + len(tok) <= len(context):  # ends inside the context
                    continue
                if value is None:
                    raise RemoteError(f"server {self.base_url} gave no log-prob for continuation token {tok!r}")
                total += float(value)
                if alts:
                    greedy = greedy and max(alts.values()) <= float(value) + 1e-6
            return total, greedy

        return self._map(one, list(pairs), "loglikelihood", progress)

    def choice_logprobs(
        self,
        prompts: Sequence[str],
        choices: Sequence[str],
        *,
        scoring: ChoiceScoring = "logprob",
        prefixes: Sequence[str | None] | None = None,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[dict[str, float]]:
        """log p(choice | prompt) for each choice, as `loglikelihood` of (prompt, choice).

        Only "logprob" scoring: a server returns log-probabilities, never the raw logits that cla2 and
        bare_logit read. The prefix hints are not needed (servers with prefix caching share it anyway).

        Raises:
            ValueError: scoring other than "logprob".
        """
        if scoring != "logprob":
            raise ValueError(
                f"--backend openai scores choices by log-probability only (servers return no raw logits); "
                f"use --scoring logprob instead of {scoring}"
            )
        pairs = [(p, c) for p in prompts for c in choices]
        scores = self.loglikelihood(pairs, progress=progress)
        k = len(choices)
        return [{c: scores[i * k + j][0] for j, c in enumerate(choices)} for i in range(len(prompts))]

    def rolling_loglikelihood(
        self,
        texts: Sequence[str],
        max_length: int,
        stride: int | None = None,
        *,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[tuple[float, int]]:
        """(sum of log-probs, scored tokens) of each text in one server-side window.

        Tokens as the server builds them (BOS first when it adds one)   t0 t1 ... tN-1
        scored: t1 .. tN-1 (t0 has no prediction), i.e. `runners.windows.rolling_windows` with a
        single window. Texts of more than `max_length` tokens would need client-side windows over
        server token ids, which this backend does not have, so they raise.

        Raises:
            ValueError: a text is longer than `max_length` tokens.
        """

        def one(text: str) -> tuple[float, int]:
            tokens, _, values, _ = self._echo(text)
            if len(tokens) > max_length:
                raise ValueError(
                    f"text of {len(tokens)} tokens exceeds max_length={max_length}; the openai backend scores "
                    "each text in one window (use the hf or vllm backend for sliding windows)"
                )
            scored = [float(v) for v in values[1:] if v is not None]
            return math.fsum(scored), len(scored)

        return self._map(one, list(texts), "rolling", progress)

    def count_tokens(self, text: str) -> int:
        """Prompt tokens of `text` as the server counts them (its `usage.prompt_tokens`, BOS included)."""
        data = self._post("/completions", {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0.0})
        usage = data.get("usage") or {}
        if "prompt_tokens" not in usage:
            raise RemoteError(f"server {self.base_url} reports no usage.prompt_tokens")
        return int(usage["prompt_tokens"])

    # ------------------------------------------------------------------ verbs a server cannot do

    # The client sends text and never holds the server's tokenizer, so token ids (and what is built on
    # them: PPL windows, middle truncation) and local chat rendering are not available here.

    def _no_tokens(self, what: str) -> NoReturn:
        raise VerbUnsupported(
            f"--backend openai has no token ids ({what}): the server tokenizes; use --backend hf or vllm"
        )

    @property
    def bos_token_id(self) -> int:
        self._no_tokens("BOS id")

    def encode(self, texts: Sequence[str], *, specials: bool = True) -> list[list[int]]:
        self._no_tokens("encode")

    def decode(self, ids: Sequence[int]) -> str:
        self._no_tokens("decode")

    @overload
    def token_logprobs(
        self,
        windows: Sequence[TokenWindow],
        *,
        batch_size: int = 8,
        progress: bool = False,
        with_greedy: Literal[False] = False,
    ) -> list[Tensor]: ...
    @overload
    def token_logprobs(
        self,
        windows: Sequence[TokenWindow],
        *,
        batch_size: int = 8,
        progress: bool = False,
        with_greedy: Literal[True],
    ) -> list[tuple[Tensor, Tensor]]: ...
    def token_logprobs(
        self,
        windows: Sequence[TokenWindow],
        *,
        batch_size: int = 8,
        progress: bool = False,
        with_greedy: bool = False,
    ) -> list[Tensor] | list[tuple[Tensor, Tensor]]:
        self._no_tokens("token log-probs of token windows, as PPL reads")

    def apply_chat_template(
        self, messages: Sequence[Mapping[str, str]], *, add_generation_prompt: bool | None = None
    ) -> str:
        """Not available: the server applies its chat template, to chat requests only (`generate(chat=True)`)."""
        raise VerbUnsupported(
            "--backend openai cannot render a chat template locally (the server applies it to chat "
            "requests only); use a plain prompt or --backend hf or vllm"
        )

    # ------------------------------------------------------------------ generation

    def generate(
        self,
        prompts: Sequence[str],
        params: GenParams = GenParams(),
        *,
        chat: bool = False,
        system: str | None = None,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[str]:
        """Continue each prompt: `/completions` for plain prompts, `/chat/completions` (the server's
        chat template) with `chat=True`. Stop strings are applied by the server and again here."""
        sampling: dict[str, Any] = {
            "model": self.model, "max_tokens": params.max_new_tokens, "temperature": params.temperature,
            "top_p": params.top_p, "seed": params.seed,
        }  # fmt: skip
        # Non-standard fields only when they matter: OpenAI itself rejects unknown ones.
        if params.top_k > 0:
            sampling["top_k"] = params.top_k
        if params.repetition_penalty != 1.0:
            sampling["repetition_penalty"] = params.repetition_penalty
        if params.min_new_tokens:
            sampling["min_tokens"] = params.min_new_tokens
        if params.stop:
            sampling["stop"] = list(params.stop)
        sampling.update(self.extra_body)

        def one(prompt: str) -> str:
            if chat:
                messages = [{"role": "system", "content": system}] if system else []
                body = {**sampling, "messages": [*messages, {"role": "user", "content": prompt}]}
                text = (self._post("/chat/completions", body)["choices"][0].get("message") or {}).get("content")
            else:
                text = self._post("/completions", {**sampling, "prompt": prompt})["choices"][0].get("text")
            return _cut_at_stop(text or "", params.stop)

        return self._map(one, list(prompts), "generate", progress)


def _api_key(env_name: str | None) -> str | None:
    names = (env_name,) if env_name else API_KEY_ENVS
    key = next((os.environ[n] for n in names if os.environ.get(n)), None)
    remember_secret(key)  # scrubbed from messages and stored exchanges, even when a server echoes it
    return key


def _error_message(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error", resp.json())
        msg = err.get("message", err) if isinstance(err, dict) else err
    except ValueError:
        msg = resp.text
    return scrub(str(msg).strip().splitlines()[0][:300]) if str(msg).strip() else resp.reason_phrase


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return float(resp.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


def _conforms(runner: OpenAIRunner) -> Runner:
    """mypy checks here that `OpenAIRunner` implements every verb of the `Runner` protocol, with its types."""
    return runner
