"""Driving a running ``labgate serve`` as a browser would, for end-to-end tests: a server
with a daemon directory of its own, a logged-in user (the API with CSRF, the
WebSockets with the session cookie and labgate's origin), and the connect conversation.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.support import postgres
from tests.support.daemons import daemon_runtime_dir
from tests.support.local_accounts import LOCAL_FOR_ADMINS, map_server_local_to_root
from tests.support.server import RunningServer, running_server
from tests.support.sshd import SshServer

# Every test host (the sshd on 127.0.0.1, the namespaces in 10.201.0.0/16) is this
# machine or behind it, which labgate refuses for users' resources by default.
TEST_HOSTS_DENIED = ["link-local"]
TEST_CONNECT_ATTEMPTS = 10_000


def server_env(admin_password: str, runtime_dir: str, **extra: str) -> dict[str, str]:
    """Settings for a test server: its first administrator, where its agents keep their
    daemons, short idle and keepalive times, cheap password hashes, and users' resources
    allowed on this machine (the tests' sshd listens on loopback; see TEST_HOSTS_DENIED)
    and connected as often as the tests like; ``local`` for administrators (the servers
    map it to root: tests/support/local_accounts.py)."""
    return {
        "LABGATE_ADMIN_PASSWORD": admin_password,
        "LABGATE_AGENT_RUNTIME_DIR": runtime_dir,
        "LABGATE_DAEMON_IDLE_MINUTES": "1",
        "LABGATE_SSH_KEEPALIVE_SECONDS": "2",
        "LABGATE_PASSWORD_HASH_TIME_COST": "1",
        "LABGATE_PASSWORD_HASH_MEMORY_KIB": "64",
        "LABGATE_RESOURCE_HOSTS_DENIED": json.dumps(TEST_HOSTS_DENIED),
        "LABGATE_RESOURCE_CONNECT_ATTEMPTS_PER_MINUTE": str(TEST_CONNECT_ATTEMPTS),
        "LABGATE_LOCAL_RESOURCE": LOCAL_FOR_ADMINS,
        **extra,
    }


@contextlib.contextmanager
def labgate_server(
    workdir: Path,
    admin_password: str,
    *,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    per_user_daemons: bool = False,
) -> Iterator[RunningServer]:
    """``labgate serve`` with a daemon runtime directory of its own: every agent and
    daemon it starts on the resources is killed (by PID) when the block ends. (One
    machine plays every host in the tests, and a daemon is found by its socket's path,
    so servers that must not share daemons must not share the directory.)
    ``per_user_daemons``: a directory per account (``{uid}`` in the setting), for a
    server that reaches two accounts of this machine, such as root's local resource and
    the test account's SSH one."""
    with daemon_runtime_dir(per_user=per_user_daemons) as runtime_dir:
        settings = server_env(admin_password, runtime_dir, **(env or {}))
        with running_server(workdir, env=settings, port=port) as running:
            map_server_local_to_root(running, admin_password)
            yield running


@contextlib.contextmanager
def two_replicas(
    workdir: Path, env: Mapping[str, str]
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two healthy ``labgate serve`` replicas with the same settings (``env`` names the
    shared database), in ``workdir``/a and /b; killed by PID at the end."""
    with contextlib.ExitStack() as stack:
        first, second = (RunningServer(workdir / name, env=env) for name in ("a", "b"))
        for server in (first, second):
            server.workdir.mkdir()
            stack.callback(server.kill)
            server.start()
        first.wait_until_healthy()
        second.wait_until_healthy()
        map_server_local_to_root(first, env["LABGATE_ADMIN_PASSWORD"])
        yield first, second


@contextlib.contextmanager
def replicas_on_postgres(
    workdir: Path, postgres_dsn: str, admin_password: str, runtime_dir: str, **extra: str
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """:func:`two_replicas` on a fresh database of the run's PostgreSQL, with one server
    secret (each can open what the other sealed); ``extra`` settings for both."""
    with postgres.fresh_database(postgres_dsn) as dsn:
        env = server_env(
            admin_password,
            runtime_dir,
            LABGATE_SECRET_KEY="a server secret shared by the replicas of this test",
            LABGATE_DATABASE_URL=dsn,
            **extra,
        )
        with two_replicas(workdir, env) as servers:
            yield servers


class Browser:
    """A logged-in browser, as far as the API and the WebSockets are concerned."""

    def __init__(self, server: RunningServer, username: str, password: str) -> None:
        self.server = server
        self.username = username
        self.http = server.client()
        login = self.http.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert login.status_code == 200, login.text
        self.csrf: str = login.json()["csrf_token"]

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(url, **kwargs)

    def _unsafe(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, url, headers={"X-CSRF-Token": self.csrf}, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._unsafe("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._unsafe("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._unsafe("PATCH", url, **kwargs)

    def delete(self, url: str) -> httpx.Response:
        return self._unsafe("DELETE", url)

    def cookie_header(self) -> str:
        """The Cookie header this browser sends to labgate."""
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    def socket(self, path: str) -> ClientConnection:
        cookie = self.cookie_header()
        return connect(
            f"ws://{self.server.host}:{self.server.port}{path}",
            additional_headers={"Cookie": cookie},
            origin=Origin(self.server.url),
            open_timeout=20,
        )

    def add_resource(self, name: str, server: SshServer, **fields: Any) -> int:
        body = {
            "name": name,
            "host": server.host,
            "port": server.port,
            "username": server.user.name,
            **fields,
        }
        created = self.post("/api/v1/resources", json=body)
        assert created.status_code == 201, created.text
        resource_id: int = created.json()["id"]
        return resource_id

    def trust_host_key(self, rid: int, server: SshServer) -> None:
        """What an administrator does after checking the fingerprint out of band."""
        confirmed = self.post(
            f"/api/v1/resources/{rid}/host-keys",
            json={"host": server.host, "port": server.port, "public_key": server.host_public_key},
        )
        assert confirmed.status_code == 201, confirmed.text

    def add_key_resource(self, name: str, server: SshServer, **fields: Any) -> int:
        """A resource logging in with the sshd's authorised key, remembered by labgate and
        its host key trusted, so that any server process connects without asking anyone."""
        rid = self.add_resource(name, server, auth_method="key", **fields)
        self.trust_host_key(rid, server)
        remembered = self.put(
            f"/api/v1/resources/{rid}/remembered-keys/target",
            json={"private_key": server.client_key_path.read_text()},
        )
        assert remembered.status_code == 200, remembered.text
        return rid

    def resource(self, rid: int) -> dict[str, Any]:
        answer = self.get(f"/api/v1/resources/{rid}")
        assert answer.status_code == 200, answer.text
        resource: dict[str, Any] = answer.json()
        return resource

    @contextlib.contextmanager
    def connecting(self, rid: int) -> Iterator[Conversation]:
        """The connect WebSocket of ``rid``, after ``{"type": "connect"}``."""
        with self.socket(f"/api/v1/resources/{rid}/connect") as socket:
            socket.send(json.dumps({"type": "connect"}))
            yield Conversation(socket)

    def close(self) -> None:
        self.http.close()


class Conversation:
    """The server's side of one connect WebSocket, message by message; every message
    (progress included) is kept in ``seen``."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.seen: list[dict[str, Any]] = []

    def next(self) -> dict[str, Any]:
        """The next message that is not progress."""
        while True:
            message: dict[str, Any] = json.loads(self.socket.recv(timeout=60))
            self.seen.append(message)
            if message["type"] != "progress":
                return message

    def expect(self, kind: str) -> dict[str, Any]:
        message = self.next()
        assert message["type"] == kind, f"expected {kind}, got {message}"
        return message

    def send(self, message: dict[str, Any]) -> None:
        self.socket.send(json.dumps(message))

    def confirm_host_key(self, server: SshServer, hop: int = 0) -> None:
        shown = self.expect("host_key")
        assert (shown["hop"], shown["host"], shown["port"]) == (hop, server.host, server.port)
        assert shown["fingerprint"] == server.host_key_fingerprint
        assert shown["can_confirm"] is True
        self.send({"type": "confirm_host_key", "id": shown["id"], "accept": True})

    def answer(self, prompt: dict[str, Any], *answers: str) -> None:
        self.send({"type": "answer", "id": prompt["id"], "answers": list(answers)})

    def outcome(self) -> dict[str, Any]:
        message = self.next()
        assert message["type"] in ("connected", "failed"), message
        return message

    def connected(self) -> dict[str, Any]:
        message = self.outcome()
        assert message["type"] == "connected", message
        return message

    def failed(self, code: str) -> dict[str, Any]:
        message = self.outcome()
        assert message["type"] == "failed", message
        error: dict[str, Any] = message["error"]
        assert error["code"] == code, error
        return error

    @property
    def progress(self) -> list[str]:
        return [m["message"] for m in self.seen if m["type"] == "progress"]

    @property
    def kinds(self) -> list[str]:
        """The types of the messages that were not progress, in order."""
        return [m["type"] for m in self.seen if m["type"] != "progress"]


def states_until(events: ClientConnection, rid: int, final: str) -> list[str]:
    """The states the events WebSocket reports for ``rid`` up to ``final``; a failure
    on the way ends the wait with an assertion."""
    states: list[str] = []
    while not states or states[-1] != final:
        message = json.loads(events.recv(timeout=60))
        if message["type"] == "resource_status" and message["resource_id"] == rid:
            states.append(message["status"]["state"])
            assert states[-1] != "failed" or final == "failed", message
    return states
