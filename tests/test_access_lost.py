"""Losing access ends access: a user removed from a shared resource's group, an
administrator demoted to user, and everyone after ``local_resource`` is narrowed by a
restart lose their running sessions there, through the proxy (within the route's
lifetime), for extensions and for reconnects (no certificate is signed for them), and
their sessions stop and their connections close. Also: the ``local`` transport hands
its processes none of the server's environment.

Real components: an sshd trusting labgate's SSH CA for the shared resource, the
``local`` resource for the others, Python's http.server as the app (the "Web app"
template), both databases.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labgate.accounts import groups as grouping
from labgate.accounts.users import get_user
from labgate.app import create_app
from labgate.db.engine import Database
from labgate.db.models import AppSession, Resource, ResourceKind, Role
from labgate.proxy import routes
from labgate.resources import revocation
from labgate.resources.status import ConnectionState
from labgate.settings import Settings
from labgate.state import AppState
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.eventually import NotEventually, eventually
from tests.support.local_accounts import map_local_to_root
from tests.support.processes import descendants, end_processes, processes_referencing
from tests.support.sshd import SshServer, ensure_test_user
from tests.support.sshd_auth import running_ca_sshd

SERVE = "python3 -m http.server {port} --bind 127.0.0.1"


@asynccontextmanager
async def running_app(settings: Settings, database: Database) -> AsyncIterator[Any]:
    """The app in-process, started and (at the end) shut down like a server."""
    application = create_app(settings, database=database, bootstrap=False)
    async with application.router.lifespan_context(application):
        await map_local_to_root(database)
        yield application


@pytest.fixture
def lab_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    # The periodic sweep runs at start only: what ends at once is ended by the change.
    monkeypatch.setattr(revocation, "SWEEP_SECONDS", 3600)
    # Daemons of this test's own (not one started with another environment), in a
    # directory where each account (root for local, the test account over SSH) makes its
    # own; ended by PID at the end, with everything they started.
    runtime = Path(tempfile.mkdtemp(prefix="lg-access-", dir="/tmp"))
    runtime.chmod(0o1777)
    settings.agent_runtime_dir = str(runtime / "{uid}")
    settings.daemon_idle_minutes = 1
    settings.app_reconcile_seconds = 1
    yield settings
    daemons = processes_referencing(runtime)
    below = [child for pid, _ in daemons for child in descendants(pid)]
    end_processes([*below, *daemons], 2.0)
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
async def lab(lab_settings: Settings, database: Database) -> AsyncIterator[Any]:
    async with running_app(lab_settings, database) as application:
        yield application


@pytest.fixture
async def accounts(lab: Any, database: Database, lab_settings: Settings) -> AsyncIterator[Any]:
    factory = AccountFactory(lab, database, lab_settings)
    yield factory
    await factory.close()


def state_of(app: Any) -> AppState:
    found: AppState = app.state.labgate
    return found


async def launch(user: LoggedIn, rid: int) -> str:
    answer = await user.post(
        "/api/v1/sessions",
        json={
            "template": "webapp",
            "resource_id": rid,
            "form": {"app_command": SERVE, "workdir": "~"},
        },
    )
    assert answer.status_code == 201, answer.text
    session_id: str = answer.json()["id"]
    await wait_for_state(user, session_id, "running")
    page = await user.get(f"/s/{session_id}/")
    assert page.status_code == 200, page.text
    return session_id


async def wait_for_state(user: LoggedIn, session_id: str, wanted: str) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def check() -> dict[str, Any] | None:
        answer = await user.get(f"/api/v1/sessions/{session_id}")
        assert answer.status_code == 200, answer.text
        session: dict[str, Any] = answer.json()
        if session["state"] in ("failed", "expired"):
            pytest.fail(f"session {session_id} {session['state']}: {session}")
        seen[:] = [session]
        return session if session["state"] == wanted else None

    try:
        found: dict[str, Any] = await eventually(check, what=f"session {session_id} {wanted}")
    except (NotEventually, pytest.fail.Exception) as exc:
        printed = (await user.get(f"/api/v1/sessions/{session_id}/log")).json().get("log")
        raise AssertionError(f"{exc}; last seen: {seen}; log: {printed}") from None
    return found


async def session_row(database: Database, session_id: str) -> AppSession:
    async with database.read() as db:
        row = await db.get(AppSession, session_id)
        assert row is not None
        db.expunge(row)
        return row


async def wait_stopped(database: Database, session_id: str, resource: str) -> None:
    async def check() -> bool:
        row = await session_row(database, session_id)
        return row.state == "stopped"

    await eventually(check, what=f"session {session_id} stopped")
    row = await session_row(database, session_id)
    assert row.message == f"you no longer have access to {resource}"


async def app_answers(app: Any, database: Database, session_id: str) -> bool:
    """Whether the session's app still answers on its port (asked on this machine)."""
    row = await session_row(database, session_id)
    port = int(row.endpoint["port"])  # type: ignore[index]
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


def assert_access_lost(answer: Any, resource: str) -> None:
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "access_lost"
    assert f"You no longer have access to {resource}." in error["message"]


# -- a shared resource, reached with labgate's certificates ---------------------------------


@pytest.fixture
async def shared(lab: Any, accounts: AccountFactory, tmp_path: Path) -> AsyncIterator[Any]:
    """An sshd trusting labgate's CA, as the shared resource 'hpc' of the group 'physics'
    (bob is a member); yields (root, bob, resource id, sshd)."""
    root = await accounts.login("root", role=Role.ADMIN)
    bob = await accounts.login("bob")
    ca = await root.get("/api/v1/ssh-ca")
    assert ca.status_code == 200, ca.text
    user = ensure_test_user()
    with running_ca_sshd(tmp_path, ca.json()["public_key"], user) as sshd:
        assert (await root.post("/api/v1/groups", json={"name": "physics"})).status_code == 201
        assert (await root.put("/api/v1/groups/physics/members/bob")).status_code == 200
        created = await root.post(
            "/api/v1/resources",
            json={
                "name": "hpc",
                "host": sshd.host,
                "port": sshd.port,
                "username": "",
                "auth_method": "certificate",
                "shared": True,
                "groups": ["physics"],
                "account_overrides": {"bob": user.name, "root": user.name},
            },
        )
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        trusted = await root.post(
            f"/api/v1/resources/{rid}/host-keys",
            json={"host": sshd.host, "port": sshd.port, "public_key": sshd.host_public_key},
        )
        assert trusted.status_code == 201, trusted.text
        yield root, bob, rid, sshd


def certificate_logins(sshd: SshServer) -> int:
    return sum(1 for line in sshd.log.splitlines() if "ID labgate:bob:hpc " in line)


async def test_removed_from_the_group_on_another_replica(
    lab: Any, database: Database, shared: Any
) -> None:
    """The change is made in the database, as another replica (or the command line)
    would make it: nothing on this replica is told."""
    _root, bob, rid, sshd = shared
    state = state_of(lab)
    session_id = await launch(bob, rid)
    bob_id = bob.user["id"]
    assert state.connections.live_agent(bob_id, rid) is not None
    async with database.session() as db:
        await grouping.remove_member(
            db, await grouping.get_group(db, "physics"), await get_user(db, "bob")
        )

    # The proxy asks again within the route's lifetime (a bound that is what is tested).
    async def refused() -> Any:
        answer = await bob.get(f"/s/{session_id}/")
        return answer if answer.status_code == 403 else None

    async with asyncio.timeout(routes.ROUTE_TTL_SECONDS + 5):
        assert_access_lost(await eventually(refused, what="proxy refusal"), "hpc")
    # No more time for it.
    extended = await bob.post(f"/api/v1/sessions/{session_id}/extend", json={"hours": 1})
    assert_access_lost(extended, "hpc")

    # The connection drops: labgate does not reconnect for bob, nor signs for him.
    signed = certificate_logins(sshd)
    assert signed >= 1, sshd.log
    for pid in sshd.session_processes():
        os.kill(pid, 9)

    async def failed() -> bool:
        status = state.connections.status(bob_id, rid)
        return status.state is ConnectionState.FAILED

    await eventually(failed, what="reconnect refused")
    status = state.connections.status(bob_id, rid)
    assert status.error is not None
    assert status.error.code == "access_lost"
    assert "You no longer have access to hpc." in status.message
    assert certificate_logins(sshd) == signed

    # The sweep every replica runs stops the app and closes the connection.
    assert await state.revocation.end_lost_access() == 1
    await wait_stopped(database, session_id, "hpc")
    assert not await app_answers(lab, database, session_id)
    assert state.connections.live_agent(bob_id, rid) is None
    assert state.connections.status(bob_id, rid).state is not ConnectionState.CONNECTED


async def test_removed_from_the_group_here(lab: Any, database: Database, shared: Any) -> None:
    root, bob, rid, _sshd = shared
    state = state_of(lab)
    session_id = await launch(bob, rid)
    removed = await root.delete("/api/v1/groups/physics/members/bob")
    assert removed.status_code == 200, removed.text
    # Right away on this replica: the session stops, the connection closes.
    await wait_stopped(database, session_id, "hpc")
    assert not await app_answers(lab, database, session_id)
    await connection_closed(state, bob.user["id"], rid)
    seen = await wait_for_state(bob, session_id, "stopped")
    assert seen["message"] == "you no longer have access to hpc"
    # The resource is gone from bob's list; another launch there is refused.
    again = await bob.post(
        "/api/v1/sessions",
        json={"template": "webapp", "resource_id": rid, "form": {"app_command": SERVE}},
    )
    assert again.status_code == 404


async def connection_closed(state: AppState, user_id: int, rid: int) -> None:
    async def closed() -> bool:
        return state.connections.live_agent(user_id, rid) is None

    await eventually(closed, what="connection closed")


async def test_resource_edits_and_removal_end_its_sessions(
    lab: Any, database: Database, shared: Any
) -> None:
    root, bob, rid, _sshd = shared
    state = state_of(lab)
    session_id = await launch(bob, rid)
    # Shared with no group any more: only administrators may use it.
    changed = await root.patch(f"/api/v1/resources/{rid}", json={"groups": []})
    assert changed.status_code == 200, changed.text
    await wait_stopped(database, session_id, "hpc")
    await connection_closed(state, bob.user["id"], rid)

    # Removing a resource where sessions run stops them first.
    mine = await launch(root, rid)
    refused = await root.delete(f"/api/v1/resources/{rid}")
    assert refused.status_code == 409, refused.text
    assert "labgate is stopping them now" in refused.json()["error"]["message"]
    stopped = await wait_for_state(root, mine, "stopped")
    assert stopped["message"] == "hpc is being removed"
    assert not await app_answers(lab, database, mine)
    assert (await root.delete(f"/api/v1/resources/{rid}")).status_code == 204


# -- local: admins only ------------------------------------------------------------------------


async def local_id(database: Database) -> int:
    async with database.read() as db:
        found = await db.scalar(
            select(Resource.id).where(Resource.kind == ResourceKind.LOCAL.value)
        )
        assert found is not None
        return int(found)


async def test_a_demoted_administrator_loses_an_admin_only_resource(
    lab: Any, database: Database, accounts: AccountFactory, lab_settings: Settings
) -> None:
    assert lab_settings.local_resource == "admins"
    root = await accounts.login("root", role=Role.ADMIN)
    carol = await accounts.login("carol", role=Role.ADMIN)
    rid = await local_id(database)
    session_id = await launch(carol, rid)
    demoted = await root.patch("/api/v1/users/carol", json={"role": "user"})
    assert demoted.status_code == 200, demoted.text
    await wait_stopped(database, session_id, "local")
    assert not await app_answers(lab, database, session_id)
    await connection_closed(state_of(lab), carol.user["id"], rid)


async def test_local_resource_narrowed_by_a_restart(
    lab_settings: Settings, database: Database
) -> None:
    lab_settings.local_resource = "everyone"
    async with running_app(lab_settings, database) as first:
        accounts = AccountFactory(first, database, lab_settings)
        alice = await accounts.login("alice")
        rid = await local_id(database)
        session_id = await launch(alice, rid)
        await accounts.close()
    # The apps outlive the server; the administrator restarts it with a new setting.
    assert await app_answers(first, database, session_id)
    restarted = lab_settings.model_copy(update={"local_resource": "admins"})
    async with running_app(restarted, database) as second:
        await wait_stopped(database, session_id, "local")
        assert not await app_answers(second, database, session_id)


# -- the local transport's environment ----------------------------------------------------------


async def test_local_processes_get_none_of_the_servers_environment(
    monkeypatch: pytest.MonkeyPatch, lab_settings: Settings, database: Database
) -> None:
    secret = secrets.token_urlsafe(32)
    monkeypatch.setenv("LABGATE_SECRET_KEY", secret)
    monkeypatch.setenv("LABGATE_SOMETHING_ELSE", "server only")
    monkeypatch.setenv("DATABASE_URL", "postgresql://labgate:hunter2@db/labgate")
    lab_settings.local_resource = "everyone"
    async with running_app(lab_settings, database) as app:
        accounts = AccountFactory(app, database, lab_settings)
        alice = await accounts.login("alice")
        rid = await local_id(database)
        started = await alice.post(
            f"/api/v1/resources/{rid}/processes", json={"command": "sleep 60", "name": "env"}
        )
        assert started.status_code == 201, started.text
        process = started.json()
        try:
            raw = Path(f"/proc/{process['pid']}/environ").read_bytes()
        finally:
            await alice.post(
                f"/api/v1/resources/{rid}/processes/{process['id']}/signal",
                json={"signal": "KILL"},
            )
            await accounts.close()
    names = {entry.split(b"=", 1)[0].decode() for entry in raw.split(b"\0") if entry}
    assert not [name for name in names if name.startswith("LABGATE_")], names
    assert "DATABASE_URL" not in names
    assert secret.encode() not in raw
    assert b"hunter2" not in raw
    assert {"HOME", "USER", "PATH"} <= names
