"""The rules for saving and removing a resource (``resources/editing.py``) called
directly: what an own resource must and may not say, the hosts its owner may name (by
address, so nothing is looked up), and removing one that only ended sessions used, on
SQLite and PostgreSQL. (Over HTTP: ``test_resources_api.py``, ``test_destinations.py``,
``test_access_lost.py``.)"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from labgate import audit
from labgate.db.engine import Database
from labgate.db.models import AppSession, Resource, Role, SessionState, User
from labgate.destinations import HostNotAllowed
from labgate.errors import BadRequest, Conflict
from labgate.resources import catalog, editing
from labgate.resources.catalog import HopFields
from labgate.sessions.tokens import new_session_id
from labgate.settings import Settings
from tests.support.accounts import AccountFactory
from tests.support.eventually import eventually
from tests.support.proxied import state_of


@pytest.mark.parametrize(
    ("given", "username", "refusal"),
    [
        ({"name", "host", "groups"}, "alice", "groups is for shared resources only."),
        ({"account_overrides", "account_rule"}, "alice", "account_rule is for shared"),
        ({"name", "host"}, "", "The remote user name is required."),
    ],
)
def test_an_own_resource_names_its_user_and_nothing_only_shared_ones_have(
    given: set[str], username: str, refusal: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        editing.check_own(given, username)

    assert str(refused.value).startswith(refusal)


def test_an_own_resource_with_its_user_passes() -> None:
    editing.check_own({"name", "host", "username", "hops"}, "alice")


def denying_loopback(settings: Settings) -> Settings:
    return settings.model_copy(update={"resource_hosts_denied": ["loopback"]})


async def test_every_host_a_user_may_not_use_is_named_by_its_field(settings: Settings) -> None:
    hops = [HopFields("192.0.2.1", 22, "", "password"), HopFields("127.0.0.1", 2222, "", "key")]

    with pytest.raises(HostNotAllowed) as refused:
        await editing.check_hosts(denying_loopback(settings), Role.USER, "127.0.0.2", None, hops)

    assert [d.field for d in refused.value.details] == ["body.host", "body.hops.1.host"]


async def test_hosts_left_unchanged_and_administrators_hosts_are_not_checked(
    settings: Settings,
) -> None:
    denying = denying_loopback(settings)

    await editing.check_hosts(denying, Role.USER, None, None, None)
    await editing.check_hosts(
        denying, Role.ADMIN, "127.0.0.1", 22, [HopFields("127.0.0.1", 22, "", "key")]
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Nothing here launches a session: no reconciliation looks at them meanwhile.
    return settings.model_copy(update={"app_reconcile_seconds": 3600})


async def own_resource(database: Database, owner: str) -> tuple[int, int]:
    """``owner``'s resource and their id."""
    async with database.session() as db:
        user_id = await db.scalar(select(User.id).where(User.username == owner))
        assert user_id is not None
        resource = await catalog.create_resource(
            db,
            owner_id=user_id,
            fields={"name": "hpc", "host": "192.0.2.10", "username": owner},
            hops=[],
            groups=[],
            actor=audit.SYSTEM,
        )
        await db.flush()
        return resource.id, user_id


async def session_on(database: Database, resource_id: int, user_id: int, state: str) -> str:
    """A session of ``user_id`` there in ``state`` without an app (nothing to end); its id."""
    session_id = new_session_id()
    async with database.session() as db:
        db.add(
            AppSession(
                id=session_id,
                user_id=user_id,
                resource_id=resource_id,
                template="webapp",
                launcher="direct",
                title="",
                form={},
                state=state,
                sealed_token=b"",
                lease_owner="",
            )
        )
    return session_id


async def remove(app: Any, database: Database, resource_id: int) -> None:
    async with database.session() as db:
        resource = await db.get(Resource, resource_id)
        assert resource is not None
        await editing.remove(db, resource, actor=audit.SYSTEM, sessions=state_of(app).lifecycle)


async def test_a_resource_only_ended_sessions_used_is_removed(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    await accounts.user("alice")
    resource_id, alice = await own_resource(database, "alice")
    for ended in (SessionState.STOPPED, SessionState.FAILED, SessionState.EXPIRED):
        await session_on(database, resource_id, alice, ended.value)

    await remove(app, database, resource_id)

    async with database.read() as db:
        assert await db.get(Resource, resource_id) is None


async def test_local_is_never_removed(app: Any, database: Database) -> None:
    async with database.read() as db:
        local = await db.scalar(select(Resource.id).where(Resource.kind == "local"))
    assert local is not None

    with pytest.raises(BadRequest, match="cannot be deleted"):
        await remove(app, database, local)


async def test_a_resource_goes_once_the_sessions_still_live_there_are_stopped(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    """A stopping session is live (its app may still run there): the removal is refused
    and the lifecycle asked to stop it; this one has no app to end, so it is stopped at
    once and the second removal succeeds."""
    await accounts.user("alice")
    resource_id, alice = await own_resource(database, "alice")
    await session_on(database, resource_id, alice, SessionState.STOPPED.value)
    stopping = await session_on(database, resource_id, alice, SessionState.STOPPING.value)

    with pytest.raises(Conflict, match=r"^1 session\(s\) still run on hpc"):
        await remove(app, database, resource_id)
    await until_state(database, stopping, SessionState.STOPPED.value)
    await remove(app, database, resource_id)

    async with database.read() as db:
        assert await db.get(Resource, resource_id) is None


async def until_state(database: Database, session_id: str, state: str) -> None:
    async def in_state() -> bool:
        async with database.read() as db:
            found = await db.scalar(select(AppSession.state).where(AppSession.id == session_id))
        assert found == state, found
        return True

    await eventually(in_state, what=f"session {session_id} {state}")
