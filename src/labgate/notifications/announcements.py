"""Announcements: banners an administrator schedules for every user (text, severity,
start and end), and their sending out once their start has come: a notification of kind
``announcement`` to every enabled user, and with ``email`` an e-mail to each who has an
address.

Sending out happens once across replicas: the replica whose update sets ``emailed_at``
(from NULL) does it, in that same transaction, so the notifications exist exactly when
the announcement is marked sent. ``emailed_at`` is thus when it was sent out (for every
announcement, e-mailed or not).

Every replica's :class:`Announcer` looks every ``announcement_check_seconds`` (and at
once when an administrator changed one) for announcements that began or ended, and tells
its own tabs to read the current ones again; a change made through the API is also told
at once, through the fan-out, to every replica's tabs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.engine import Database
from labgate.db.models import Announcement, User
from labgate.db.types import utcnow
from labgate.errors import NotFound
from labgate.notifications.centre import notify
from labgate.notifications.kinds import ANNOUNCEMENT
from labgate.settings import Settings

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "critical")
#: Where every tab listens for "read the announcements again" (no user has the id 0).
EVERYONE = 0

Mail = Callable[[str, str, str], Awaitable[bool]]


async def current(db: AsyncSession, now: datetime | None = None) -> list[Announcement]:
    """The announcements shown now, the most severe and then the newest first."""
    now = now or utcnow()
    rows = list(
        await db.scalars(
            select(Announcement)
            .where(Announcement.starts_at <= now, Announcement.ends_at > now)
            .order_by(Announcement.starts_at.desc(), Announcement.id.desc())
        )
    )
    return sorted(rows, key=lambda row: -SEVERITIES.index(row.severity))


async def every(db: AsyncSession) -> list[Announcement]:
    """All announcements, the latest to start first."""
    return list(
        await db.scalars(
            select(Announcement).order_by(Announcement.starts_at.desc(), Announcement.id.desc())
        )
    )


async def get(db: AsyncSession, announcement_id: int) -> Announcement:
    row = await db.get(Announcement, announcement_id)
    if row is None:
        raise NotFound(f"There is no announcement {announcement_id}.")
    return row


async def send_out_due(db: AsyncSession, now: datetime) -> list[Announcement]:
    """Claim the announcements whose start has come and that were not sent out yet, and
    add their notifications (in ``db``'s transaction); those claimed here."""
    due = list(
        await db.scalars(
            select(Announcement).where(
                Announcement.emailed_at.is_(None),
                Announcement.starts_at <= now,
                Announcement.ends_at > now,
            )
        )
    )
    claimed = []
    for row in due:
        result = cast(
            CursorResult[Any],
            await db.execute(
                update(Announcement)
                .where(Announcement.id == row.id, Announcement.emailed_at.is_(None))
                .values(emailed_at=now)
            ),
        )
        if result.rowcount != 1:
            continue  # another replica got there first
        claimed.append(row)
        users = await db.scalars(select(User.id).where(User.disabled.is_(False)))
        for user_id in users:
            await notify(
                db, user_id, ANNOUNCEMENT, _title(row.text), row.text, {"announcement": row.id}
            )
    return claimed


def _title(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "Announcement"
    return first if len(first) <= 120 else first[:119] + "…"


class Announcer:
    """This replica's watch on the announcements (:meth:`run_forever`)."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        tell_tabs: Callable[[], None],
        mail: Mail,
    ) -> None:
        self.database = database
        self.settings = settings
        self.tell_tabs = tell_tabs
        self.mail = mail
        self._shown: set[int] | None = None
        self._wake = asyncio.Event()

    def soon(self) -> None:
        """Look again now (an administrator changed an announcement)."""
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking announcements failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.announcement_check_seconds)
            self._wake.clear()

    async def check_once(self) -> None:
        """Send out those due; tell the tabs here if the current ones changed."""
        now = utcnow()
        async with self.database.session() as db:
            claimed = await send_out_due(db, now)
            letters: list[tuple[str, Announcement]] = []
            for row in claimed:
                if row.email:
                    addresses = await db.scalars(
                        select(User.email).where(User.disabled.is_(False), User.email != "")
                    )
                    letters.extend((address, row) for address in addresses if address)
            shown = {row.id for row in await current(db, now)}
        if shown != self._shown:
            if self._shown is not None:
                self.tell_tabs()
            self._shown = shown
        for address, row in letters:
            await self.mail(address, f"labgate: {_title(row.text)}", row.text + "\n")
