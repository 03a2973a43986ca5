"""Events for every replica's tabs (labgate.fanout): two replicas on one real PostgreSQL,
each with its own pool, its own hub and its own listening connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import pytest

from labgate.db.engine import Database
from labgate.fanout import CHANNEL, RESYNC, Fanout
from labgate.plugins.manager import Plugins
from labgate.resources.status import Hub
from labgate.sessions.lifecycle import SessionChanged
from labgate.settings import Settings
from labgate.state import AppState
from tests.conftest import async_url
from tests.support.eventually import PATIENCE_SECONDS as PATIENCE
from tests.support.eventually import eventually

T = TypeVar("T")


class Replica:
    def __init__(self, url: str) -> None:
        self.database = Database(url, pool_size=2)
        self.hub: Hub[SessionChanged] = Hub()
        self.fanout = Fanout(self.database)
        self.heard: list[tuple[int, str]] = []  # what the proxy would forget
        self.fanout.share(
            "session", self.hub, encode=lambda change: change.session_id, receive=self._receive
        )

    def _receive(self, user_id: int, session_id: str) -> None:
        self.heard.append((user_id, session_id))
        self.hub.deliver(user_id, SessionChanged(session_id, user_id))

    async def close(self) -> None:
        await self.fanout.close()
        await self.database.dispose()


@pytest.fixture
async def replicas(postgres_dsn: str) -> AsyncIterator[tuple[Replica, Replica]]:
    first, second = Replica(async_url(postgres_dsn)), Replica(async_url(postgres_dsn))
    try:
        for replica in (first, second):
            replica.fanout.start()
            await asyncio.wait_for(replica.fanout.listening.wait(), PATIENCE)
        yield first, second
    finally:
        for replica in (first, second):
            await replica.close()


async def next_of(queue: asyncio.Queue[T]) -> T:
    return await asyncio.wait_for(queue.get(), PATIENCE)


async def notify(dsn: str, payload: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
    finally:
        await connection.close()


async def test_a_change_reaches_the_users_tabs_on_every_replica_once(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    with (
        a.hub.subscribe(7) as on_a,
        b.hub.subscribe(7) as on_b,
        b.hub.subscribe(8) as someone_else,
    ):
        a.hub.put(7, SessionChanged("first", 7))
        assert on_a.get_nowait() == SessionChanged("first", 7)  # here at once
        assert await next_of(on_b) == SessionChanged("first", 7)
        # And back: PostgreSQL delivers in order, so an echo of "first" to its own
        # replica would come before "second".
        b.hub.put(7, SessionChanged("second", 7))
        assert on_b.get_nowait() == SessionChanged("second", 7)
        assert await next_of(on_a) == SessionChanged("second", 7)
        assert on_a.empty()
        assert on_b.empty()
        assert someone_else.empty()


async def test_only_replicas_with_a_tab_of_the_user_deliver(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    with b.hub.subscribe(8) as other:
        a.hub.put(7, SessionChanged("not for 8", 7))
        a.hub.put(8, SessionChanged("for 8", 8))
        assert await next_of(other) == SessionChanged("for 8", 8)
    assert not b.hub.watched(7)
    # Every notice from elsewhere is heard, a tab or not; none of a replica's own.
    assert b.heard == [(7, "not for 8"), (8, "for 8")]
    assert a.heard == []


async def test_malformed_notices_are_ignored(
    replicas: tuple[Replica, Replica], postgres_dsn: str
) -> None:
    _a, b = replicas
    with b.hub.subscribe(7) as tab:
        for payload in (
            "not json",
            "[1, 2]",
            '{"r": "x", "k": "session", "u": "7", "s": "user as a string"}',
            '{"r": "x", "k": "session", "u": 7, "s": 42}',
            '{"r": "x", "k": "session", "u": true, "s": "a bool is no user"}',
            '{"r": "x", "k": "no such kind", "u": 7, "s": "unknown kind"}',
            '{"r": "x", "k": "session", "u": 7}',
            '{"r": "x", "k": "session", "u": 7, "s": "good"}',
        ):
            await notify(postgres_dsn, payload)
        assert await next_of(tab) == SessionChanged("good", 7)
        assert tab.empty()


async def test_after_a_lost_connection_tabs_read_everything_again(
    replicas: tuple[Replica, Replica], postgres_dsn: str
) -> None:
    a, b = replicas
    with b.fanout.resyncs.subscribe(7) as resyncs, b.hub.subscribe(7) as tab:
        b.fanout.listening.clear()
        admin = await asyncpg.connect(postgres_dsn)
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert ended >= 2  # both replicas' listening connections, at least
        assert await next_of(resyncs) == RESYNC
        await asyncio.wait_for(a.fanout.listening.wait(), PATIENCE)
        # News flows again.
        a.hub.put(7, SessionChanged("after", 7))
        assert await next_of(tab) == SessionChanged("after", 7)


async def test_on_sqlite_events_stay_on_their_one_server(tmp_path: Path) -> None:
    replica = Replica(f"sqlite+aiosqlite:///{tmp_path / 'one.sqlite3'}")
    try:
        replica.fanout.start()
        assert not replica.fanout.enabled
        assert replica.hub.forward is None
        with replica.hub.subscribe(7) as tab:
            replica.hub.put(7, SessionChanged("here", 7))
            assert tab.get_nowait() == SessionChanged("here", 7)
    finally:
        await replica.close()


async def test_a_stopped_fanout_sends_nothing(postgres_dsn: str) -> None:
    replica = Replica(async_url(postgres_dsn))
    listener = await asyncpg.connect(postgres_dsn)
    heard: list[str] = []
    await listener.add_listener(CHANNEL, lambda *args: heard.append(args[-1]))
    try:
        replica.hub.put(7, SessionChanged("before start", 7))
        replica.fanout.start()
        await asyncio.wait_for(replica.fanout.listening.wait(), PATIENCE)
        replica.hub.put(7, SessionChanged("while started", 7))
        await eventually(lambda: heard, what="the message sent while started")
        await replica.fanout.close()
        replica.hub.put(7, SessionChanged("after close", 7))
        await asyncio.sleep(0.2)  # nothing is sent within this while closed: what is tested
    finally:
        with contextlib.suppress(Exception):
            await listener.close()
        await replica.close()
    assert len(heard) == 1
    assert '"s":"while started"' in heard[0]


async def test_a_server_forgets_the_route_of_a_session_changed_elsewhere(
    postgres_dsn: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """labgate's own wiring (AppState): a session changed on another replica is dropped
    from this replica's proxy routes, whether a tab of its user listens here or not."""
    state = AppState(
        settings=settings,
        database=Database(async_url(postgres_dsn)),
        plugins=Plugins.load(settings),
        providers=[],
    )
    dropped: list[str] = []
    monkeypatch.setattr(state.routes, "drop", dropped.append)
    try:
        state.fanout.start()
        await asyncio.wait_for(state.fanout.listening.wait(), PATIENCE)
        await notify(postgres_dsn, '{"r": "another", "k": "session", "u": 7, "s": "k3x9"}')
        await eventually(lambda: dropped, what="the route dropped")
    finally:
        await state.fanout.close()
        await state.database.dispose()
    assert dropped == ["k3x9"]
