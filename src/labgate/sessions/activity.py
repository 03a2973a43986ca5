"""When a session was last used: every request and WebSocket message through the proxy
counts. Kept in memory per replica and written to the database at most once per
``WRITE_EVERY_SECONDS`` per session, so that the proxy's path stays free of writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import update

from labgate.db.engine import Database
from labgate.db.models import AppSession
from labgate.db.types import utcnow

log = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 30.0


class ActivityRecorder:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._written: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def note(self, session_id: str) -> None:
        now = time.monotonic()
        if now - self._written.get(session_id, -WRITE_EVERY_SECONDS) < WRITE_EVERY_SECONDS:
            return
        self._written[session_id] = now
        task = asyncio.get_running_loop().create_task(self._write(session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, session_id: str) -> None:
        try:
            async with self.database.session() as db:
                await db.execute(
                    update(AppSession)
                    .where(AppSession.id == session_id)
                    .values(last_activity_at=utcnow(), warned_at=None)
                )
        except Exception:  # activity is best effort: never fail a request for it
            log.exception("could not record activity of session %s", session_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
