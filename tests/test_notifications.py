"""The notification centre: notify() delivers only what its transaction committed, live
to the user's tabs (the events socket) and by e-mail when wanted; the API lists, marks
read and deletes the caller's own; old ones are pruned; extension decisions and shares
notify their users."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from websockets.asyncio.client import connect
from websockets.typing import Origin

from labgate import housekeeping
from labgate.db.engine import Database
from labgate.db.models import (
    AppSession,
    ExtensionState,
    Notification,
    Resource,
    Role,
    SessionExtension,
    SessionState,
    User,
)
from labgate.db.types import utcnow
from labgate.notifications.centre import notify
from labgate.sessions.tokens import new_session_id
from labgate.settings import Settings
from labgate.state import AppState
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.mail import MailServer
from tests.support.serving import serving


@pytest.fixture
def settings(settings: Settings, smtp: MailServer) -> Settings:
    return settings.model_copy(update={"smtp_host": smtp.host, "smtp_port": smtp.port})


@pytest.fixture
async def alice(accounts: AccountFactory) -> AsyncIterator[LoggedIn]:
    yield await accounts.login("alice")
    await accounts.close()


async def told(queue: asyncio.Queue[int]) -> int:
    return await asyncio.wait_for(queue.get(), PATIENCE_SECONDS)


async def test_only_committed_notifications_are_delivered(
    alice: LoggedIn, state: AppState, database: Database
) -> None:
    user_id = alice.user["id"]
    with state.notifications.subscribe(user_id) as tab:

        async def failing() -> None:
            async with database.session() as db:
                await notify(db, user_id, "share", "never shared")
                raise RuntimeError("the caller's work failed")

        with pytest.raises(RuntimeError):
            await failing()
        async with database.session() as db:
            kept = await notify(db, user_id, "share", "Bob shared a session with you")
            assert tab.empty()  # not before the commit
        assert await told(tab) == kept.id
        # A later commit of the same database session does not deliver it again.
        await asyncio.sleep(0)
        assert tab.empty()
    listed = (await alice.get("/api/v1/notifications")).json()
    assert [n["title"] for n in listed["notifications"]] == ["Bob shared a session with you"]
    assert listed["unread"] == 1


async def test_list_mark_read_and_delete(
    alice: LoggedIn, accounts: AccountFactory, database: Database
) -> None:
    bob = await accounts.login("bob")
    async with database.session() as db:
        ids = [
            (await notify(db, alice.user["id"], "share", f"number {n}", subject={"n": n})).id
            for n in range(3)
        ]
        bobs = (await notify(db, bob.user["id"], "share", "for bob")).id
    listed = (await alice.get("/api/v1/notifications", params={"limit": 2})).json()
    assert [n["title"] for n in listed["notifications"]] == ["number 2", "number 1"]
    assert listed["unread"] == 3
    assert listed["notifications"][0]["subject"] == {"n": 2}

    marked = await alice.post("/api/v1/notifications/read", json={"ids": [ids[0], bobs]})
    assert marked.json() == {"marked": 1, "unread": 2}  # bob's is left alone
    assert (await bob.get("/api/v1/notifications")).json()["unread"] == 1
    for bad in ({}, {"ids": [1], "all": True}, {"ids": [0]}, {"all": "yes"}, {"ids": "1"}):
        refused = await alice.post("/api/v1/notifications/read", json=bad)
        assert refused.status_code == 422, bad
    assert (await alice.post("/api/v1/notifications/read", json={"all": True})).json() == {
        "marked": 2,
        "unread": 0,
    }
    assert (await alice.get("/api/v1/notifications", params={"limit": 0})).status_code == 422

    assert (await alice.delete(f"/api/v1/notifications/{bobs}")).status_code == 404
    assert (await alice.delete(f"/api/v1/notifications/{ids[1]}")).status_code == 204
    assert (await alice.delete(f"/api/v1/notifications/{ids[1]}")).status_code == 404
    left = (await alice.get("/api/v1/notifications")).json()["notifications"]
    assert [n["id"] for n in left] == [ids[2], ids[0]]
    assert all(n["read_at"] for n in left)


async def test_a_notification_reaches_the_events_socket(
    app: Any, alice: LoggedIn, database: Database
) -> None:
    async with serving(app) as base:
        cookies = "; ".join(f"{k}={v}" for k, v in alice.http.cookies.items())
        async with connect(
            base.replace("http", "ws", 1) + "/api/v1/events",
            additional_headers={"Cookie": cookies},
            origin=Origin(base),
            open_timeout=PATIENCE_SECONDS,
        ) as socket:
            await asyncio.sleep(0.2)  # subscribed once the first statuses are sent
            async with database.session() as db:
                added = await notify(db, alice.user["id"], "extension", "More time")
            async with asyncio.timeout(PATIENCE_SECONDS):
                while True:
                    message = json.loads(await socket.recv())
                    if message["type"] == "notification":
                        break
    assert message == {"type": "notification", "id": added.id}


async def test_mail_follows_the_preference_of_each_kind(
    alice: LoggedIn, state: AppState, database: Database, smtp: MailServer
) -> None:
    assert (await alice.patch("/api/v1/users/me", json={"email": "alice@example.org"})).is_success
    prefs = (await alice.get("/api/v1/preferences")).json()
    assert prefs["preferences"]["notifications.email.share"] is False
    assert prefs["preferences"]["notifications.email.session_warning"] is True
    assert "notifications.email.share" in prefs["schema"]
    async with database.session() as db:
        await notify(db, alice.user["id"], "share", "not mailed: not wanted")
        await notify(db, alice.user["id"], "announcement", "not mailed: no preference")
    wish = {"preferences": {"notifications.email.share": True}}
    assert (await alice.patch("/api/v1/preferences", json=wish)).status_code == 200
    async with database.session() as db:
        # A title with a line break (a session's, say) is one line: a header takes none.
        await notify(
            db, alice.user["id"], "share", "Bob shared Analysis\r\nBcc: x with you", "as user"
        )
    mail = await asyncio.to_thread(smtp.wait_for, to="alice@example.org")
    assert mail.subject == "Bob shared Analysis Bcc: x with you"
    assert mail.body.startswith("as user")
    await state.delivery.close()
    state.delivery.start()
    assert [m.subject for m in smtp.messages] == ["Bob shared Analysis Bcc: x with you"]


async def test_old_notifications_are_pruned(
    alice: LoggedIn, database: Database, settings: Settings
) -> None:
    async with database.session() as db:
        old = await notify(db, alice.user["id"], "share", "old")
        await notify(db, alice.user["id"], "share", "new")
        await db.execute(
            update(Notification)
            .where(Notification.id == old.id)
            .values(created_at=utcnow() - timedelta(days=91))
        )
    async with database.session() as db:
        assert (await housekeeping.clean_up(db, settings)).notifications == 1
    listed = (await alice.get("/api/v1/notifications")).json()["notifications"]
    assert [n["title"] for n in listed] == ["new"]


async def test_an_extension_decision_notifies_the_owner(
    alice: LoggedIn, accounts: AccountFactory, state: AppState, database: Database
) -> None:
    admin = await accounts.login("root", role=Role.ADMIN)
    session_id = new_session_id()
    async with database.session() as db:
        resource_id = await db.scalar(select(Resource.id).where(Resource.name == "local"))
        user_id = await db.scalar(select(User.id).where(User.username == "alice"))
        assert resource_id is not None
        assert user_id is not None
        db.add(
            AppSession(
                id=session_id,
                user_id=user_id,
                resource_id=resource_id,
                template="jupyterlab",
                launcher="direct",
                title="Analysis",
                state=SessionState.STOPPED.value,
                sealed_token=b"",
            )
        )
        await db.flush()
        extension = SessionExtension(
            session_id=session_id, hours=100, reason="beam time", state=ExtensionState.PENDING.value
        )
        db.add(extension)
        await db.flush()
        extension_id = extension.id
    decided = await admin.post(
        f"/api/v1/session-extensions/{extension_id}",
        json={"grant": False, "answer": "Not this week."},
    )
    assert decided.status_code == 200, decided.text
    [note] = (await alice.get("/api/v1/notifications")).json()["notifications"]
    assert note["kind"] == "extension"
    assert note["title"] == "Your request for more time for Analysis was refused"
    assert "Not this week." in note["body"]
    assert note["subject"] == {"session": session_id}

    async def nothing_for_admin() -> bool:
        return (await admin.get("/api/v1/notifications")).json()["notifications"] == []

    assert await eventually(nothing_for_admin, what="no notification for the administrator")
