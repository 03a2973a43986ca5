"""How many connections to resources each user started in the last minute, in this server
process (``resource_connect_attempts_per_minute``).

Every attempt makes the server open a TCP connection and try a login wherever the
user's resource says, so without a bound one user could have labgate scan a network or
try passwords against a host at the server's speed. The count lives in memory: it only
has to make such a scan slow, and a replica restarting forgets at most a minute.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from labgate.errors import RateLimited

WINDOW_SECONDS = 60.0


class ConnectAttempts:
    """A sliding window of each user's connection attempts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._recent: dict[int, deque[float]] = {}

    def take(self, user_id: int, per_minute: int) -> None:
        """Count one attempt of ``user_id``; :class:`RateLimited` (not counted) when
        ``per_minute`` attempts were made within the last minute."""
        now = self._clock()
        recent = self._recent.setdefault(user_id, deque())
        while recent and recent[0] <= now - WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= per_minute:
            wait = math.ceil(recent[0] + WINDOW_SECONDS - now)
            raise RateLimited(
                f"You started {len(recent)} connections to resources within a minute, the "
                f"most labgate allows. Try again in {wait} seconds.",
                retry_after=wait,
            )
        recent.append(now)
