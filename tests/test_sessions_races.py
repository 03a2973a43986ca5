"""Limits counted in the database hold under concurrent requests, on SQLite and
PostgreSQL, through the in-process API: a user's live sessions (``app_max_sessions``),
extensions granted without an administrator (``app_auto_extensions``), and an
administrator's decision on a request for more time (made once).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from labgate.db.engine import Database
from labgate.db.models import LIVE_SESSION_STATES, AppSession, Role
from labgate.db.types import utcnow
from labgate.settings import Settings
from tests.support.accounts import AccountFactory
from tests.support.local_sessions import launch_request, private_daemon
from tests.support.proxied import running_session, state_of

AT_ONCE = 8
# Started for real, and never answering: the session stays live while the test counts.
WAITING = "sleep 300"


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    with private_daemon() as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: Path) -> Settings:
    return settings.model_copy(
        update={
            "local_resource": "everyone",
            "agent_runtime_dir": str(runtime_dir),
            "daemon_idle_minutes": 1,
            "app_max_sessions": 3,
            "app_auto_extensions": 2,
            "app_extension_hours": 8,
            "app_reconcile_seconds": 3600,
        }
    )


async def live_sessions(database: Database, user_id: int) -> int:
    async with database.read() as db:
        count = await db.scalar(
            select(func.count())
            .select_from(AppSession)
            .where(AppSession.user_id == user_id, AppSession.state.in_(LIVE_SESSION_STATES))
        )
    return int(count or 0)


async def test_concurrent_launches_stop_at_the_users_limit(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await accounts.login("alice")
    tokens = state_of(app).session_tokens
    for _ in range(2):  # two of her three running already
        await running_session(database, tokens, "alice", port=9)

    answers = await asyncio.gather(
        *(launch_request(alice, "webapp", WAITING) for _ in range(AT_ONCE))
    )

    assert Counter(a.status_code for a in answers) == {201: 1, 409: AT_ONCE - 1}
    refused = next(a for a in answers if a.status_code == 409).json()["error"]
    assert refused["code"] == "quota_exceeded"
    assert "Your role's limit of 3 sessions at once would be exceeded" in refused["message"]
    assert refused["quota"]["limit"] == "max_sessions"
    assert await live_sessions(database, alice.user["id"]) == 3


async def test_concurrent_extensions_get_only_the_automatic_ones_granted(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await accounts.login("alice")
    session_id = await session_ending(app, database, "alice")
    before = await ends_at(database, session_id)

    answers = await asyncio.gather(
        *(
            alice.post(f"/api/v1/sessions/{session_id}/extend", json={"hours": 1})
            for _ in range(AT_ONCE)
        )
    )

    assert [a.status_code for a in answers] == [200] * AT_ONCE
    decided = Counter(a.json()["extension"]["state"] for a in answers)
    assert decided == {"granted": 2, "pending": AT_ONCE - 2}
    assert await ends_at(database, session_id) - before == timedelta(hours=2)


async def test_an_extension_is_decided_once_whoever_decides_at_the_same_time(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    session_id = await session_ending(app, database, "alice")
    before = await ends_at(database, session_id)
    asked = await alice.post(f"/api/v1/sessions/{session_id}/extend", json={"hours": 20})
    extension = asked.json()["extension"]
    assert extension["state"] == "pending"

    answers = await asyncio.gather(
        *(
            root.post(f"/api/v1/session-extensions/{extension['id']}", json={"grant": True})
            for _ in range(AT_ONCE)
        )
    )

    assert Counter(a.status_code for a in answers) == {200: 1, 409: AT_ONCE - 1}
    refused = next(a for a in answers if a.status_code == 409).json()["error"]
    assert refused["message"] == "This request was granted already."
    assert await ends_at(database, session_id) - before == timedelta(hours=20)


async def session_ending(app: Any, database: Database, owner: str) -> str:
    """A running session of ``owner``'s that ends in a week (unless extended)."""
    session_id = await running_session(database, state_of(app).session_tokens, owner, port=9)
    async with database.session() as db:
        await db.execute(
            update(AppSession)
            .where(AppSession.id == session_id)
            .values(ends_at=utcnow() + timedelta(days=7))
        )
    return session_id


async def ends_at(database: Database, session_id: str) -> datetime:
    async with database.read() as db:
        found = await db.scalar(select(AppSession.ends_at).where(AppSession.id == session_id))
    assert found is not None
    return found
