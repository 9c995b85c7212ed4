"""Store every HTTP exchange of an OpenAI-compatible backend (`OpenAIRunner(on_exchange=...)`).

    runner = load_runner("openai", "qwen", base_url=..., on_exchange=exchange_logger(database, "qwen"))

Each exchange is written in its own short transaction, so a crash loses at most the request in
flight and answers/eval rows are never held up by the log. Logging is best effort: a database
error is logged (the first one as a warning, later ones at debug level) and swallowed, never
raised into the runner. The runner never passes the API key; as a second line of defence any
credential-looking top-level field is dropped, and every stored string goes through `core.scrub`
(URL passwords, bearer tokens, known key values echoed back by a server).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.scrub import scrub, scrub_data

if TYPE_CHECKING:
    from db import Database

log = logging.getLogger(__name__)

ExchangeHook = Callable[[dict[str, Any], dict[str, Any], float], None]
_SECRET_FIELDS = frozenset({"api_key", "apikey", "authorization", "headers"})


def split_exchange(request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The row fields of one hook call: endpoint, request body, response, status and error.

    A failed attempt arrives as `{"error": msg, "status": http_code_or_None}`; anything else is a
    successful (HTTP 200) response body.
    """
    body = scrub_data({k: v for k, v in request.items() if k != "endpoint" and k.lower() not in _SECRET_FIELDS})
    endpoint = scrub(str(request.get("endpoint") or ""))
    response = scrub_data(response)  # a server may echo the key back in an error body
    failed = "error" in response and set(response) <= {"error", "status"}
    if failed:
        status = response.get("status")
        return {
            "endpoint": endpoint, "request": body, "response": dict(response),
            "status": int(status) if status is not None else None, "error": scrub(str(response["error"])),
        }  # fmt: skip
    return {"endpoint": endpoint, "request": body, "response": dict(response), "status": 200, "error": None}


def exchange_logger(database: Database, model_name: str) -> ExchangeHook:
    """A thread-safe `on_exchange` hook that stores each exchange of `model_name` in `database`."""
    from db import exchange_repo

    warned = threading.Event()

    def on_exchange(request: dict[str, Any], response: dict[str, Any], latency_s: float) -> None:
        try:
            fields = split_exchange(request, response)
            with database.session() as s:
                exchange_repo.log_exchange(s, model_name, latency_s=latency_s, **fields)
        except Exception as exc:
            if warned.is_set():
                log.debug("exchange log write failed for %s: %s: %s", model_name, type(exc).__name__, scrub(str(exc)))
            else:
                warned.set()
                log.warning(
                    "could not store an API exchange of %s (%s: %s); continuing without it",
                    model_name, type(exc).__name__, scrub(str(exc)),
                )  # fmt: skip

    return on_exchange
