"""The client address in the vote limits: a voter who drops their cookie (a new identity) on the
same address still meets the limits.

The signed voter identity carries `VoteLimits` (`arena.votes`). When the page knows the client's
address, the address gets its own budget too: `ADDRESS_FACTOR` times the per-voter limits (a campus
or office NAT holds several honest voters). The budget is counted in the database, like the
per-voter one: each vote row stores the address's key (`votes.address_key`, `live_votes.address_key`),
so every dashboard process on one database, and a restarted one, sees the same counts.

The key is `address_key(address, secret)`: HMAC-SHA256 with a server secret, 32 hex digits. An
unkeyed hash of an IPv4 address is reversed by trying all 2**32 of them; without the secret it is
not. The secret belongs to the application (the dashboard keeps it with the voter-cookie secret),
so the arena takes keys, never addresses, and refuses anything that is not a key.

    arena_repo.lock_voter(s, voter_id); check per-voter limits       # arena.votes / arena.live
    check_address(s, key, at, limits)   # locks the address, counts its rows, refuses or returns
    ... insert the vote with address_key=key ...                     # the row is the reservation
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from arena.errors import VoteRefused
from db import arena_repo, live_repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from arena.votes import VoteLimits

ADDRESS_FACTOR = 4
KEY_CHARS = 32  # the address_key columns
_DAY = timedelta(days=1)
_KEY = re.compile(r"[0-9a-f]{32}")
# Domain separation: the same secret signs voter ids, and a key must never equal a voter id's signature.
_DOMAIN = b"leitai client address\x00"


def address_key(address: str, secret: bytes) -> str:
    """The stored key of a client address: HMAC-SHA256(secret, network), first 32 hex digits.

    An IPv6 client is keyed by its /64: one home or phone gets a whole /64 and can pick a new address
    in it at will. IPv4 (also written IPv4-mapped) is keyed by the address itself.
    """
    if not secret:
        raise ValueError("address_key needs a non-empty secret")
    return hmac.new(secret, _DOMAIN + _network(address).encode(), hashlib.sha256).hexdigest()[:KEY_CHARS]


def _network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]").split("%")[0])
    except ValueError:
        return address  # not an IP (a proxy's name, say): keyed as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def valid_key(key: str | None) -> str | None:
    """`key` when it is None or an `address_key` value.

    Raises:
        ValueError: anything else (a raw address passed by mistake must never be stored).
    """
    if key is not None and not _KEY.fullmatch(key):
        raise ValueError("address_key must be arena.vote_address.address_key(...) output (32 hex digits)")
    return key


def check_address(s: Session, key: str | None, at: datetime, limits: VoteLimits) -> None:
    """Refuse a vote from address `key` at `at` when its budget (`ADDRESS_FACTOR` x `limits`) is spent.

    Takes the address's lock first (PostgreSQL; SQLite's write lock already serializes), so two
    votes from one address cannot both pass the count; the lock lasts until the transaction ends,
    and the caller inserts the vote (with this key) in that same transaction.

    Raises:
        VoteRefused: "rate_limited" (with retry_after_s) or "daily_cap" for this address.
    """
    max_votes, daily_cap = limits.max_votes, limits.daily_cap
    if key is None or (max_votes is None and daily_cap is None):
        return
    arena_repo.lock_address(s, key)
    if max_votes is not None:
        allowed = max_votes * ADDRESS_FACTOR
        window = timedelta(seconds=limits.window_s)
        recent = live_repo.recent_address_vote_times(s, key, at - window, allowed)
        if len(recent) >= allowed:
            # The oldest of the last `allowed` votes must leave the window before the next one fits.
            wait = max(1.0, (_utc(recent[-1]) + window - at).total_seconds())
            raise VoteRefused(
                "rate_limited",
                f"这个网络的投票太频繁了，请 {wait:.0f} 秒后再试。",
                f"Too many votes from this network; try again in {wait:.0f} s.",
                retry_after_s=wait,
            )
    if daily_cap is not None and live_repo.count_address_votes_since(s, key, at - _DAY) >= daily_cap * ADDRESS_FACTOR:
        raise VoteRefused(
            "daily_cap",
            "这个网络今天的投票已达上限，感谢参与，请明天再来。",
            "This network reached today's vote limit; thank you, come back tomorrow.",
        )


def _utc(t: datetime) -> datetime:
    # SQLite returns naive datetimes; everything stored is UTC.
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
