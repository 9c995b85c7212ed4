"""One scrubber for secrets on their way to the database, messages and logs.

What counts as a secret: credentials inside URLs (`http://user:pass@host`), bearer tokens, `api_key=`-style
fields, OpenAI-style keys (`sk-...`), and the exact values of API keys this process knows about (the
environment's key variables and any key registered with `remember_secret`, e.g. one given on the command
line) — so a server that echoes the key back in an error body cannot get it stored or printed.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from typing import Any

MASK = "***"
KEY_ENV_VARS = ("EVALS_API_KEY", "OPENAI_API_KEY")
_MIN_SECRET_LEN = 6  # shorter "keys" (test placeholders like "x") would mask ordinary words

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/@]*):(?P<pw>[^\s/@]+)@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_KEY_FIELD = re.compile(
    r"""(?ix)
    (?P<name>["']?(?:api[_-]?key|apikey|access[_-]?token|secret|password|authorization)["']?\s*[:=]\s*["']?)
    (?P<value>[^\s"',;&}]+)
    """
)
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{12,}")

_known: set[str] = set()
_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """Scrub this exact value wherever it appears from now on (an API key from an option or a file)."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _known.add(value)


def remember_url_secrets(url: str | None) -> None:
    """Scrub the password of `url` (`scheme://user:pass@host`) and the HTTP Basic token made from it,
    since clients send URL credentials as `Authorization: Basic base64(user:pass)`."""
    from urllib.parse import unquote, urlsplit

    if not url:
        return
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        user, password = unquote(parts.username or ""), unquote(parts.password)
        remember_secret(password)
        remember_secret(base64.b64encode(f"{user}:{password}".encode()).decode())


def _secrets() -> list[str]:
    env = [os.environ.get(name) or "" for name in KEY_ENV_VARS]
    with _lock:
        values = _known | {v for v in env if len(v) >= _MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)  # the longer first, so a prefix never leaves a tail


def scrub(text: str) -> str:
    """`text` with every secret it holds replaced by `***`."""
    if not text:
        return text
    for secret in _secrets():
        text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _BEARER.sub(lambda m: f"{m[1]} {MASK}", text)
    text = _KEY_FIELD.sub(lambda m: m["name"] + MASK, text)
    return _OPENAI_KEY.sub(MASK, text)


def scrub_data(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings) with every string scrubbed; keys named like
    credentials (api_key, authorization, ...) lose their values whatever they hold."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: MASK if _is_secret_name(k) and v else scrub_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub_data(v) for v in value)
    return value


def _is_secret_name(key: object) -> bool:
    name = str(key).lower().replace("-", "_")
    return name in {"api_key", "apikey", "authorization", "access_token", "password", "secret"}
