"""The rules of sessions (``sessions/service.py``) called directly: when a session ends,
what more time does to it, and, on SQLite and PostgreSQL with the app's own state, the
user's turn for the limit on live sessions, the waiting room for more time, a decision
made once, who finds and stops a session. (Over HTTP: ``test_sessions_races.py``,
``test_user_caps.py``, ``e2e/test_sessions_direct.py``.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.principal import Principal
from labgate.db.engine import Database
from labgate.db.models import (
    LIVE_SESSION_STATES,
    AppSession,
    Resource,
    ResourceKind,
    Role,
    SessionState,
    User,
)
from labgate.errors import Conflict, LimitReached, NotFound, QuotaExceeded, ValidationFailed
from labgate.plugins.manager import Plugins
from labgate.sessions import service
from labgate.settings import Settings
from tests.support.accounts import AccountFactory
from tests.support.proxied import state_of

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
#: The launchers as labgate's own plug-ins give them (direct; slurm, which batches).
LAUNCHERS = Plugins.load(Settings(), entry_points=False).launchers()
WAITING = {"app_command": "sleep 300"}  # never launched here: nothing commits a drive

T = TypeVar("T")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "local_resource": "everyone",
            "app_max_hours": 12,
            "app_max_sessions": 1,
            "app_extension_hours": 4,
            "app_auto_extensions": 1,
            "app_max_pending_extensions": 1,
            # The sessions stay pending: no reconciliation takes them over meanwhile.
            "app_reconcile_seconds": 3600,
        }
    )


# -- when a session ends, and what more time does ------------------------------------------


@pytest.mark.parametrize(
    ("max_hours", "batch_form", "ends"),
    [
        (12, None, NOW + timedelta(hours=12)),
        (12, {"walltime_minutes": 30}, NOW + timedelta(minutes=30)),
        (1, {"walltime_minutes": 300}, NOW + timedelta(hours=1)),
        (0, None, None),
        (0, {"walltime_minutes": 30}, NOW + timedelta(minutes=30)),
        (12, {}, NOW + timedelta(hours=1)),  # a job's time limit is an hour unless asked
    ],
)
def test_a_session_ends_with_its_lifetime_or_its_jobs_time_limit_whichever_comes_first(
    max_hours: int, batch_form: dict[str, Any] | None, ends: datetime | None
) -> None:
    assert service.ends_at(NOW, max_hours, batch_form) == ends


def a_session(launcher: str, ends_at: datetime | None) -> AppSession:
    return AppSession(
        id="s",
        launcher=launcher,
        ends_at=ends_at,
        last_activity_at=NOW - timedelta(hours=3),
        warned_at=NOW - timedelta(minutes=5),
    )


@pytest.mark.parametrize(
    ("ends_at", "moved_to"),
    [
        (NOW + timedelta(hours=1), NOW + timedelta(hours=3)),  # from its end
        (NOW - timedelta(hours=1), NOW + timedelta(hours=2)),  # overdue: from now
        (None, None),  # without an end it gets none
    ],
)
def test_more_time_restarts_the_idle_clock_and_moves_the_end(
    ends_at: datetime | None, moved_to: datetime | None
) -> None:
    row = a_session("direct", ends_at)

    service.grant(row, 2, NOW, LAUNCHERS)

    assert (row.ends_at, row.last_activity_at, row.warned_at) == (moved_to, NOW, None)


def test_more_time_for_a_batch_job_keeps_its_time_limit() -> None:
    row = a_session("slurm", NOW + timedelta(minutes=10))

    service.grant(row, 2, NOW, LAUNCHERS)

    assert (row.ends_at, row.last_activity_at, row.warned_at) == (
        NOW + timedelta(minutes=10),
        NOW,
        None,
    )


# -- with the database and the app's state -------------------------------------------------


async def principal_of(
    accounts: AccountFactory, database: Database, username: str, role: Role = Role.USER
) -> Principal:
    await accounts.user(username, role=role)
    async with database.read() as db:
        user_id = await db.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    return Principal(user_id=user_id, username=username, role=role, via="session")


async def in_transaction(database: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in a transaction of its own, committed if it returns."""
    async with database.session() as db:
        return await work(db)


async def local_resource(database: Database) -> int:
    async with database.read() as db:
        found = await db.scalar(
            select(Resource.id).where(Resource.kind == ResourceKind.LOCAL.value)
        )
    assert found is not None
    return found


async def launched(app: Any, database: Database, owner: Principal, **choice: Any) -> AppSession:
    resource_id = await local_resource(database)
    chosen: dict[str, Any] = {"template": "webapp", "launcher": "direct", "form": WAITING}
    chosen.update(choice)

    async def launch(db: AsyncSession) -> AppSession:
        return await service.launch(
            db, state_of(app), owner, resource_id=resource_id, title="", **chosen
        )

    return await in_transaction(database, launch)


class Asked(NamedTuple):
    extension_id: int
    state: str
    ends_at: datetime | None


async def ask_more_time(
    database: Database,
    settings: Settings,
    owner: Principal,
    session_id: str,
    hours: int,
    reason: str = "",
) -> Asked:
    """``owner`` asks for ``hours`` more, in a transaction of its own: the request, its
    state, and the session's end after it."""

    async def ask(db: AsyncSession) -> Asked:
        session = await db.get(AppSession, session_id)
        assert session is not None
        extension = await service.extend(
            db, settings, owner, session, hours=hours, reason=reason, launchers=LAUNCHERS
        )
        return Asked(extension.id, extension.state, session.ends_at)

    return await in_transaction(database, ask)


async def grant(
    database: Database, settings: Settings, admin: Principal, extension_id: int
) -> tuple[str, datetime | None]:
    """``admin`` grants the request, in a transaction of its own: its state and the
    session's end after it."""

    async def decide(db: AsyncSession) -> tuple[str, datetime | None]:
        decision = await service.decide(
            db, settings, admin, extension_id, granted=True, launchers=LAUNCHERS
        )
        assert decision.session is not None
        return decision.extension.state, decision.session.ends_at

    return await in_transaction(database, decide)


async def live_sessions(database: Database, user_id: int) -> list[AppSession]:
    async with database.read() as db:
        query = select(AppSession).where(
            AppSession.user_id == user_id, AppSession.state.in_(LIVE_SESSION_STATES)
        )
        return list(await db.scalars(query))


async def test_a_launch_is_pending_titled_and_ends_with_the_policys_lifetime(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")

    row = await launched(app, database, alice)

    (stored,) = await live_sessions(database, alice.user_id)
    assert (stored.id, stored.state, stored.title) == (row.id, "pending", "Web app on local")
    assert stored.ends_at is not None
    assert stored.ends_at - stored.created_at == timedelta(hours=12)


async def test_a_default_title_is_numbered_while_one_of_that_title_is_live(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    """Two sessions of one template on one resource open at once are two tabs: their
    default titles differ. A title the user gave is theirs, and a number is free again
    once its session ended."""
    alice = await principal_of(accounts, database, "alice")
    bob = await principal_of(accounts, database, "bob")
    state_of(app).settings.app_max_sessions = 5

    first = await launched(app, database, alice)
    second = await launched(app, database, alice)
    third = await launched(app, database, alice)
    bobs = await launched(app, database, bob)
    assert [first.title, second.title, third.title] == [
        "Web app on local",
        "Web app on local (2)",
        "Web app on local (3)",
    ]
    assert bobs.title == "Web app on local"

    async def end_second(db: AsyncSession) -> None:
        row = await db.get(AppSession, second.id)
        assert row is not None
        row.state = "stopped"

    await in_transaction(database, end_second)
    again = await launched(app, database, alice)
    assert again.title == "Web app on local (2)"

    async def named(db: AsyncSession) -> AppSession:
        return await service.launch(
            db,
            state_of(app),
            alice,
            resource_id=await local_resource(database),
            title="Web app on local",
            template="webapp",
            launcher="direct",
            form=WAITING,
        )

    assert (await in_transaction(database, named)).title == "Web app on local"


async def test_a_batch_launch_ends_with_its_jobs_time_limit(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")

    await launched(app, database, alice, launcher="slurm", form={**WAITING, "walltime_minutes": 30})

    (stored,) = await live_sessions(database, alice.user_id)
    assert stored.ends_at is not None
    assert stored.ends_at - stored.created_at == timedelta(minutes=30)


async def test_an_unknown_launcher_is_refused_naming_those_there_are(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")

    with pytest.raises(ValidationFailed) as refused:
        await launched(app, database, alice, launcher="condor")

    assert [(d.field, d.message) for d in refused.value.details] == [
        ("body.launcher", "one of direct, slurm")
    ]
    assert await live_sessions(database, alice.user_id) == []


async def test_launches_at_the_same_time_take_turns_for_the_users_limit(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")  # app_max_sessions = 1

    results = await asyncio.gather(
        *(launched(app, database, alice) for _ in range(6)), return_exceptions=True
    )

    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 5
    assert all(isinstance(r, QuotaExceeded) and "1 of 1 sessions in use" in str(r) for r in refused)
    assert len(await live_sessions(database, alice.user_id)) == 1


async def test_more_time_is_granted_within_the_policy_then_waits_then_is_refused(
    app: Any, accounts: AccountFactory, database: Database, settings: Settings
) -> None:
    alice = await principal_of(accounts, database, "alice")
    row = await launched(app, database, alice)

    async def extend(hours: int) -> tuple[str, datetime | None]:
        asked = await ask_more_time(database, settings, alice, row.id, hours)
        return asked.state, asked.ends_at

    assert row.ends_at is not None
    # app_extension_hours = 4: five hours wait for an administrator, one is granted.
    assert await extend(5) == ("pending", row.ends_at)
    assert await extend(1) == ("granted", row.ends_at + timedelta(hours=1))
    with pytest.raises(LimitReached) as refused:  # app_max_pending_extensions = 1
        await extend(1)
    assert refused.value.code == "too_many_extension_requests"


async def test_a_request_is_decided_once_and_a_grant_moves_the_end(
    app: Any, accounts: AccountFactory, database: Database, settings: Settings
) -> None:
    alice = await principal_of(accounts, database, "alice")
    root = await principal_of(accounts, database, "root", Role.ADMIN)
    row = await launched(app, database, alice)

    asked = await ask_more_time(database, settings, alice, row.id, 20, reason="a scan")
    assert row.ends_at is not None
    decided = await grant(database, settings, root, asked.extension_id)
    assert decided == ("granted", row.ends_at + timedelta(hours=20))
    with pytest.raises(Conflict, match="This request was granted already"):
        await grant(database, settings, root, asked.extension_id)


async def test_a_grant_for_an_ended_session_moves_nothing(
    app: Any, accounts: AccountFactory, database: Database, settings: Settings
) -> None:
    alice = await principal_of(accounts, database, "alice")
    root = await principal_of(accounts, database, "root", Role.ADMIN)
    row = await launched(app, database, alice)

    asked = await ask_more_time(database, settings, alice, row.id, 20)
    async with database.session() as db:
        await db.execute(
            update(AppSession)
            .where(AppSession.id == row.id)
            .values(state=SessionState.STOPPED.value)
        )

    assert await grant(database, settings, root, asked.extension_id) == ("granted", row.ends_at)


async def test_a_session_is_found_by_its_owner_and_administrators_only(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    bob = await principal_of(accounts, database, "bob")
    root = await principal_of(accounts, database, "root", Role.ADMIN)
    row = await launched(app, database, alice)

    async with database.read() as db:
        assert (await service.find(db, alice, row.id)).id == row.id
        assert (await service.find(db, root, row.id)).id == row.id
        with pytest.raises(NotFound):
            await service.find(db, bob, row.id)


async def test_stopping_names_who_stopped_and_leaves_an_ended_session_alone(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    root = await principal_of(accounts, database, "root", Role.ADMIN)
    row = await launched(app, database, alice)

    assert service.stop(alice, a_session_in(row, "running")) == "stopped by you"
    stopped = a_session_in(row, "running")
    assert service.stop(root, stopped) == "stopped by administrator root"
    assert (stopped.state, stopped.message) == ("stopping", "stopped by administrator root")
    ended = a_session_in(row, "failed")
    assert service.stop(root, ended) is None
    assert (ended.state, ended.message) == ("failed", "")


def a_session_in(row: AppSession, state: str) -> AppSession:
    return AppSession(id=row.id, user_id=row.user_id, state=state, message="")


async def test_only_an_ended_session_is_forgotten(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    row = await launched(app, database, alice)

    async def forget(db: AsyncSession) -> None:
        session = await db.get(AppSession, row.id)
        assert session is not None
        await service.forget(db, session)

    with pytest.raises(Conflict, match="still live"):
        await in_transaction(database, forget)
    async with database.session() as db:
        await db.execute(update(AppSession).where(AppSession.id == row.id).values(state="stopped"))
    await in_transaction(database, forget)
    async with database.read() as db:
        assert await db.get(AppSession, row.id) is None
