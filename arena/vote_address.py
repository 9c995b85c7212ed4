"""The client address in the vote limits: a voter who drops their cookie (a new identity) on the
same address still meets the limits.

The signed voter identity carries `VoteLimits` in the database (`arena.votes`). When the page knows
the client's address, the address gets its own budget too: `ADDRESS_FACTOR` times the per-voter
limits (a campus or office NAT holds several honest voters). The budget lives in this process (one
dashboard server), keyed by a hash of the address, so no address is ever stored.

    with address_budget.hold(client_address, at, limits):   # refuses, or reserves one vote
        ... store the vote ...                               # an exception gives the reservation back
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from arena.errors import VoteRefused

if TYPE_CHECKING:
    from arena.votes import VoteLimits

ADDRESS_FACTOR = 4
_DAY = timedelta(days=1)


class AddressBudget:
    """Sliding-window vote counts per client address (thread-safe, in memory)."""

    def __init__(self, factor: int = ADDRESS_FACTOR) -> None:
        self.factor = factor
        self._times: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, address: str | None, at: datetime, limits: VoteLimits) -> Iterator[None]:
        """Reserve one vote for `address` at `at` under `limits` (times `factor`).

        Raises:
            VoteRefused: "rate_limited" or "daily_cap" for this address; nothing reserved then.
        """
        max_votes, window_s, daily_cap = limits.max_votes, limits.window_s, limits.daily_cap
        if not address or (max_votes is None and daily_cap is None):
            yield
            return
        key = hashlib.sha256(address.encode()).hexdigest()[:16]
        with self._lock:
            times = [t for t in self._times.get(key, []) if t > at - _DAY]
            if max_votes is not None:
                window = timedelta(seconds=window_s)
                recent = sorted(t for t in times if t > at - window)
                if len(recent) >= max_votes * self.factor:
                    wait = max(1.0, (recent[-max_votes * self.factor] + window - at).total_seconds())
                    raise VoteRefused(
                        "rate_limited",
                        f"这个网络的投票太频繁了，请 {wait:.0f} 秒后再试。",
                        f"Too many votes from this network; try again in {wait:.0f} s.",
                        retry_after_s=wait,
                    )
            if daily_cap is not None and len(times) >= daily_cap * self.factor:
                raise VoteRefused(
                    "daily_cap",
                    "这个网络今天的投票已达上限，感谢参与，请明天再来。",
                    "This network reached today's vote limit; thank you, come back tomorrow.",
                )
            times.append(at)
            self._times[key] = times
        try:
            yield
        except BaseException:
            with self._lock:  # the vote was not stored: give the reservation back
                kept = self._times.get(key, [])
                if at in kept:
                    kept.remove(at)
            raise

    def clear(self) -> None:
        with self._lock:
            self._times.clear()


address_budget = AddressBudget()
