"""Events for every replica's tabs.

A tab's events socket is served by one replica, but what it shows can change on
another: the replica that launches a session, warns that it is idle or stops it. On
PostgreSQL every replica LISTENs on one channel and tells the others with NOTIFY what
changed (a kind, a user, a subject such as a session's id); a replica where a tab of
that user listens delivers it there as if it had happened locally. SQLite serves one
replica: nothing to do.

A notice is small and says only *what* changed; tabs read the thing itself again, so a
notice that arrives twice or late does no harm. A replica that lost its listening
connection cannot know what it missed: once it listens again, it tells its tabs to read
everything again (``resyncs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from labgate.db.engine import Database
from labgate.resources.status import Hub

log = logging.getLogger(__name__)

Event = TypeVar("Event")

CHANNEL = "labgate_events"
RESYNC = "resync"
# Notices waiting for the connection; beyond this the oldest are dropped (a resync
# follows every reconnection anyway).
_OUTBOX_LIMIT = 1000
# A quiet connection is checked this often, so that a dead one is noticed.
_PING_SECONDS = 30.0
_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
# PostgreSQL's limit on a NOTIFY payload is 8000 bytes.
_PAYLOAD_LIMIT = 7900


class Fanout:
    """This replica's end of the channel: ``share`` a hub, ``start``, ``close``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.enabled = not database.is_sqlite
        self.replica = secrets.token_hex(8)
        # Tabs subscribe here to hear "read everything again".
        self.resyncs: Hub[str] = Hub()
        self.listening = asyncio.Event()
        # What to do with another replica's notice of each kind: (user, subject).
        self._receivers: dict[str, Callable[[int, str], None]] = {}
        self._outbox: asyncio.Queue[str] = asyncio.Queue(_OUTBOX_LIMIT)
        self._unsent: str | None = None
        self._task: asyncio.Task[None] | None = None

    def share(
        self,
        kind: str,
        hub: Hub[Event],
        encode: Callable[[Event], str],
        receive: Callable[[int, str], None],
    ) -> None:
        """What is ``put`` into ``hub`` here is told to every other replica: ``encode``
        makes its subject; there, ``receive`` (user, subject) is called with it (and
        typically ``deliver``-s it to that replica's tabs of the user, if any)."""
        self._receivers[kind] = receive
        if self.enabled:
            hub.forward = lambda user_id, event: self._publish(kind, user_id, encode(event))

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="labgate-fanout")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.listening.clear()

    # -- sending

    def _publish(self, kind: str, user_id: int, subject: str) -> None:
        if self._task is None:
            return  # not started (a command, a test without the lifespan): no one to tell
        payload = json.dumps(
            {"r": self.replica, "k": kind, "u": user_id, "s": subject}, separators=(",", ":")
        )
        if len(payload.encode()) > _PAYLOAD_LIMIT:
            log.warning("a %s notice for user %d is too long to send; dropped", kind, user_id)
            return
        if self._outbox.full():
            self._outbox.get_nowait()  # the oldest; tabs resync when the channel is back
        self._outbox.put_nowait(payload)

    async def _run(self) -> None:
        failures, missed = 0, False
        while True:
            try:
                await self._listen_and_send(resync=missed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke, or could not be made
                log.warning("the events channel to the other replicas is down: %s", exc)
            if self.listening.is_set():
                failures = 0  # it worked until now: try again soon
            self.listening.clear()
            missed = True
            await asyncio.sleep(_RETRY_SECONDS[min(failures, len(_RETRY_SECONDS) - 1)])
            failures += 1

    async def _listen_and_send(self, *, resync: bool) -> None:
        async with self.database.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            pg = raw.driver_connection
            assert pg is not None
            ended = asyncio.Event()
            pg.add_termination_listener(lambda _connection: ended.set())
            await pg.add_listener(CHANNEL, self._heard)
            try:
                self.listening.set()
                if resync:
                    self._resync()
                await self._send_until(pg, ended)
            finally:
                with contextlib.suppress(Exception):
                    await pg.remove_listener(CHANNEL, self._heard)
                # Never back into the pool: it listened, and it may be broken.
                await conn.invalidate()

    async def _send_until(self, pg: Any, ended: asyncio.Event) -> None:
        """Send what is put in the outbox until the connection ends. A notice whose
        sending failed is sent first on the next connection."""
        ending = asyncio.ensure_future(ended.wait())
        try:
            while True:
                if self._unsent is None:
                    taking = asyncio.ensure_future(self._outbox.get())
                    done, _ = await asyncio.wait(
                        {taking, ending},
                        timeout=_PING_SECONDS,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if taking not in done:
                        taking.cancel()
                        if ending in done:
                            raise ConnectionError("the database closed the listening connection")
                        await pg.execute("SELECT 1")
                        continue
                    self._unsent = taking.result()
                await pg.execute("SELECT pg_notify($1, $2)", CHANNEL, self._unsent)
                self._unsent = None
        finally:
            ending.cancel()

    # -- receiving

    def _heard(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            notice = json.loads(payload)
            replica, kind, user_id, subject = notice["r"], notice["k"], notice["u"], notice["s"]
            receive = self._receivers.get(kind)
            if type(user_id) is not int or not isinstance(subject, str):
                raise TypeError(notice)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed notice on %s", CHANNEL)
            return
        if replica != self.replica and receive is not None:
            receive(user_id, subject)

    def _resync(self) -> None:
        for user_id in self.resyncs.users():
            self.resyncs.deliver(user_id, RESYNC)
