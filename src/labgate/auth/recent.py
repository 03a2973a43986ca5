"""Who a credential belonged to a moment ago: the proxy's shortcut past the database.

An app's page makes many small requests, and looking up the caller's token or login
in the database for each was the largest part of what the proxy added to them
(docs/performance.md, Sessions). The proxy keeps each answer for ``TTL_SECONDS`` per
replica. Revocation stays prompt:

- this replica forgets everything whenever one of its API requests that change anything
  commits (logging out, revoking a token, disabling a user, a new password all do), so
  here a revocation takes effect at once;
- another replica, or the command line, is seen within ``TTL_SECONDS``.

(JupyterHub's single-user servers keep such answers for five minutes.) Only the proxy
uses this; labgate's own API looks every request up.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from labgate.auth.principal import Principal
from labgate.single_flight import SingleFlight

TTL_SECONDS = 2.0
MOST_KEPT = 10_000


class RecentCallers:
    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._seen: dict[str, tuple[float, Principal]] = {}
        # A lookup under way at a revocation (forget_all) is not kept.
        self._lookups: SingleFlight[str, Principal] = SingleFlight()

    async def find(self, key: str, look_up: Callable[[], Awaitable[Principal]]) -> Principal:
        """The caller behind ``key``: remembered, or ``look_up()`` (whose errors, such as
        "not authenticated", are every waiting request's and are not remembered)."""
        known = self.get(key)
        if known is not None:
            return known
        return await self._lookups.run(key, look_up, lambda found: self.put(key, found))

    def get(self, key: str) -> Principal | None:
        found = self._seen.get(key)
        if found is None:
            return None
        if time.monotonic() - found[0] >= self.ttl:
            del self._seen[key]
            return None
        return found[1]

    def put(self, key: str, principal: Principal) -> None:
        now = time.monotonic()
        if len(self._seen) >= MOST_KEPT:
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.ttl}
            if len(self._seen) >= MOST_KEPT:
                self._seen.clear()
        self._seen[key] = (now, principal)

    def forget_all(self) -> None:
        self._seen.clear()
        self._lookups.forget_all()
