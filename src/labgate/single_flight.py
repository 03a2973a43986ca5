"""One lookup at a time per key: concurrent askers share it.

The proxy's caches (a session's route, a caller's identity) expire every few seconds.
Without this, fifty requests in flight when an answer expired each looked it up again,
the lookups queued behind each other on the database, and by the time they were stored
they were nearly stale, so the next requests missed again (docs/performance.md,
Sessions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def run(
        self, key: K, look_up: Callable[[], Awaitable[V]], keep: Callable[[V], None]
    ) -> V:
        """The answer of the lookup under way for ``key``, or of a new ``look_up()``;
        ``keep`` is given the answer once, unless the key was forgotten meanwhile (the
        askers still get it). A lookup's error is every asker's and is not kept."""
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(look_up())
            self._running[key] = running
            # Added before any asker waits, so the answer is kept before they resume.
            running.add_done_callback(lambda done: self._finished(key, done, keep))
        # Shielded: an asker that goes away does not cancel the others' lookup.
        return await asyncio.shield(running)

    def _finished(self, key: K, done: asyncio.Future[V], keep: Callable[[V], None]) -> None:
        if self._running.get(key) is not done:
            if not done.cancelled():
                done.exception()  # retrieved: forgotten lookups do not warn when they fail
            return
        del self._running[key]
        if not done.cancelled() and done.exception() is None:
            keep(done.result())

    def forget(self, key: K) -> None:
        """A lookup under way for ``key`` answers its askers but is not kept."""
        self._running.pop(key, None)

    def forget_all(self) -> None:
        self._running.clear()
