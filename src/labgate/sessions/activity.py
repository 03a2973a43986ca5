"""When a session was last used: every request and WebSocket message through the proxy
counts. Kept in memory per replica and written to the database at most once per
``WRITE_EVERY_SECONDS`` per session, so that the proxy's path stays free of writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, update

from labgate.db.engine import Database
from labgate.db.models import AppSession
from labgate.db.types import utcnow
from labgate.settings import Settings

log = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 30.0


class ActivityRecorder:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
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
        now = utcnow()
        try:
            async with self.database.session() as db:
                await db.execute(
                    update(AppSession)
                    .where(AppSession.id == session_id)
                    .values(last_activity_at=now, **_warnings_reset(now, self.settings))
                )
        except Exception:  # activity is best effort: never fail a request for it
            log.exception("could not record activity of session %s", session_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task


def _warnings_reset(now: datetime, settings: Settings) -> dict[str, Any]:
    """The stop warnings start again, unless the session's end of lifetime is within
    the earliest warning's lead (as ``sessions.policy.warnings_kept``, in SQL)."""
    leads = settings.app_warnings_minutes
    if not leads:
        return {"warned_at": None, "warnings_sent": 0}
    moved = or_(
        AppSession.ends_at.is_(None),
        AppSession.ends_at > now + timedelta(minutes=leads[0]),
    )
    return {
        "warned_at": case((moved, None), else_=AppSession.warned_at),
        "warnings_sent": case((moved, 0), else_=AppSession.warnings_sent),
    }
