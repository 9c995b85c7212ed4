"""The live pool: models voters meet in live mode, and how to stream each one's answers.

A pool entry is either an OpenAI-compatible server (`base_url` + served model name; the API key
is read from a named environment variable when the model is called, never stored) or a local
checkpoint served in-process through `runners.open_runner` (so the embedded tiny model gives a
working live arena with no server). Every entry has a row in `models` (name shared), which is
what battles, votes and ratings refer to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from core.errors import UserError
from db import live_repo, repo
from runners.base import GenParams

if TYPE_CHECKING:
    from db import Database
    from runners.chat_stream import ChatStreamer

# Live answers are short: voters wait for them.
LIVE_PARAMS = GenParams(max_new_tokens=256, temperature=0.7, top_p=0.9, seed=42)
LIVE_SYSTEM_PROMPT = "你是一个乐于助人的助手。请用简洁、准确的中文回答。"


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """One live model as stored (`kind` "openai" or "local")."""

    name: str
    kind: str
    base_url: str | None
    served_model_name: str | None
    api_key_env: str | None
    model_path: str | None
    params: GenParams
    system_prompt: str
    enabled: bool = True


def params_record(params: GenParams) -> dict[str, Any]:
    """GenParams as stored JSON (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()}


def _params_from(record: dict[str, Any]) -> GenParams:
    known = {k: v for k, v in record.items() if k in GenParams.__dataclass_fields__}
    if "stop" in known:
        known["stop"] = tuple(known["stop"])
    return GenParams(**known)


def _entry(row: Any) -> PoolEntry:
    return PoolEntry(
        name=row.name, kind=row.kind, base_url=row.base_url, served_model_name=row.served_model_name,
        api_key_env=row.api_key_env, model_path=row.model_path, params=_params_from(row.gen_params or {}),
        system_prompt=row.system_prompt or "", enabled=bool(row.enabled),
    )  # fmt: skip


def add_pool_model(
    database: Database,
    name: str,
    *,
    base_url: str | None = None,
    served_model_name: str | None = None,
    api_key_env: str | None = None,
    model: str | None = None,
    params: GenParams = LIVE_PARAMS,
    system_prompt: str = LIVE_SYSTEM_PROMPT,
) -> PoolEntry:
    """Add a model to the live pool (and register it in `models`).

    Args:
        database: The arena database.
        name: Display name (revealed after the vote); unique in the pool.
        base_url: API root of an OpenAI-compatible server, e.g. "http://127.0.0.1:8000/v1".
        served_model_name: The server's name for the model (required with `base_url`).
        api_key_env: Environment variable holding the API key (only its name is stored).
        model: A checkpoint directory or registered model name, served in-process (instead of `base_url`).
        params: Generation parameters of every answer.
        system_prompt: System message of every conversation ("" for none).

    Raises:
        UserError: bad combination of options, unknown model, or a name already in the pool.
    """
    name = (name or "").strip()
    if not name:
        raise UserError("pool model name must not be empty")
    if (base_url is None) == (model is None):
        raise UserError("give exactly one of --base-url URL (a server) or --model PATH|NAME (served in-process)")
    fields: dict[str, Any]
    if base_url is not None:
        if not base_url.startswith(("http://", "https://")):
            raise UserError(f"--base-url must start with http:// or https://, got {base_url!r}")
        if not served_model_name:
            raise UserError("--base-url needs --served-model-name (the model name the server expects)")
        if api_key_env is not None and not api_key_env.replace("_", "").isalnum():
            raise UserError(f"--api-key-env takes an environment variable NAME, got {api_key_env!r}")
        fields = {"kind": "openai", "base_url": base_url.rstrip("/"), "served_model_name": served_model_name,
                  "api_key_env": api_key_env}  # fmt: skip
        model_row = (base_url.rstrip("/"), "openai", {"base_url": base_url.rstrip("/"), "served": served_model_name})
    else:
        from db.model_lookup import resolve_model

        spec = resolve_model(str(model), name=name, database=database)
        if spec.backend != "hf":
            raise UserError(f"--model {model!r} is a {spec.backend} model; add servers with --base-url instead")
        fields = {"kind": "local", "model_path": spec.path}
        model_row = (spec.path, "hf", {})
    try:
        with database.session() as s:
            row = live_repo.add_pool_model(
                s, name=name, gen_params=params_record(params), system_prompt=system_prompt, enabled=True, **fields
            )
            existing = repo.get_model(s, name)
            if existing is None:
                repo.upsert_model(s, name, model_row[0], model_row[1], params=model_row[2])
            elif existing.backend != model_row[1] or existing.path != model_row[0]:
                raise UserError(
                    f"a model named {name!r} is already registered ({existing.backend}: {existing.path}); "
                    "pick another pool name"
                )
            return _entry(row)
    except IntegrityError:
        raise UserError(f"the live pool already has a model named {name!r} (remove it first)") from None


def list_pool(database: Database, *, enabled_only: bool = False) -> list[PoolEntry]:
    with database.session(write=False) as s:
        return [_entry(r) for r in live_repo.list_pool(s, enabled_only=enabled_only)]


def remove_pool_model(database: Database, name: str) -> None:
    """Remove a model from the pool (its stored conversations and votes stay).

    Raises:
        UserError: no such pool model.
    """
    with database.session() as s:
        if not live_repo.remove_pool_model(s, name):
            raise UserError(f"the live pool has no model named {name!r} (see `evals arena pool list`)")
    forget_streamer(name)


# --- streamers ----------------------------------------------------------------------------

_streamers: dict[tuple[str, ...], ChatStreamer] = {}
_load_lock = threading.Lock()


def _key(entry: PoolEntry) -> tuple[str, ...]:
    return (entry.name, entry.kind, entry.base_url or "", entry.served_model_name or "", entry.model_path or "",
            entry.api_key_env or "")  # fmt: skip


def streamer_for(entry: PoolEntry, *, timeout_s: float = 60.0) -> ChatStreamer:
    """The process-wide streamer of a pool entry (a local checkpoint is loaded once, on first use).

    Raises:
        RemoteError / ModelLoadError: the checkpoint cannot be loaded.
    """
    key = _key(entry)
    with _load_lock:  # one load per model even when many voters arrive at once
        streamer = _streamers.get(key)
        if streamer is None:
            streamer = _build(entry, timeout_s)
            _streamers[key] = streamer
    return streamer


def _build(entry: PoolEntry, timeout_s: float) -> ChatStreamer:
    from runners.chat_stream import HFChatStreamer, OpenAIChatStreamer

    if entry.kind == "openai":
        assert entry.base_url and entry.served_model_name
        return OpenAIChatStreamer(entry.base_url, entry.served_model_name, api_key_env=entry.api_key_env,
                                  timeout_s=timeout_s)  # fmt: skip
    from core.model_spec import ModelSpec
    from runners import open_runner

    runner = open_runner(ModelSpec(name=entry.name, path=str(entry.model_path), backend="hf"))
    return HFChatStreamer(runner, timeout_s=timeout_s)


def forget_streamer(name: str) -> None:
    with _load_lock:
        for key in [k for k in _streamers if k[0] == name]:
            _streamers.pop(key, None)


# --- health ---------------------------------------------------------------------------------
# Before matchmaking, pool models that are down sit out, so a voter gets a pair that can answer.
# "Down" is either a failed cheap ping (`GET /models`: connection refused, timeout, 5xx) or a
# recent failed answer (timeout / server error) seen by any voter of this process.

HEALTHY_FOR_S = 15.0  # a successful ping is trusted this long
PING_DOWN_FOR_S = 10.0  # an unreachable server is asked again after this long
FAILED_FOR_S = 60.0  # a model that just failed a voter sits out this long, for every voter

_health: dict[tuple[str, ...], tuple[float, str | None]] = {}  # key -> (valid until, why down or None)
_health_lock = threading.Lock()


def mark_down(entry: PoolEntry, reason: str, *, for_s: float = FAILED_FOR_S) -> None:
    """Leave `entry` out of matchmaking for `for_s` seconds (it just failed to answer)."""
    with _health_lock:
        _health[_key(entry)] = (time.monotonic() + for_s, reason or "failed")


def down_reason(entry: PoolEntry, *, ping_timeout_s: float = 2.0) -> str | None:
    """None when `entry` looks able to answer, else why not (cached; see the constants above)."""
    key, now = _key(entry), time.monotonic()
    with _health_lock:
        cached = _health.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    reason = _ping(entry, ping_timeout_s)
    with _health_lock:
        _health[key] = (now + (HEALTHY_FOR_S if reason is None else PING_DOWN_FOR_S), reason)
    return reason


def available(entries: Sequence[PoolEntry], *, ping_timeout_s: float = 2.0) -> list[PoolEntry]:
    """The entries that are up (servers pinged at once, so one dead server costs one timeout)."""
    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(entries)), thread_name_prefix="pool-ping") as pool:
        reasons = list(pool.map(lambda e: down_reason(e, ping_timeout_s=ping_timeout_s), entries))
    return [e for e, why in zip(entries, reasons, strict=True) if why is None]


def reset_health() -> None:
    """Forget every health result (tests; an operator who just restarted a server)."""
    with _health_lock:
        _health.clear()


def _ping(entry: PoolEntry, timeout_s: float) -> str | None:
    if entry.kind != "openai":
        return None  # in-process: a checkpoint that cannot load fails its first answer and is marked down
    from runners.chat_stream import OpenAIChatStreamer

    assert entry.base_url and entry.served_model_name
    # A client of its own: the cached streamer keeps the answer timeout its first caller chose.
    client = OpenAIChatStreamer(entry.base_url, entry.served_model_name, api_key_env=entry.api_key_env,
                                timeout_s=timeout_s)  # fmt: skip
    try:
        return client.ping(timeout_s)
    finally:
        client.close()
