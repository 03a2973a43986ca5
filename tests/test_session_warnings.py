"""Lifetimes by role and the two warnings before a session is stopped (a day and an hour
before, ``app_warnings_minutes``): each sent once, in the workspace, as a notification
and by e-mail through a real SMTP server; activity starts them again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from labgate.db.engine import Database
from labgate.db.models import AppSession, Notification, Resource, Role, SessionState, User
from labgate.db.types import utcnow
from labgate.sessions.policy import policy_for, warning_due
from labgate.sessions.tokens import new_session_id
from labgate.settings import Settings
from labgate.state import AppState
from tests.support.accounts import AccountFactory
from tests.support.eventually import eventually
from tests.support.mail import MailServer

DAY = timedelta(days=1)


@pytest.fixture
def settings(settings: Settings, smtp: MailServer) -> Settings:
    return settings.model_copy(update={"smtp_host": smtp.host, "smtp_port": smtp.port})


def test_lifetimes_follow_the_role(settings: Settings) -> None:
    user, staff, admin, guest = (
        policy_for(role.value, settings) for role in (Role.USER, Role.STAFF, Role.ADMIN, Role.GUEST)
    )
    assert (user.max_hours, user.idle_minutes) == (14 * 24, 4 * 24 * 60)
    assert (staff.max_hours, staff.idle_minutes) == (60 * 24, 8 * 24 * 60)
    assert (admin.max_hours, admin.idle_minutes) == (staff.max_hours, staff.idle_minutes)
    assert (guest.max_hours, guest.idle_minutes) == (
        settings.app_guest_max_hours,
        settings.app_guest_idle_minutes,
    )
    assert user.warnings_minutes == (24 * 60, 60)
    changed = settings.model_copy(update={"app_staff_max_hours": 5, "app_staff_idle_minutes": 7})
    assert (policy_for("staff", changed).max_hours, policy_for("staff", changed).idle_minutes) == (
        5,
        7,
    )


def test_warnings_are_due_once_each_and_never_two_at_once() -> None:
    stop = datetime(2026, 12, 24, 12, 0)
    leads = (24 * 60, 60)
    assert warning_due(stop - 2 * DAY, stop, leads, 0) is None
    assert warning_due(stop - timedelta(hours=23), stop, leads, 0) == 0
    assert warning_due(stop - timedelta(hours=23), stop, leads, 1) is None
    assert warning_due(stop - timedelta(minutes=59), stop, leads, 1) == 1
    assert warning_due(stop - timedelta(minutes=59), stop, leads, 2) is None
    # A session shorter than the first lead (or a server that was down): the later only.
    assert warning_due(stop - timedelta(minutes=30), stop, leads, 0) == 1


def test_warnings_setting_is_checked(settings: Settings) -> None:
    assert Settings(app_warnings_minutes=[60, 1440, 60]).app_warnings_minutes == [1440, 60]
    with pytest.raises(ValueError, match="app_warnings_minutes"):
        Settings(app_warnings_minutes=[0])


async def running_row(database: Database, state: AppState, username: str, **values: Any) -> str:
    session_id = new_session_id()
    now = utcnow()
    async with database.session() as db:
        user_id = await db.scalar(select(User.id).where(User.username == username))
        resource_id = await db.scalar(select(Resource.id).where(Resource.name == "local"))
        assert user_id is not None
        assert resource_id is not None
        db.add(
            AppSession(
                id=session_id,
                user_id=user_id,
                resource_id=resource_id,
                template="jupyterlab",
                launcher="direct",
                title="Analysis",
                state=SessionState.RUNNING.value,
                sealed_token=state.session_tokens.seal(state.session_tokens.new(), session_id),
                created_at=now,
                ready_at=now,
                last_activity_at=now,
                **values,
            )
        )
    return session_id


async def warnings_of(database: Database, user_id: int) -> list[Notification]:
    async with database.read() as db:
        return list(
            await db.scalars(
                select(Notification)
                .where(Notification.user_id == user_id, Notification.kind == "session_warning")
                .order_by(Notification.id)
            )
        )


async def check_at(state: AppState, session_id: str, now: datetime) -> AppSession:
    snap = await state.lifecycle.snapshot(session_id)
    assert snap is not None
    await state.reconciler.enforce_limits(snap, now, snap.row.last_activity_at)
    after = await state.lifecycle.snapshot(session_id)
    assert after is not None
    return after.row


async def test_two_warnings_each_once_by_notification_and_mail(
    accounts: AccountFactory, state: AppState, database: Database, smtp: MailServer
) -> None:
    alice = await accounts.login("alice")
    assert (await alice.patch("/api/v1/users/me", json={"email": "alice@example.org"})).is_success
    session_id = await running_row(database, state, "alice", idle_minutes=4 * 24 * 60)
    start = utcnow()
    idle_end = start + timedelta(days=4)

    # Three days in: nothing yet.
    row = await check_at(state, session_id, idle_end - timedelta(hours=25))
    assert (row.warnings_sent, row.warned_at) == (0, None)
    # A day before: the first warning, and only once however often it is checked.
    for minutes in (0, 5, 10):
        row = await check_at(state, session_id, idle_end - timedelta(hours=23, minutes=minutes))
    assert row.warnings_sent == 1
    assert row.warned_at is not None
    assert "will be stopped in about 23 hours without activity" in row.progress[-1]
    first = await eventually(lambda: smtp_messages(smtp, "alice@example.org", 1), what="mail")
    assert "Analysis will be stopped soon" in first[0].subject
    assert "without activity" in first[0].body
    # An hour before: the second.
    for minutes in (0, 5):
        row = await check_at(state, session_id, idle_end - timedelta(minutes=59 - minutes))
    assert row.warnings_sent == 2
    await eventually(lambda: smtp_messages(smtp, "alice@example.org", 2), what="second mail")
    warnings = await warnings_of(database, alice.user["id"])
    assert [w.subject for w in warnings] == [{"session": session_id}] * 2
    assert len(smtp_messages(smtp, "alice@example.org", 2)) == 2

    # Activity moves the deadline: the warnings start again.
    await state.activity._write(session_id)
    async with database.read() as db:
        used = await db.get(AppSession, session_id)
    assert used is not None
    assert (used.warnings_sent, used.warned_at) == (0, None)


async def test_a_short_session_gets_the_later_warning_only(
    accounts: AccountFactory, state: AppState, database: Database, smtp: MailServer
) -> None:
    bob = await accounts.login("bob")
    ends = utcnow() + timedelta(minutes=45)
    session_id = await running_row(database, state, "bob", ends_at=ends)
    row = await check_at(state, session_id, utcnow())
    assert row.warnings_sent == 2
    assert "at the end of its time" in row.progress[-1]
    assert len(await warnings_of(database, bob.user["id"])) == 1
    # Activity does not move the end of its lifetime: the warning stands.
    await state.activity._write(session_id)
    assert (await check_at(state, session_id, utcnow())).warnings_sent == 2
    assert len(await warnings_of(database, bob.user["id"])) == 1


async def test_no_mail_without_an_address_or_when_not_wanted(
    accounts: AccountFactory, state: AppState, database: Database, smtp: MailServer
) -> None:
    carol = await accounts.login("carol")
    assert (await carol.patch("/api/v1/users/me", json={"email": "carol@example.org"})).is_success
    off = {"preferences": {"notifications.email.session_warning": False}}
    assert (await carol.patch("/api/v1/preferences", json=off)).status_code == 200
    session_id = await running_row(database, state, "carol", ends_at=utcnow() + timedelta(hours=2))
    await check_at(state, session_id, utcnow() + timedelta(hours=1, minutes=30))
    listed = (await carol.get("/api/v1/notifications")).json()
    assert [n["kind"] for n in listed["notifications"]] == ["session_warning"]
    await state.delivery.close()  # every delivery begun has ended
    state.delivery.start()
    assert smtp_messages(smtp, "carol@example.org", 0) == []


def smtp_messages(smtp: MailServer, to: str, at_least: int) -> list[Any]:
    found = [m for m in list(smtp.messages) if to in m.to]
    assert len(found) >= at_least, found
    return found
