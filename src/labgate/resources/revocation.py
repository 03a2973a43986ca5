"""Ending access: when a user may no longer use a resource (:mod:`labgate.resources.access`),
their sessions there stop, with the reason shown to them, and this replica's connections
of theirs to it close.

It runs right after a change on the replica that made it (a member removed from a group,
a group deleted, a role changed, a resource's groups changed), and on every replica at
start and every ``SWEEP_SECONDS``: that catches changes made on another replica or with
the command line, and a ``local_resource`` setting changed by a restart. Until then the
proxy (within its route's lifetime), extensions and reconnects refuse such a user
already; this is what stops the work itself.

Stopping an app needs a connection to its resource as its user, so that one connection
is made without the check (:func:`labgate.resources.connections.ending_work`), used only
by the server to stop the app, and closed right after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.engine import Database
from labgate.db.models import LIVE_SESSION_STATES, AppSession, Resource, SessionState
from labgate.db.types import utcnow
from labgate.resources.access import may_still_use, stop_reason
from labgate.resources.connections import ConnectionManager, ending_work
from labgate.settings import Settings

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30
# Users' resources whose work is being stopped at once (each may wait on a resource).
CONCURRENT_STOPS = 8


class SessionStopper(Protocol):
    """Stops app sessions (``sessions.lifecycle.Lifecycle``)."""

    async def stop(self, session_id: str, reason: str) -> None: ...


class RevocationNeeds(Protocol):
    """What ending lost access uses of the running server."""

    @property
    def database(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def connections(self) -> ConnectionManager: ...

    @property
    def lifecycle(self) -> SessionStopper: ...


class Revocation:
    """This replica's side of ending access (see the module docstring)."""

    def __init__(self, state: RevocationNeeds) -> None:
        self.state = state
        self._background: set[asyncio.Task[int]] = set()

    async def end_lost_access(
        self, *, user_id: int | None = None, resource_id: int | None = None
    ) -> int:
        """Stop the live sessions and close this replica's connections of every user who
        may no longer use the resource they are on (only ``user_id``'s, or only on
        ``resource_id``, when given); the number of sessions stopped."""
        connected = [
            pair
            for pair in self.state.connections.users_and_resources()
            if user_id in (None, pair[0]) and resource_id in (None, pair[1])
        ]
        async with self.state.database.read() as db:
            lost = await _lost_access(
                db, self.state.settings, connected, user_id=user_id, resource_id=resource_id
            )
        bound = asyncio.Semaphore(CONCURRENT_STOPS)

        async def end(key: tuple[int, int], name: str, sessions: list[str]) -> None:
            async with bound:
                await self._end(key, name, sessions)

        await asyncio.gather(*(end(key, *found) for key, found in lost.items()))
        return sum(len(sessions) for _, sessions in lost.values())

    async def _end(self, key: tuple[int, int], name: str, sessions: list[str]) -> None:
        user_id, resource_id = key
        log.info("user %d lost access to %s: stopping %d sessions", user_id, name, len(sessions))
        for session_id in sessions:
            try:
                with ending_work():
                    await self.state.lifecycle.stop(session_id, stop_reason(name))
            except Exception:  # the next sweep tries again
                log.exception("stopping session %s failed", session_id)
        await self.state.connections.disconnect(user_id, resource_id)

    def soon(self, *, user_id: int | None = None, resource_id: int | None = None) -> None:
        """:meth:`end_lost_access` in the background, for a route that just changed
        who may use what (the answer does not wait for apps to stop)."""
        task = asyncio.get_running_loop().create_task(
            self.end_lost_access(user_id=user_id, resource_id=resource_id)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def run_forever(self) -> None:
        """Sweep now and every ``SWEEP_SECONDS``, until cancelled."""
        while True:
            try:
                stopped = await self.end_lost_access()
                if stopped:
                    log.info("stopped %d sessions whose users lost access", stopped)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed round must not stop the next one
                log.exception("ending lost access failed; trying again later")
            await asyncio.sleep(SWEEP_SECONDS)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _lost_access(
    db: AsyncSession,
    settings: Settings,
    connected: list[tuple[int, int]],
    *,
    user_id: int | None,
    resource_id: int | None,
) -> dict[tuple[int, int], tuple[str, list[str]]]:
    """(user, resource) -> (resource name, live session ids) of every user with live
    sessions on a resource, or a connection in ``connected``, who may not use it now."""
    query = select(AppSession.id, AppSession.user_id, AppSession.resource_id).where(
        AppSession.state.in_(LIVE_SESSION_STATES)
    )
    if user_id is not None:
        query = query.where(AppSession.user_id == user_id)
    if resource_id is not None:
        query = query.where(AppSession.resource_id == resource_id)
    sessions: defaultdict[tuple[int, int], list[str]] = defaultdict(list)
    for session_id, owner, rid in (await db.execute(query)).all():
        sessions[(owner, rid)].append(session_id)
    lost: dict[tuple[int, int], tuple[str, list[str]]] = {}
    for key in {*sessions, *connected}:
        resource = await db.get(Resource, key[1])
        if resource is None:  # deleted: its sessions went with it
            lost[key] = (f"resource {key[1]}", [])
        elif not await may_still_use(db, settings, key[0], resource):
            lost[key] = (resource.name, sessions.get(key, []))
    return lost


async def mark_lost_sessions(db: AsyncSession, settings: Settings, user_ids: Sequence[int]) -> int:
    """Mark ``stopping`` (with the reason) the live sessions of these users on resources
    they may no longer use, in ``db``'s transaction: for a change made where no server
    runs (the command line). The proxy refuses them at once; every server's sweep stops
    the apps within ``SWEEP_SECONDS``. The number marked."""
    marked = 0
    for user_id in user_ids:
        lost = await _lost_access(db, settings, [], user_id=user_id, resource_id=None)
        for name, sessions in lost.values():
            for session_id in sessions:
                result = await db.execute(
                    update(AppSession)
                    .where(AppSession.id == session_id, AppSession.state.in_(LIVE_SESSION_STATES))
                    .values(
                        state=SessionState.STOPPING.value,
                        message=stop_reason(name),
                        updated_at=utcnow(),
                    )
                )
                marked += cast(CursorResult[Any], result).rowcount
    return marked


def stopping_note(marked: int) -> str:
    """What the command line says after :func:`mark_lost_sessions` ("" for none)."""
    if not marked:
        return ""
    return (
        f"{marked} session(s) on resources their users may no longer use are stopping; "
        f"the labgate servers end them within {SWEEP_SECONDS} seconds."
    )
