"""Who other than its owner is connected to a session now, on every replica, and telling
the owner when someone joins.

Each replica remembers the people it serves a shared session to (a request through the
proxy, an open WebSocket) and keeps a row per person, session and replica in
``share_presence``, written when they arrive and refreshed every
:data:`REFRESH_SECONDS` while they stay; a row not refreshed for :data:`STALE_SECONDS`
no longer counts. So any replica answers "who is connected" from the database alone.

A *join* is someone's first connection while no replica had them connected: it is
written in the audit log (``session_joined``, or ``session_support_joined`` for support
staff), pushed to the owner's tabs (``session_joined``, through :mod:`labgate.fanout` to
every replica), and mailed to the owner when their preference
``sharing.notify_joins_by_email`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Executable, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.auth.policy import SessionRole
from labgate.auth.principal import Principal
from labgate.db.engine import Database
from labgate.db.models import AppSession, SharePresence, User
from labgate.db.types import utcnow
from labgate.notifications.centre import notify
from labgate.notifications.kinds import JOIN
from labgate.resources.status import Hub
from labgate.settings import Settings

log = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0
STALE_SECONDS = 30.0


@dataclass(frozen=True)
class Joined:
    """Someone joined an owner's session."""

    session_id: str
    owner_id: int
    user_id: int
    username: str
    display_name: str
    role: str

    def event(self) -> dict[str, object]:
        return {
            "type": "session_joined",
            "session_id": self.session_id,
            "user": {
                "id": self.user_id,
                "username": self.username,
                "display_name": self.display_name,
            },
            "role": self.role,
        }


@dataclass(frozen=True)
class Connected:
    user_id: int
    role: str
    since: datetime


@dataclass
class _Here:
    role: str
    sockets: int
    last_seen: float


class Presence:
    """This replica's visitors of shared sessions, and the owners' news of joins."""

    def __init__(self, database: Database, settings: Settings, replica: str) -> None:
        self.database = database
        self.settings = settings
        self.replica = replica
        #: Joins, to their owners' tabs (shared with the other replicas by the fan-out).
        self.joins: Hub[Joined] = Hub()
        self._here: dict[tuple[str, int], _Here] = {}
        self._arrivals: set[asyncio.Task[None]] = set()

    def visit(self, session_id: str, owner_id: int, principal: Principal, role: str) -> None:
        """``principal`` used the session (not its owner): a request, or a socket opened."""
        if principal.user_id == owner_id:
            return
        key = (session_id, principal.user_id)
        here = self._here.get(key)
        now = time.monotonic()
        if here is not None and (here.sockets or now - here.last_seen < STALE_SECONDS):
            here.last_seen, here.role = now, role
            return
        self._here[key] = _Here(role, 0, now)
        task = asyncio.get_running_loop().create_task(
            self._arrive(session_id, owner_id, principal, role)
        )
        self._arrivals.add(task)
        task.add_done_callback(self._arrivals.discard)

    @contextlib.contextmanager
    def connected(
        self, session_id: str, owner_id: int, principal: Principal, role: str
    ) -> Iterator[None]:
        """For the life of a WebSocket to the session: its user stays connected."""
        if principal.user_id == owner_id:
            yield
            return
        self.visit(session_id, owner_id, principal, role)
        here = self._here[(session_id, principal.user_id)]
        here.sockets += 1
        try:
            yield
        finally:
            here.sockets -= 1
            here.last_seen = time.monotonic()

    async def _arrive(
        self, session_id: str, owner_id: int, principal: Principal, role: str
    ) -> None:
        try:
            joined = await self._write_arrival(session_id, owner_id, principal, role)
        except Exception:  # presence is news, never a reason to fail the visit
            log.exception("noting a visit of session %s failed", session_id)
            return
        if joined is not None:
            self.joins.put(owner_id, joined)

    async def _write_arrival(
        self, session_id: str, owner_id: int, principal: Principal, role: str
    ) -> Joined | None:
        now = utcnow()
        async with self.database.session() as db:
            already = await db.scalar(
                select(SharePresence.user_id).where(
                    SharePresence.app_session_id == session_id,
                    SharePresence.user_id == principal.user_id,
                    SharePresence.seen_at > now - timedelta(seconds=STALE_SECONDS),
                )
            )
            if await db.get(AppSession, session_id) is None:
                return None
            await db.execute(_upsert(db, session_id, principal.user_id, self.replica, role, now))
            if already is not None:
                return None
            user = await db.get(User, principal.user_id)
            title = await db.scalar(select(AppSession.title).where(AppSession.id == session_id))
            who = (user.display_name if user is not None else "") or principal.username
            await notify(
                db,
                owner_id,
                JOIN,
                f"{who} joined your session {title}",
                f"{who} ({principal.username}) joined your session {title!r} as {role}. You "
                "see who has access and who is connected in the session's sharing dialog, "
                "and can revoke access there.",
                {"session": session_id, "sharing": True},
            )
            support = role == SessionRole.SUPPORT.value
            audit.record(
                db,
                "session_support_joined" if support else "session_joined",
                actor=principal.actor,
                target=session_id,
                role=role,
            )
            return Joined(
                session_id,
                owner_id,
                principal.user_id,
                principal.username,
                user.display_name if user is not None else "",
                role,
            )

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception:  # the next round tries again
                log.exception("refreshing who is connected to shared sessions failed")

    async def refresh(self) -> None:
        """Rows of those still here are refreshed; those gone are removed."""
        now_mono, now = time.monotonic(), utcnow()
        staying, leaving = [], []
        for key, here in list(self._here.items()):
            if here.sockets or now_mono - here.last_seen < STALE_SECONDS:
                staying.append(key)
            else:
                leaving.append(key)
                del self._here[key]
        async with self.database.session() as db:
            for session_id, user_id in staying:
                await db.execute(
                    update(SharePresence)
                    .where(
                        SharePresence.app_session_id == session_id,
                        SharePresence.user_id == user_id,
                        SharePresence.replica == self.replica,
                    )
                    .values(seen_at=now)
                )
            for session_id, user_id in leaving:
                await db.execute(
                    delete(SharePresence).where(
                        SharePresence.app_session_id == session_id,
                        SharePresence.user_id == user_id,
                        SharePresence.replica == self.replica,
                    )
                )
            # Rows of replicas that stopped without cleaning up.
            await db.execute(
                delete(SharePresence).where(
                    SharePresence.seen_at < now - timedelta(seconds=10 * STALE_SECONDS)
                )
            )

    async def close(self) -> None:
        for task in list(self._arrivals):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def connected_now(db: AsyncSession, session_id: str) -> list[Connected]:
    """Who is connected to the session now (through any replica), earliest first."""
    rows = await db.execute(
        select(SharePresence.user_id, SharePresence.role, SharePresence.since).where(
            SharePresence.app_session_id == session_id,
            SharePresence.seen_at > utcnow() - timedelta(seconds=STALE_SECONDS),
        )
    )
    found: dict[int, Connected] = {}
    for user_id, role, since in rows:
        known = found.get(user_id)
        if known is None or since < known.since:
            found[user_id] = Connected(user_id, role, since)
    return sorted(found.values(), key=lambda c: c.since)


def _upsert(
    db: AsyncSession, session_id: str, user_id: int, replica: str, role: str, now: datetime
) -> Executable:
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(SharePresence).values(
        app_session_id=session_id,
        user_id=user_id,
        replica=replica,
        role=role,
        since=now,
        seen_at=now,
    )
    return statement.on_conflict_do_update(
        index_elements=[
            SharePresence.app_session_id,
            SharePresence.user_id,
            SharePresence.replica,
        ],
        set_={"seen_at": statement.excluded.seen_at, "role": statement.excluded.role},
    )
