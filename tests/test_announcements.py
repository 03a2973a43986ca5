"""Announcements: administrators schedule them (validated, audited), every logged-in
user reads the current ones, every tab is told when they change or a scheduled one's
start comes, and each is sent out once (notifications, and e-mail when asked), even by
two replicas at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from labgate.db.engine import Database
from labgate.db.models import Announcement, AuditEvent, Notification, Role
from labgate.db.types import utcnow
from labgate.notifications.announcements import EVERYONE, Announcer
from labgate.settings import Settings
from labgate.state import AppState
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.eventually import PATIENCE_SECONDS
from tests.support.mail import MailServer


@pytest.fixture
def settings(settings: Settings, smtp: MailServer) -> Settings:
    return settings.model_copy(
        update={"smtp_host": smtp.host, "smtp_port": smtp.port, "announcement_check_seconds": 3600}
    )


@pytest.fixture
async def admin(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("root", role=Role.ADMIN)


def at(delta: timedelta) -> str:
    return (utcnow() + delta).isoformat()


async def count(database: Database, model: Any) -> int:
    async with database.read() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_bad_announcements_are_refused_and_nothing_is_written(
    admin: LoggedIn, accounts: AccountFactory, database: Database
) -> None:
    hour = timedelta(hours=1)
    good = {"text": "Maintenance tonight", "ends_at": at(hour)}
    for bad, field in (
        ({**good, "starts_at": at(2 * hour)}, "body.ends_at"),  # ends before it starts
        ({**good, "ends_at": at(-hour), "starts_at": at(-2 * hour)}, "body.ends_at"),  # past
        ({**good, "text": "   "}, "body.text"),
        ({**good, "text": "x" * 2001}, "body.text"),
        ({**good, "severity": "fatal"}, "body.severity"),
        ({**good, "ends_at": "2999-01-01T00:00:00"}, "body.ends_at"),  # no time zone
        ({**good, "colour": "red"}, "body.colour"),
        ({"text": "no end"}, "body.ends_at"),
    ):
        refused = await admin.post("/api/v1/announcements", json=bad)
        assert refused.status_code == 422, bad
        assert field in [d["field"] for d in refused.json()["error"]["details"]], refused.text
    assert await count(database, Announcement) == 0
    alice = await accounts.login("alice")
    assert (await alice.post("/api/v1/announcements", json=good)).status_code == 403
    assert (await alice.get("/api/v1/announcements")).status_code == 403


async def test_schedule_show_change_and_delete(
    admin: LoggedIn, accounts: AccountFactory, state: AppState, database: Database
) -> None:
    alice = await accounts.login("alice")
    with state.announcements.subscribe(EVERYONE) as tabs:
        now = await admin.post(
            "/api/v1/announcements",
            json={"text": "Beam down", "severity": "critical", "ends_at": at(timedelta(hours=2))},
        )
        assert now.status_code == 201, now.text
        assert now.json()["status"] == "current"
        assert now.json()["created_by"] == "root"
        await asyncio.wait_for(tabs.get(), PATIENCE_SECONDS)  # told at once
        later = await admin.post(
            "/api/v1/announcements",
            json={
                "text": "Upgrade on Friday",
                "starts_at": at(timedelta(days=1)),
                "ends_at": at(timedelta(days=2)),
                "email": True,
            },
        )
        assert later.json()["status"] == "scheduled"
        current = (await alice.get("/api/v1/announcements/current")).json()["announcements"]
        assert [(a["text"], a["severity"]) for a in current] == [("Beam down", "critical")]
        listed = (await admin.get("/api/v1/announcements")).json()["announcements"]
        assert [a["text"] for a in listed] == ["Upgrade on Friday", "Beam down"]

        changed = await admin.patch(
            f"/api/v1/announcements/{now.json()['id']}", json={"text": "Beam back at 6"}
        )
        assert changed.json()["text"] == "Beam back at 6"
        bad = await admin.patch(
            f"/api/v1/announcements/{now.json()['id']}", json={"ends_at": at(-timedelta(days=1))}
        )
        assert bad.status_code == 422
        assert (await admin.patch("/api/v1/announcements/999999", json={})).status_code == 404

        while not tabs.empty():
            tabs.get_nowait()
        gone = await admin.delete(f"/api/v1/announcements/{now.json()['id']}")
        assert gone.status_code == 204
        await asyncio.wait_for(tabs.get(), PATIENCE_SECONDS)
    assert (await alice.get("/api/v1/announcements/current")).json()["announcements"] == []
    async with database.read() as db:
        events = list(await db.scalars(select(AuditEvent.event).order_by(AuditEvent.id)))
    assert [e for e in events if e.startswith("announcement")] == [
        "announcement_created",
        "announcement_created",
        "announcement_changed",
        "announcement_deleted",
    ]


async def test_sent_out_once_at_its_start_by_either_of_two_replicas(
    admin: LoggedIn,
    accounts: AccountFactory,
    state: AppState,
    database: Database,
    settings: Settings,
    smtp: MailServer,
) -> None:
    alice = await accounts.login("alice")
    assert (await alice.patch("/api/v1/users/me", json={"email": "alice@example.org"})).is_success
    await accounts.login("bob")  # no address: a notification only
    scheduled = await admin.post(
        "/api/v1/announcements",
        json={
            "text": "Upgrade on Friday\nlabgate is down 8-9.",
            "starts_at": at(timedelta(days=1)),
            "ends_at": at(timedelta(days=2)),
            "email": True,
        },
    )
    announcement_id = scheduled.json()["id"]
    mailed: list[str] = []

    async def keep(to: str, subject: str, text: str) -> bool:
        mailed.append(to)
        return True

    replicas = [Announcer(database, settings, lambda: None, keep) for _ in range(2)]
    for replica in replicas:
        await replica.check_once()
    assert await count(database, Notification) == 0  # not before its start

    with state.announcements.subscribe(EVERYONE) as tabs:
        async with database.session() as db:  # its start has come
            await db.execute(
                update(Announcement)
                .where(Announcement.id == announcement_id)
                .values(starts_at=utcnow() - timedelta(seconds=1))
            )
        await asyncio.gather(*(replica.check_once() for replica in replicas))
        await state.announcer.check_once()  # this replica's tabs are told
        await asyncio.wait_for(tabs.get(), PATIENCE_SECONDS)
    assert mailed == ["alice@example.org"]
    async with database.read() as db:
        notes = list(await db.scalars(select(Notification)))
    assert len(notes) == 3  # root, alice and bob, once each
    assert {n.kind for n in notes} == {"announcement"}
    assert {n.title for n in notes} == {"Upgrade on Friday"}
    listed = (await admin.get(f"/api/v1/announcements/{announcement_id}")).json()
    assert listed["emailed_at"] is not None
    assert listed["status"] == "current"
    # Later rounds send nothing again.
    for replica in replicas:
        await replica.check_once()
    assert mailed == ["alice@example.org"]
    assert await count(database, Notification) == 3
    assert smtp.messages == []  # the replicas above mailed through `keep`
