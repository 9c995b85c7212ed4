"""Who is voting: a signed voter token in a cookie, so the identity (and with it the rate limit
and the daily cap) survives reloads and new Streamlit sessions.

The token is `<random id>.<HMAC-SHA256(id)>`, keyed by `EVALS_VOTER_SECRET`, else by a random
secret kept in `$EVALS_HOME/voter_secret` (created 0600 on first use). A token that does not
verify is ignored and a fresh identity issued, so a voter cannot pick someone else's id.
The same secret keys the client address's hash (`client_address_key`), which the arena stores with
each vote for the address's own budget: the database never holds an address.
The cookie is written by a tiny script in a same-origin component frame (Streamlit has no
server-side cookie API); it is read back from the websocket handshake (`st.context.cookies`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import cache

import streamlit as st

from arena.vote_address import address_key

COOKIE = "leitai_voter"
ENV_SECRET = "EVALS_VOTER_SECRET"
MAX_AGE_S = 400 * 24 * 3600  # browsers cap cookie lifetime at 400 days


@cache
def _secret() -> bytes:
    env = os.environ.get(ENV_SECRET)
    if env:
        return env.encode()
    from db.engine import data_dir

    path = data_dir() / "voter_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def sign(voter_id: str) -> str:
    mac = hmac.new(_secret(), voter_id.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{voter_id}.{mac}"


def verify(token: str | None) -> str | None:
    """The voter id of a valid token, else None."""
    if not token or token.count(".") != 1:
        return None
    voter_id, _ = token.split(".")
    return voter_id if voter_id and hmac.compare_digest(sign(voter_id), token) else None


def voter_id() -> str:
    """This browser's voter id: from its cookie when valid, else a new one (set as the cookie)."""
    state = st.session_state
    if "voter_id" not in state:
        found = verify(st.context.cookies.get(COOKIE))
        state.voter_id = found or "v-" + secrets.token_hex(12)
        state.voter_cookie_set = found is not None
    if not state.voter_cookie_set:
        # Our own fixed script (no user or model text in it) in a same-origin frame sets the cookie.
        script = (
            f'<script>document.cookie = "{COOKIE}={sign(state.voter_id)}; path=/; max-age={MAX_AGE_S}; '
            'SameSite=Lax";</script>'
        )
        if hasattr(st, "iframe"):
            st.iframe(script, height=1)
        else:  # Streamlit before st.iframe
            import streamlit.components.v1 as components

            components.html(script, height=0)
        state.voter_cookie_set = True
    return str(state.voter_id)


def client_address() -> str | None:
    """The client's address as Streamlit saw it (None when unknown)."""
    try:
        address = st.context.ip_address
    except Exception:  # older Streamlit or no request context
        return None
    return address if isinstance(address, str) and address else None  # the test harness gives a stand-in object


def client_address_key() -> str | None:
    """The keyed hash of the client's address, as the arena stores it for the address's vote budget
    (None when the address is unknown)."""
    address = client_address()
    return address_key(address, _secret()) if address else None
