"""Quotas (``labgate/quotas``) on SQLite and PostgreSQL, through the launch rules
(``sessions.service.launch``) with the app's own state: which limits apply, every limit
refusing with what would be exceeded, what is in use and when it frees up, launches at
once that cannot both take the last slot, and the warnings at 80% given once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.auth.principal import Principal
from labgate.db.engine import Database
from labgate.db.models import (
    AppSession,
    Experiment,
    ExperimentMember,
    Group,
    Membership,
    Notification,
    QuotaScope,
    Resource,
    ResourceKind,
    Role,
    SessionUsage,
    User,
)
from labgate.db.types import utcnow
from labgate.errors import QuotaExceeded
from labgate.quotas import editing, warnings
from labgate.quotas.limits import Limits, applicable
from labgate.sessions import service
from labgate.settings import Settings
from tests.support.accounts import AccountFactory
from tests.support.proxied import state_of

T = TypeVar("T")
WAITING = {"app_command": "sleep 300"}  # never launched: nothing commits a drive here
ADMIN = audit.Actor(None, "test")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"local_resource": "everyone", "app_max_sessions": 10, "app_reconcile_seconds": 3600}
    )


async def in_transaction(database: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with database.session() as db:
        return await work(db)


async def principal_of(
    accounts: AccountFactory, database: Database, username: str, role: Role = Role.USER
) -> Principal:
    await accounts.user(username, role=role)
    async with database.read() as db:
        user_id = await db.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    return Principal(user_id=user_id, username=username, role=role, via="session")


async def launch(
    app: Any,
    database: Database,
    owner: Principal,
    *,
    launcher: str = "direct",
    experiment_id: int | None = None,
    **form: Any,
) -> AppSession:
    async def work(db: AsyncSession) -> AppSession:
        resource_id = await db.scalar(
            select(Resource.id).where(Resource.kind == ResourceKind.LOCAL.value)
        )
        assert resource_id is not None
        return await service.launch(
            db,
            state_of(app),
            owner,
            template="webapp",
            launcher=launcher,
            resource_id=resource_id,
            title="",
            form={**WAITING, **form},
            experiment_id=experiment_id,
        )

    return await in_transaction(database, work)


async def refused(app: Any, database: Database, owner: Principal, **choice: Any) -> QuotaExceeded:
    with pytest.raises(QuotaExceeded) as caught:
        await launch(app, database, owner, **choice)
    return caught.value


async def set_quota(database: Database, scope: QuotaScope, subject: str, **limits: int) -> None:
    async def work(db: AsyncSession) -> None:
        await editing.set_quota(db, scope, subject, Limits(**limits), actor=ADMIN)

    await in_transaction(database, work)


async def group_of(database: Database, name: str, *members: Principal) -> int:
    async with database.session() as db:
        group = Group(name=name, memberships=[])
        db.add(group)
        await db.flush()
        for member in members:
            db.add(Membership(group_id=group.id, user_id=member.user_id))
        return group.id


async def experiment(database: Database, code: str, *members: Principal) -> int:
    """An experiment running now, with ``members`` (sessions for it need membership)."""
    async with database.session() as db:
        row = Experiment(code=code, title="Magnetic order")
        db.add(row)
        await db.flush()
        for member in members:
            db.add(
                ExperimentMember(
                    experiment_id=row.id, user_id=member.user_id, username=member.username
                )
            )
        return row.id


async def usage_rows(database: Database) -> list[SessionUsage]:
    async with database.read() as db:
        return list(await db.scalars(select(SessionUsage).order_by(SessionUsage.started_at)))


# -- which limits apply ------------------------------------------------------------------------


async def test_a_roles_settings_unless_a_quota_replaces_them_then_groups_and_experiment(
    app: Any, accounts: AccountFactory, database: Database, settings: Settings
) -> None:
    alice = await principal_of(accounts, database, "alice")
    physics = await group_of(database, "physics", alice)
    await group_of(database, "chemistry", alice)  # no quota: nothing to fit in
    magnets = await experiment(database, "12-34")
    await set_quota(database, QuotaScope.GROUP, str(physics), max_gpus=4)
    await set_quota(database, QuotaScope.EXPERIMENT, str(magnets), core_hours_per_month=50)

    async def found(role: str, experiment_id: int | None) -> list[tuple[str, str, Limits]]:
        async with database.read() as db:
            scopes = await applicable(db, settings, alice.user_id, role, experiment_id)
        return [(s.title, s.whose, s.limits) for s in scopes]

    user_defaults = Limits(10, 32, 128, 2, 2000, 200)
    assert await found("user", None) == [
        ("Role user", "your role's", user_defaults),
        ("Group physics", "group physics'", Limits(max_gpus=4)),
    ]
    assert (await found("guest", magnets))[::2] == [
        ("Role guest", "your role's", Limits(2, 4, 16, 0, 100, 0)),
        ("Experiment 12-34", "experiment 12-34's", Limits(core_hours_per_month=50)),
    ]
    assert (await found("admin", None))[0][2] == Limits(max_sessions=10)

    await set_quota(database, QuotaScope.ROLE, "user", max_cores=3)
    assert (await found("user", None))[0][2] == Limits(max_cores=3)


# -- every limit refuses, saying what, what is in use and when it frees up --------------------


async def test_sessions_at_once_name_the_first_to_end(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    await set_quota(database, QuotaScope.ROLE, "user", max_sessions=2)
    first = await launch(app, database, alice)
    await launch(app, database, alice)

    error = await refused(app, database, alice)

    assert first.ends_at is not None
    assert error.message == (
        "Your role's limit of 2 sessions at once would be exceeded: 2 of 2 sessions in use. "
        f'It frees up when "Web app on local" ends, at {first.ends_at:%Y-%m-%d %H:%M} UTC; '
        "stop a session to launch sooner."
    )
    assert (error.status, error.code) == (409, "quota_exceeded")
    assert error.extra["quota"] == {
        "scope": "role",
        "subject": "user",
        "title": "Role user",
        "limit": "max_sessions",
        "allowed": 2,
        "in_use": 2,
        "asked": 1,
        "sessions": 2,
        "frees_at": first.ends_at.isoformat(),
        "frees_with": {"id": first.id, "title": "Web app on local"},
    }
    assert len(await usage_rows(database)) == 2  # the refusal left nothing


@pytest.mark.parametrize(
    ("limits", "held", "asked", "message"),
    [
        (
            {"max_cores": 4},
            [{"cpus": 3}],
            {"cpus": 2},
            "Your role's limit of 4 CPU cores at once would be exceeded: 3 of 4 CPU cores in "
            "use by 1 session, and this launch asks for 2.",
        ),
        (
            {"max_memory_gb": 16},
            [{"memory_gb": 8}, {"memory_gb": 8}],
            {"memory_gb": 1},
            "Your role's limit of 16 GB of memory at once would be exceeded: 16 of 16 GB of "
            "memory in use by 2 sessions, and this launch asks for 1.",
        ),
        (
            {"max_gpus": 4},
            [{"gpus": 2}, {"gpus": 2}, {"gpus": 0}],
            {"gpus": 1},
            "Your role's limit of 4 GPUs at once would be exceeded: 4 of 4 GPUs in use by 2 "
            "sessions, and this launch asks for 1.",
        ),
        (
            {"max_gpus": 1},
            [],
            {"gpus": 2},
            "Your role's limit of 1 GPU at once would be exceeded: 0 of 1 GPUs in use, and "
            "this launch asks for 2. This launch alone asks for more than that: ask for less.",
        ),
    ],
)
async def test_cores_memory_and_gpus_of_batch_jobs_count_against_their_limits(
    app: Any,
    accounts: AccountFactory,
    database: Database,
    limits: dict[str, int],
    held: list[dict[str, int]],
    asked: dict[str, int],
    message: str,
) -> None:
    alice = await principal_of(accounts, database, "alice")
    await set_quota(database, QuotaScope.ROLE, "user", **limits)
    for form in held:
        await launch(app, database, alice, launcher="slurm", **form)

    error = await refused(app, database, alice, launcher="slurm", **asked)

    assert error.message.startswith(message)
    ends = [s for s in await usage_rows(database)]
    assert len(ends) == len(held)


async def test_a_direct_launch_counts_the_direct_cores_and_no_gpus(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    state_of(app).settings.quota_direct_cores = 2
    await set_quota(database, QuotaScope.ROLE, "user", max_cores=5, max_gpus=0)

    await launch(app, database, alice)
    await launch(app, database, alice)
    error = await refused(app, database, alice)

    assert "4 of 5 CPU cores in use by 2 sessions, and this launch asks for 2" in error.message
    assert [(u.cores, u.memory_gb, u.gpus) for u in await usage_rows(database)] == [(2, 0, 0)] * 2


async def test_monthly_hours_used_up_free_up_at_the_start_of_next_month(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    await set_quota(database, QuotaScope.ROLE, "user", core_hours_per_month=10)
    now = utcnow()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    async with database.session() as db:  # a million cores since the month began
        db.add(
            SessionUsage(
                session_id="old", user_id=alice.user_id, cores=10**6, started_at=start, ended_at=now
            )
        )

    error = await refused(app, database, alice)

    following = (start + timedelta(days=32)).replace(day=1)
    assert error.message.startswith("Your role's limit of 10 core-hours a month is used up: ")
    assert f"core-hours used in {now:%B %Y}. It frees up at the start of next month, " in (
        error.message
    )
    assert error.message.endswith(f"{following:%Y-%m-%d} 00:00 UTC.")
    assert error.extra["quota"]["frees_at"] == following.isoformat()


async def test_a_groups_limit_counts_its_members_together(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    bob = await principal_of(accounts, database, "bob")
    physics = await group_of(database, "physics", alice, bob)
    await set_quota(database, QuotaScope.GROUP, str(physics), max_gpus=3)
    await launch(app, database, alice, launcher="slurm", gpus=2)

    error = await refused(app, database, bob, launcher="slurm", gpus=2)

    assert error.message.startswith(
        "Group physics' limit of 3 GPUs at once would be exceeded: 2 of 3 GPUs in use by 1 "
        "session, and this launch asks for 2."
    )
    # Alice's session is hers: Bob hears when the GPUs free up, not what holds them.
    assert "It frees up when one of those sessions ends, at " in error.message
    assert "Web app" not in error.message
    assert error.extra["quota"]["frees_with"] is None
    await launch(app, database, bob, launcher="slurm", gpus=1)  # what is left


async def test_an_experiments_limit_counts_its_sessions_and_no_others(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    bob = await principal_of(accounts, database, "bob")
    magnets = await experiment(database, "12-34", alice, bob)
    await set_quota(database, QuotaScope.EXPERIMENT, str(magnets), max_sessions=1)
    await launch(app, database, alice, experiment_id=magnets)

    error = await refused(app, database, bob, experiment_id=magnets)

    assert error.message.startswith(
        "Experiment 12-34's limit of 1 session at once would be exceeded: 1 of 1 sessions in use."
    )
    await launch(app, database, bob)  # not for the experiment: its quota does not count
    (first, second) = await usage_rows(database)
    assert (first.experiment_id, second.experiment_id) == (magnets, None)


async def test_launches_at_once_cannot_both_take_a_groups_last_slot(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    """Different users, so each has their own turn: the group's quota is what makes them
    wait for each other (an advisory lock on PostgreSQL)."""
    people = [await principal_of(accounts, database, f"user{i}") for i in range(6)]
    physics = await group_of(database, "physics", *people)
    await set_quota(database, QuotaScope.GROUP, str(physics), max_sessions=3)
    await launch(app, database, people[0])
    await launch(app, database, people[1])

    results = await asyncio.gather(
        *(launch(app, database, p) for p in people), return_exceptions=True
    )

    passed = [r for r in results if isinstance(r, AppSession)]
    assert len(passed) == 1
    assert all(isinstance(r, QuotaExceeded) for r in results if r not in passed)
    assert len(await usage_rows(database)) == 3


# -- warnings at 80% ---------------------------------------------------------------------------

NOW = datetime(2030, 3, 15, 12, 0, tzinfo=UTC)


async def quota_notifications(database: Database, user_id: int) -> list[Notification]:
    async with database.read() as db:
        return list(
            await db.scalars(
                select(Notification).where(
                    Notification.user_id == user_id, Notification.kind == "quota"
                )
            )
        )


async def test_hours_past_80_percent_are_told_once_a_month_per_quota(
    app: Any, accounts: AccountFactory, database: Database, settings: Settings
) -> None:
    alice = await principal_of(accounts, database, "alice")
    bob = await principal_of(accounts, database, "bob")  # in the group, no sessions
    physics = await group_of(database, "physics", alice, bob)
    await set_quota(database, QuotaScope.ROLE, "user", core_hours_per_month=100)
    await set_quota(database, QuotaScope.GROUP, str(physics), gpu_hours_per_month=10)
    async with database.session() as db:
        # 85 core-hours and 8.5 GPU-hours in March; the hours of February do not count.
        db.add_all(
            [
                SessionUsage(
                    session_id="a",
                    user_id=alice.user_id,
                    cores=85,
                    gpus=1,
                    started_at=NOW - timedelta(hours=1),
                    ended_at=NOW,
                ),
                SessionUsage(
                    session_id="b",
                    user_id=alice.user_id,
                    cores=0,
                    gpus=15,
                    started_at=NOW - timedelta(hours=30),
                    ended_at=NOW - timedelta(hours=29.5),
                ),
                SessionUsage(
                    session_id="c",
                    user_id=alice.user_id,
                    cores=1000,
                    gpus=1000,
                    started_at=datetime(2030, 2, 1, tzinfo=UTC),
                    ended_at=datetime(2030, 2, 28, tzinfo=UTC),
                ),
            ]
        )

    async def periodic_pass(now: datetime) -> int:
        async with database.session() as db:
            return await warnings.warn_everyone(db, settings, now)

    assert await periodic_pass(NOW) == 3  # alice: role and group; bob: group
    assert await periodic_pass(NOW + timedelta(hours=1)) == 0
    told = sorted(
        (n.title, n.subject["hours"]) for n in await quota_notifications(database, alice.user_id)
    )
    assert told == [
        ("Group physics' GPU-hours are 85% used this month", "gpu"),
        ("Your role's core-hours are 85% used this month", "core"),
    ]
    (bobs,) = await quota_notifications(database, bob.user_id)
    assert bobs.body.startswith("8 of 10 GPU-hours are used in March 2030.")
    assert bobs.subject == {
        "scope": "group",
        "subject": str(physics),
        "hours": "gpu",
        "month": "2030-03",
        "quota": "Group physics",
    }


async def test_a_launch_tells_of_hours_nearly_used_up_once(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    await set_quota(database, QuotaScope.ROLE, "user", core_hours_per_month=100)
    now = utcnow()
    started = max(now - timedelta(hours=1), now.replace(day=1, hour=0, minute=0, second=0))
    hours = (now - started).total_seconds() / 3600
    async with database.session() as db:  # about 90 core-hours this month, ended
        db.add(
            SessionUsage(
                session_id="old",
                user_id=alice.user_id,
                cores=round(90 / hours),
                started_at=started,
                ended_at=now,
            )
        )

    await launch(app, database, alice)
    await launch(app, database, alice)

    (told,) = await quota_notifications(database, alice.user_id)
    assert told.title in {f"Your role's core-hours are {n}% used this month" for n in (89, 90)}
    assert told.subject["month"] == f"{now:%Y-%m}"


async def test_gpu_hours_used_up_refuse_only_launches_asking_for_gpus(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await principal_of(accounts, database, "alice")
    await set_quota(database, QuotaScope.ROLE, "user", gpu_hours_per_month=5)
    now = utcnow()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    async with database.session() as db:  # a million GPUs since the month began
        db.add(
            SessionUsage(
                session_id="old", user_id=alice.user_id, gpus=10**6, started_at=start, ended_at=now
            )
        )

    error = await refused(app, database, alice, launcher="slurm", gpus=1)

    assert error.message.startswith("Your role's limit of 5 GPU-hours a month is used up: ")
    assert error.extra["quota"]["limit"] == "gpu_hours_per_month"
    await launch(app, database, alice, launcher="slurm", gpus=0)  # no GPUs: it fits
