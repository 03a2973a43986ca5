"""The state of a user's connection to a resource, and the hub that pushes changes to
every browser tab of that user (``/api/v1/events``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from labgate.db.types import utcnow


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


@dataclass(frozen=True)
class Problem:
    """Why connecting failed, in words a person can act on; ``hop`` is the index of the
    server in the chain (0 = the first jump host, or the resource when there is none)."""

    code: str
    message: str
    hop: int | None = None
    hop_label: str | None = None


@dataclass(frozen=True)
class Status:
    state: ConnectionState
    message: str = ""
    error: Problem | None = None
    since: datetime = field(default_factory=utcnow)


DISCONNECTED = Status(ConnectionState.DISCONNECTED, "Not connected.")

# Events a slow tab has not taken yet; beyond this it misses intermediate states (the
# newest one of each resource still arrives: see StatusHub.publish).
_QUEUE_LIMIT = 256

StatusEvent = tuple[int, Status]
Event = TypeVar("Event")


class Hub(Generic[Event]):
    """Fan-out of events to the subscribed tabs of each user. A hub whose events matter
    to other replicas' tabs too is given a ``forward`` (``labgate.fanout``): what is put
    here is then also sent there, where it is ``deliver``-ed."""

    def __init__(self) -> None:
        self._queues: dict[int, set[asyncio.Queue[Event]]] = defaultdict(set)
        self.forward: Callable[[int, Event], None] | None = None

    @contextlib.contextmanager
    def subscribe(self, user_id: int) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(_QUEUE_LIMIT)
        self._queues[user_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[user_id].discard(queue)
            if not self._queues[user_id]:
                del self._queues[user_id]

    def watched(self, user_id: int) -> bool:
        """Whether a tab of this user listens here."""
        return user_id in self._queues

    def users(self) -> list[int]:
        return list(self._queues)

    def put(self, user_id: int, event: Event) -> None:
        """An event that happened here: to this replica's tabs, and on to the others'."""
        self.deliver(user_id, event)
        if self.forward is not None:
            self.forward(user_id, event)

    def deliver(self, user_id: int, event: Event) -> None:
        """To this replica's tabs only."""
        for queue in self._queues.get(user_id, ()):
            if queue.full():
                # Drop the oldest event: the tab is behind, and the newest state matters.
                queue.get_nowait()
            queue.put_nowait(event)


class StatusHub(Hub[StatusEvent]):
    """Connection states, for every tab of the user whose connection it is."""

    def publish(self, user_id: int, resource_id: int, status: Status) -> None:
        self.put(user_id, (resource_id, status))
