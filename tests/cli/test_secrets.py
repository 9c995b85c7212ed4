"""Secrets never reach the database, the messages or the logs: an API key from the environment (also
under a custom --api-key-env name), credentials inside --base-url, and a key that a misbehaving
server echoes back in its error body."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import create_engine, text

from core.scrub import remember_secret, scrub, scrub_data
from tests.evals.cli_helpers import run_cli

KEY = "zz-topsecret-7781"  # no well-known key shape: only the known-value scrubbing can catch it
URL_PASSWORD = "pw-hunter2-very"


class EchoingServer(BaseHTTPRequestHandler):
    """Lists one model; refuses every completion with an error body quoting the caller's credentials."""

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, doc: dict) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200, {"data": [{"id": "m", "owned_by": "test"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        self._send(400, {"error": {"message": f"Incorrect API key provided: {auth.split()[-1]} ({auth})"}})


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoingServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def dump_tables(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = [
                c.execute(text(f"SELECT * FROM {table}")).all()
                for table in ("api_exchanges", "runs", "models", "item_results")
            ]
    finally:
        engine.dispose()
    return repr(rows)


@pytest.mark.parametrize("where", ["api-key-env", "base-url"])
def test_keys_and_url_passwords_are_scrubbed_everywhere(server: int, db_url: str, where: str) -> None:
    if where == "base-url":  # sent as HTTP Basic, which the server echoes back base64-encoded
        base_url, env, secrets = f"http://alice:{URL_PASSWORD}@127.0.0.1:{server}/v1", {}, [URL_PASSWORD]
        secrets.append(base64.b64encode(f"alice:{URL_PASSWORD}".encode()).decode())
    else:
        base_url, env, secrets = f"http://127.0.0.1:{server}/v1", {"MY_SERVER_KEY": KEY}, [KEY]
    proc = run_cli(
        "run", "--backend", "openai", "--base-url", base_url, "--model", "m", "--scoring", "logprob",
        "--limit", "1", "--subjects", "law", "--api-key-env", "MY_SERVER_KEY", "--no-progress", "--db", db_url,
        env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Incorrect API key" in proc.stderr
    for secret in secrets:
        assert secret not in proc.stderr + proc.stdout
    stored = dump_tables(db_url)
    assert "Incorrect API key" in stored  # the exchange and the failed run were stored ...
    for secret in secrets:  # ... without the secrets
        assert secret not in stored


@pytest.mark.parametrize(
    ("raw", "gone"),
    [
        ("http://bob:s3cr3tpass@host:8000/v1", "s3cr3tpass"),
        ('{"error": "Incorrect API key provided: sk-abcdefghijklmnop1234"}', "sk-abcdefghijklmnop1234"),
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("GET /v1?api_key=abcdef12345&x=1", "abcdef12345"),
    ],
)
def test_scrub_patterns(raw: str, gone: str) -> None:
    cleaned = scrub(raw)
    assert gone not in cleaned and "***" in cleaned


def test_scrub_known_values_and_structures() -> None:
    remember_secret("plain-value-key-42")
    doc = scrub_data({"msg": ["echo plain-value-key-42"], "api_key": "whatever", "n": 3, "url": "https://u:p4ss@h"})
    assert doc == {"msg": ["echo ***"], "api_key": "***", "n": 3, "url": "https://u:***@h"}
    assert (
        scrub("postgresql+psycopg://postgres@127.0.0.1:5432/test")
        == "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
