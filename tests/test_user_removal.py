"""A deleted user's work does not pass to anyone: processes and terminals on a resource
carry a tag of the installation and the user that is never handed out again (on SQLite
a new user gets a deleted user's id), deleting a user ends their work on the resources
labgate reaches and forgets their keys, and two installations on one remote account do
not see each other's work. In-process against a real sshd (the test account), on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from labgate.accounts.users import delete_user, get_user
from labgate.app import create_app
from labgate.db import migrate
from labgate.db.engine import Database
from labgate.db.models import AuditEvent, Role, StoredCredential, User, UserSshKey
from labgate.resources import leftovers
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.asgi import websocket_answer, websocket_scope
from tests.support.eventually import eventually
from tests.support.remote_files import add_ssh_resource
from tests.support.sshd import SshServer


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(update={"agent_runtime_dir": runtime_dir})


@pytest.fixture
async def root(accounts: AccountFactory) -> AsyncIterator[LoggedIn]:
    yield await accounts.login("root", role=Role.ADMIN)
    await accounts.close()


async def start_terminal(user: LoggedIn, resource_id: int) -> dict[str, Any]:
    started = await user.post(
        f"/api/v1/resources/{resource_id}/processes", json={"pty": True, "name": "work"}
    )
    assert started.status_code == 201, started.text
    process: dict[str, Any] = started.json()
    return process


async def listed(user: LoggedIn, resource_id: int) -> list[str]:
    answer = await user.get(f"/api/v1/resources/{resource_id}/processes")
    assert answer.status_code == 200, answer.text
    return [p["id"] for p in answer.json()["processes"]]


async def attach(app: Any, user: LoggedIn, resource_id: int, process_id: str) -> dict[str, Any]:
    """The first thing the attach socket says: ``attached``, or ``failed`` with why."""
    cookie = f"labgate_session={user.http.cookies['labgate_session']}".encode()
    path = f"/api/v1/resources/{resource_id}/processes/{process_id}/attach"
    said = await websocket_answer(app, websocket_scope(path, [(b"cookie", cookie)]))
    assert isinstance(said, str), said
    first: dict[str, Any] = json.loads(said)
    return first


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def user_id(database: Database, username: str) -> int:
    async with database.read() as db:
        found = await db.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return found


async def test_a_new_user_never_gets_a_deleted_users_terminals(
    app: Any, accounts: AccountFactory, database: Database, sshd: SshServer
) -> None:
    alice = await accounts.login("alice")
    rid = await add_ssh_resource(alice, sshd, "box")
    terminal = await start_terminal(alice, rid)
    alice_id = await user_id(database, "alice")
    # Alice is deleted while her terminal cannot be reached (here: only her row goes,
    # as a deletion that could not reach the resource leaves it): it runs on.
    async with database.session() as db:
        await delete_user(db, await get_user(db, "alice"))
    assert running(terminal["pid"])

    bob = await accounts.login("bob")
    if database.is_sqlite:
        assert await user_id(database, "bob") == alice_id  # SQLite hands the id out again
    bob_rid = await add_ssh_resource(bob, sshd, "box")  # the same remote account
    assert terminal["id"] not in await listed(bob, bob_rid)
    said = await attach(app, bob, bob_rid, terminal["id"])
    assert said["type"] == "failed"
    assert said["error"]["code"] == "not_found"
    signal = await bob.post(
        f"/api/v1/resources/{bob_rid}/processes/{terminal['id']}/signal", json={"signal": "KILL"}
    )
    assert signal.status_code == 404
    assert running(terminal["pid"])
    # Bob's own terminal is his, of course.
    own = await start_terminal(bob, bob_rid)
    assert await listed(bob, bob_rid) == [own["id"]]
    assert (await attach(app, bob, bob_rid, own["id"]))["type"] == "attached"
    os.kill(terminal["pid"], 9)


async def test_deleting_a_user_ends_their_work_and_forgets_their_keys(
    root: LoggedIn, accounts: AccountFactory, database: Database, sshd: SshServer
) -> None:
    alice = await accounts.login("alice")
    rid = await add_ssh_resource(alice, sshd, "box")  # with her generated key
    terminal = await start_terminal(alice, rid)
    command = await alice.post(
        f"/api/v1/resources/{rid}/processes", json={"command": "sleep 600", "name": "sleeper"}
    )
    assert command.status_code == 201, command.text
    pids = [terminal["pid"], command.json()["pid"]]
    alice_id = await user_id(database, "alice")

    deleted = await root.delete("/api/v1/users/alice")
    assert deleted.status_code == 204, deleted.text
    # Ended on the resource, not merely hidden (signals take a moment).
    await eventually(lambda: not any(running(pid) for pid in pids), what=f"{pids} ended")
    async with database.read() as db:
        assert await db.get(User, alice_id) is None
        for table in (UserSshKey, StoredCredential):
            count = select(func.count()).select_from(table).where(table.user_id == alice_id)
            assert await db.scalar(count) == 0
        event = await db.scalar(
            select(AuditEvent).where(
                AuditEvent.event == "user_deleted", AuditEvent.target == "alice"
            )
        )
    assert event is not None
    assert event.detail["processes_stopped"] == 2
    assert event.detail["unreachable"] == []
    # Her login ended with the deletion.
    assert (await alice.get("/api/v1/users/me")).status_code == 401


async def test_two_installations_on_one_remote_account_keep_apart(
    app: Any, accounts: AccountFactory, sshd: SshServer, settings: Settings, tmp_path: Path
) -> None:
    alice = await accounts.login("alice")
    rid = await add_ssh_resource(alice, sshd, "box")
    terminal = await start_terminal(alice, rid)

    # Another labgate, with its own data and database, whose Alice (the same user id)
    # reaches the same remote account, sharing its daemon.
    other_settings = settings.model_copy(update={"data_dir": tmp_path / "other"})
    other_database = Database(f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}")
    await migrate.upgrade(other_database)
    other = create_app(other_settings, database=other_database, bootstrap=False)
    try:
        async with other.router.lifespan_context(other):
            elsewhere = AccountFactory(other, other_database, other_settings)
            other_alice = await elsewhere.login("alice")
            other_rid = await add_ssh_resource(other_alice, sshd, "box")
            assert terminal["id"] not in await listed(other_alice, other_rid)
            said = await attach(other, other_alice, other_rid, terminal["id"])
            assert said["type"] == "failed"
            theirs = await start_terminal(other_alice, other_rid)
            assert theirs["id"] not in await listed(alice, rid)
            assert await listed(other_alice, other_rid) == [theirs["id"]]
            await elsewhere.close()
    finally:
        await other_database.dispose()


async def test_other_replicas_close_a_deleted_users_connections(
    root: LoggedIn,
    accounts: AccountFactory,
    database: Database,
    sshd: SshServer,
    settings: Settings,
) -> None:
    alice = await accounts.login("alice")
    rid = await add_ssh_resource(alice, sshd, "box")
    alice_id = await user_id(database, "alice")
    # A second replica on the same database, where Alice is connected too.
    replica = create_app(settings, database=database, bootstrap=False)
    async with replica.router.lifespan_context(replica):
        there = AccountFactory(replica, database, settings)
        alice_there = await there.login("alice", create=False)
        assert await listed(alice_there, rid) == []
        connections = replica.state.labgate.connections
        assert connections.live_agent(alice_id, rid) is not None

        assert (await root.delete("/api/v1/users/alice")).status_code == 204
        await leftovers.sweep(replica.state.labgate)  # its housekeeping round
        assert connections.live_agent(alice_id, rid) is None
        await there.close()
