"""Who used labgate on which day (UTC): one ``active_days`` row per user and day, the
history behind the "active users per day" chart (labgate.usage).

A day is noted when a user logs in and when an authenticated request of theirs is
served (:mod:`labgate.auth.authentication`). Each replica remembers whom it has written
today, so a user costs it at most one write a day; the insert ignores a row that is
there already, so two replicas (or two requests at once) never collide.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import ActiveDay
from labgate.db.types import utcnow


def day_of(moment: datetime) -> str:
    """The UTC day of ``moment`` as ``YYYY-MM-DD``, as rows name it."""
    return moment.date().isoformat()


class ActiveDays:
    """This replica's memory of the users it recorded as active today (only today's:
    the memory holds at most one day's users and is dropped when the day changes)."""

    def __init__(self) -> None:
        self._day = ""
        self._noted: set[int] = set()

    def due(self, user_id: int, now: datetime | None = None) -> str | None:
        """The day to record for ``user_id``, or None when this replica has already."""
        day = day_of(now or utcnow())
        if day != self._day:
            self._day, self._noted = day, set()
        return None if user_id in self._noted else day

    async def record(self, db: AsyncSession, user_id: int, day: str) -> None:
        """Insert the row (unless it exists) in ``db`` and remember it for the day."""
        insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        await db.execute(
            insert(ActiveDay)
            .values(day=day, user_id=user_id)
            .on_conflict_do_nothing(index_elements=[ActiveDay.day, ActiveDay.user_id])
        )
        if day == self._day:
            self._noted.add(user_id)

    async def note(self, db: AsyncSession, user_id: int) -> None:
        """Record today for ``user_id`` in ``db`` unless this replica has already."""
        day = self.due(user_id)
        if day is not None:
            await self.record(db, user_id, day)
