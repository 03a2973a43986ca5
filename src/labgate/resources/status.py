"""The state of a user's connection to a resource, and the hub that pushes changes to
every browser tab of that user (``/api/v1/events``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

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


class StatusHub:
    """Fan-out of status changes to the subscribed tabs of each user."""

    def __init__(self) -> None:
        self._queues: dict[int, set[asyncio.Queue[StatusEvent]]] = defaultdict(set)

    @contextlib.contextmanager
    def subscribe(self, user_id: int) -> Iterator[asyncio.Queue[StatusEvent]]:
        queue: asyncio.Queue[StatusEvent] = asyncio.Queue(_QUEUE_LIMIT)
        self._queues[user_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[user_id].discard(queue)
            if not self._queues[user_id]:
                del self._queues[user_id]

    def publish(self, user_id: int, resource_id: int, status: Status) -> None:
        for queue in self._queues.get(user_id, ()):
            if queue.full():
                # Drop the oldest event: the tab is behind, and the newest state matters.
                queue.get_nowait()
            queue.put_nowait((resource_id, status))
