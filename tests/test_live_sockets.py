"""Open WebSockets end with their credential (labgate.auth.live_sockets): a terminal's
attachment, the resource connect conversation, the events socket and an app's WebSocket
through the proxy each close within 2 seconds of a logout, a password change, the user's
disabling or their token's revocation, with 4401; with 4403 when what they do is no
longer allowed. Served by uvicorn in-process (real WebSockets) on both databases, with
the local resource, a real sshd and a real WebSocket app behind the proxy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from labgate.auth import live_sockets
from labgate.db.models import Role
from labgate.settings import Settings
from tests.support.accounts import PASSWORD, AccountFactory, LoggedIn
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS
from tests.support.proxied import running_session, small_app, state_of
from tests.support.serving import close_of, serving
from tests.support.sshd import SshServer

DEADLINE_SECONDS = 2.0
NEW_PASSWORD = "a brand new password"


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    # Root's daemon for the local resource, the test account's for the sshd one.
    with daemon_runtime_dir("labgate-sockets-", per_user=True) as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(
        update={"agent_runtime_dir": runtime_dir, "local_resource": "everyone"}
    )


@dataclass
class Site:
    """labgate served at ``url``, and a small WebSocket app for its sessions."""

    url: str
    app: Any
    app_port: int


@pytest.fixture
async def site(app: Any) -> AsyncIterator[Site]:
    async with serving(app) as url, small_app() as port:
        yield Site(url, app, port)


@pytest.fixture
async def alice(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("alice")


@pytest.fixture
async def admin(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("root", role=Role.ADMIN)


@dataclass
class Caller:
    """How a socket authenticates: a browser's cookie (and labgate's origin), or a token."""

    headers: dict[str, str]
    browser: bool

    @classmethod
    def cookie_of(cls, who: LoggedIn) -> Caller:
        cookie = "; ".join(f"{k}={v}" for k, v in who.http.cookies.items())
        return cls({"Cookie": cookie}, browser=True)

    @classmethod
    def token(cls, secret: str) -> Caller:
        return cls({"Authorization": f"Bearer {secret}"}, browser=False)


async def open_socket(base_url: str, path: str, caller: Caller) -> ClientConnection:
    return await connect(
        base_url.replace("http", "ws", 1) + path,
        additional_headers=caller.headers,
        origin=Origin(base_url) if caller.browser else None,
        open_timeout=PATIENCE_SECONDS,
        max_size=None,
    )


async def until_message(socket: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(PATIENCE_SECONDS):
        while True:
            frame = await socket.recv()
            if isinstance(frame, str) and (message := json.loads(frame))["type"] == kind:
                return message


async def local_resource(who: LoggedIn) -> int:
    listing = (await who.get("/api/v1/resources")).json()["resources"]
    return int(next(r["id"] for r in listing if r["kind"] == "local"))


# -- the sockets: each opened for alice, ready to be used --------------------------------


Opener = Callable[[Site, LoggedIn, Caller], Awaitable[ClientConnection]]


async def events_socket(site: Site, alice: LoggedIn, caller: Caller) -> ClientConnection:
    socket = await open_socket(site.url, "/api/v1/events", caller)
    await until_message(socket, "resource_status")  # the local resource's status
    return socket


async def terminal_socket(site: Site, alice: LoggedIn, caller: Caller) -> ClientConnection:
    rid = await local_resource(alice)
    started = await alice.post(
        f"/api/v1/resources/{rid}/processes", json={"command": "sleep 600", "pty": True}
    )
    assert started.status_code == 201, started.text
    path = f"/api/v1/resources/{rid}/processes/{started.json()['id']}/attach"
    socket = await open_socket(site.url, path, caller)
    await until_message(socket, "attached")
    return socket


def connect_socket(sshd: SshServer) -> Opener:
    async def opened(site: Site, alice: LoggedIn, caller: Caller) -> ClientConnection:
        created = await alice.post(
            "/api/v1/resources",
            json={
                "name": "box",
                "host": sshd.host,
                "port": sshd.port,
                "username": sshd.user.name,
                "auth_method": "password",
            },
        )
        assert created.status_code == 201, created.text
        path = f"/api/v1/resources/{created.json()['id']}/connect"
        socket = await open_socket(site.url, path, caller)
        await socket.send(json.dumps({"type": "connect"}))
        await until_message(socket, "host_key")  # and the conversation waits for an answer
        return socket

    return opened


async def app_socket(site: Site, alice: LoggedIn, caller: Caller) -> ClientConnection:
    state = state_of(site.app)
    session_id = await running_session(state.database, state.session_tokens, "alice", site.app_port)
    socket = await open_socket(site.url, f"/s/{session_id}/", caller)
    await socket.send("hello")
    assert await socket.recv() == "hello"
    return socket


# -- the credential ends ----------------------------------------------------------------


async def token_of(alice: LoggedIn) -> tuple[int, str]:
    created = await alice.post("/api/v1/tokens", json={"name": "script"})
    assert created.status_code == 201, created.text
    return created.json()["token"]["id"], created.json()["secret"]


async def log_out(accounts: AccountFactory, alice: LoggedIn, admin: LoggedIn) -> None:
    assert (await alice.post("/api/v1/auth/logout")).status_code == 204


async def change_password(accounts: AccountFactory, alice: LoggedIn, admin: LoggedIn) -> None:
    # From another browser: that login stays, the socket's ends.
    elsewhere = await accounts.login("alice", create=False)
    changed = await elsewhere.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text


async def disable(accounts: AccountFactory, alice: LoggedIn, admin: LoggedIn) -> None:
    disabled = await admin.patch("/api/v1/users/alice", json={"disabled": True})
    assert disabled.status_code == 200, disabled.text


ENDS = {"logout": log_out, "password change": change_password, "disabling": disable}
KINDS = ["events", "terminal", "connect", "app"]


@pytest.fixture
def opener(request: pytest.FixtureRequest) -> Opener:
    kind = request.param
    if kind == "connect":
        return connect_socket(request.getfixturevalue("sshd"))
    return {"events": events_socket, "terminal": terminal_socket, "app": app_socket}[kind]


@pytest.mark.parametrize("end", list(ENDS))
@pytest.mark.parametrize("opener", KINDS, indirect=True)
async def test_a_browser_s_socket_closes_when_its_login_ends(
    site: Site,
    accounts: AccountFactory,
    alice: LoggedIn,
    admin: LoggedIn,
    opener: Opener,
    end: str,
) -> None:
    socket = await opener(site, alice, Caller.cookie_of(alice))
    await ENDS[end](accounts, alice, admin)
    assert await close_of(socket, DEADLINE_SECONDS) == (4401, "login_ended")


@pytest.mark.parametrize("opener", KINDS, indirect=True)
async def test_a_script_s_socket_closes_when_its_token_is_revoked(
    site: Site, alice: LoggedIn, opener: Opener
) -> None:
    token_id, secret = await token_of(alice)
    socket = await opener(site, alice, Caller.token(secret))
    assert (await alice.delete(f"/api/v1/tokens/{token_id}")).status_code == 204
    assert await close_of(socket, DEADLINE_SECONDS) == (4401, "token_ended")


async def test_a_disabled_user_s_token_sockets_close(
    site: Site, accounts: AccountFactory, alice: LoggedIn, admin: LoggedIn
) -> None:
    _, secret = await token_of(alice)
    socket = await events_socket(site, alice, Caller.token(secret))
    await disable(accounts, alice, admin)
    assert await close_of(socket, DEADLINE_SECONDS) == (4401, "token_ended")


async def test_a_terminal_closes_when_its_resource_is_withdrawn(
    site: Site, accounts: AccountFactory, alice: LoggedIn
) -> None:
    socket = await terminal_socket(site, alice, Caller.cookie_of(alice))
    accounts.settings.local_resource = "admins"  # what an administrator's restart would do
    assert await close_of(socket, DEADLINE_SECONDS) == (4403, "access_withdrawn")


async def test_other_logins_and_users_keep_their_sockets(
    site: Site, accounts: AccountFactory, alice: LoggedIn, admin: LoggedIn
) -> None:
    """A password change ends the other logins, not the one that changed it; one user's
    logout ends nobody else's sockets."""
    mine = await events_socket(site, alice, Caller.cookie_of(alice))
    admins = await events_socket(site, admin, Caller.cookie_of(admin))
    changed = await alice.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert (await admin.post("/api/v1/auth/logout")).status_code == 204
    assert await close_of(admins, DEADLINE_SECONDS) == (4401, "login_ended")
    with pytest.raises(TimeoutError):
        await close_of(mine, seconds=live_sockets.CHECK_INTERVAL_SECONDS * 3)


@pytest.fixture
def slow_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The periodic check once a minute: only the immediate one can be in time."""
    monkeypatch.setattr(live_sockets, "CHECK_INTERVAL_SECONDS", 60.0)


async def test_the_replica_that_ends_a_login_closes_its_sockets_at_once(
    slow_rounds: None, site: Site, alice: LoggedIn
) -> None:
    socket = await events_socket(site, alice, Caller.cookie_of(alice))
    assert (await alice.post("/api/v1/auth/logout")).status_code == 204
    assert await close_of(socket, DEADLINE_SECONDS) == (4401, "login_ended")
