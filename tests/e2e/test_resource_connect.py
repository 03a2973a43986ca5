"""Connecting to a resource through the real server process and a real sshd: the connect
WebSocket's conversation (host key, password, failures), live status on the events
WebSocket, system information and directory listings, and reconnecting by itself after
the SSH connection is killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.labgate_api import Browser, labgate_server, states_until
from tests.support.server import RunningServer
from tests.support.sshd import SshServer

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "resource admin password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture
def session(server: RunningServer) -> Iterator[Browser]:
    browser = Browser(server, "admin", ADMIN_PASSWORD)
    yield browser
    browser.close()


def receive(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(socket.recv(timeout=60))
    return message


def until(socket: ClientConnection, *types: str) -> dict[str, Any]:
    """The next message of one of ``types``, skipping progress messages."""
    while True:
        message = receive(socket)
        if message["type"] in types:
            return message
        assert message["type"] == "progress", message


def test_first_connection_confirms_the_host_key_and_asks_the_password(
    session: Browser, sshd: SshServer
) -> None:
    rid = session.add_resource("box", sshd, auth_method="password")
    with session.socket(f"/api/v1/resources/{rid}/connect") as socket:
        socket.send(json.dumps({"type": "connect"}))
        host_key = until(socket, "host_key", "prompt", "failed")
        assert host_key["type"] == "host_key", host_key
        assert host_key["fingerprint"] == sshd.host_key_fingerprint
        assert host_key["can_confirm"] is True
        assert host_key["hop"] == 0
        socket.send(json.dumps({"type": "confirm_host_key", "id": host_key["id"], "accept": True}))
        prompt = until(socket, "prompt", "failed")
        assert prompt["kind"] == "password", prompt
        assert sshd.user.name in prompt["hop_label"]
        socket.send(
            json.dumps({"type": "answer", "id": prompt["id"], "answers": [sshd.user.password]})
        )
        connected = until(socket, "connected", "failed")
    assert connected["type"] == "connected", connected
    assert connected["status"]["state"] == "connected"
    assert connected["system"]["user"] == sshd.user.name
    assert connected["system"]["cpus"] >= 1

    resource = session.http.get(f"/api/v1/resources/{rid}").json()
    assert resource["status"]["state"] == "connected"
    assert [k["fingerprint"] for k in resource["host_keys"]] == [sshd.host_key_fingerprint]

    system = session.http.get(f"/api/v1/resources/{rid}/system")
    assert system.status_code == 200, system.text
    assert system.json()["home"] == str(sshd.user.home)
    assert system.json()["memory"]["total"] > 0
    listing = session.http.get(f"/api/v1/resources/{rid}/files", params={"path": "/etc"})
    assert listing.status_code == 200, listing.text
    assert "passwd" in [e["name"] for e in listing.json()["entries"]]
    missing = session.http.get(f"/api/v1/resources/{rid}/files", params={"path": "/no/such/dir"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

    # Disconnected on purpose: the status says so, and the password is gone with it.
    assert session.post(f"/api/v1/resources/{rid}/disconnect").status_code == 204
    after = session.http.get(f"/api/v1/resources/{rid}").json()
    assert after["status"]["state"] == "disconnected"
    needs_login = session.http.get(f"/api/v1/resources/{rid}/system")
    assert needs_login.status_code == 409
    assert needs_login.json()["error"]["code"] == "login_required"
    # Asking nobody is not a failure: the resource is just not connected.
    after = session.http.get(f"/api/v1/resources/{rid}").json()
    assert after["status"]["state"] == "disconnected"
    assert after["status"]["error"]["code"] == "login_required"


def test_a_killed_ssh_connection_reconnects_by_itself(session: Browser, sshd: SshServer) -> None:
    rid = session.add_resource("resilient", sshd, auth_method="password")
    confirmed = session.post(
        f"/api/v1/resources/{rid}/host-keys",
        json={"host": sshd.host, "port": sshd.port, "public_key": sshd.host_public_key},
    )
    assert confirmed.status_code == 201, confirmed.text
    with session.socket("/api/v1/events") as events:
        first = receive(events)
        assert first["type"] == "resource_status"
        with session.socket(f"/api/v1/resources/{rid}/connect") as socket:
            socket.send(json.dumps({"type": "connect"}))
            prompt = until(socket, "prompt", "failed")
            socket.send(
                json.dumps({"type": "answer", "id": prompt["id"], "answers": [sshd.user.password]})
            )
            assert until(socket, "connected", "failed")["type"] == "connected"
        states = states_until(events, rid, "connected")
        assert states[-1] == "connected"

        # Kill the sshd process serving this connection (the child of the listener).
        children = sshd.session_processes()
        assert children, "no sshd child for the connection"
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        states = states_until(events, rid, "connected")
        assert "reconnecting" in states, states
    # The cached password logged in again, without anyone typing it.
    system = session.http.get(f"/api/v1/resources/{rid}/system")
    assert system.status_code == 200, system.text


def test_wrong_password_and_changed_host_key_are_explained(
    session: Browser, sshd: SshServer
) -> None:
    rid = session.add_resource("strict", sshd, auth_method="password")
    session.post(
        f"/api/v1/resources/{rid}/host-keys",
        json={"host": sshd.host, "port": sshd.port, "public_key": sshd.host_public_key},
    )
    with session.socket(f"/api/v1/resources/{rid}/connect") as socket:
        socket.send(json.dumps({"type": "connect"}))
        prompt = until(socket, "prompt", "failed")
        socket.send(json.dumps({"type": "answer", "id": prompt["id"], "answers": ["wrong!"]}))
        failed = until(socket, "connected", "failed")
    assert failed["type"] == "failed"
    assert failed["error"]["code"] == "auth_failed"
    assert failed["error"]["hop"] == 0
    status = session.http.get(f"/api/v1/resources/{rid}").json()["status"]
    assert status["state"] == "failed"
    assert status["error"]["code"] == "auth_failed"

    # Another machine answering at the same address: a hard stop, never a question.
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhVmoqiVfEYp7HfClhrl+WlyOGoaRZ6Wv0vfbo4Bmxs x"
    impostor = session.add_resource("impostor", sshd, auth_method="password")
    session.post(
        f"/api/v1/resources/{impostor}/host-keys",
        json={"host": sshd.host, "port": sshd.port, "public_key": other},
    )
    with session.socket(f"/api/v1/resources/{impostor}/connect") as socket:
        socket.send(json.dumps({"type": "connect"}))
        changed = until(socket, "connected", "failed", "prompt", "host_key")
    assert changed["type"] == "failed", changed
    assert changed["error"]["code"] == "host_key_changed"
    assert "CHANGED" in changed["error"]["message"]


def test_refusing_the_host_key_or_cancelling_ends_the_attempt(
    session: Browser, sshd: SshServer
) -> None:
    rid = session.add_resource("careful", sshd, auth_method="password")
    with session.socket(f"/api/v1/resources/{rid}/connect") as socket:
        socket.send(json.dumps({"type": "connect"}))
        host_key = until(socket, "host_key", "failed")
        socket.send(json.dumps({"type": "confirm_host_key", "id": host_key["id"], "accept": False}))
        refused = until(socket, "connected", "failed")
    assert refused["error"]["code"] == "host_key_unknown"
    assert session.http.get(f"/api/v1/resources/{rid}").json()["host_keys"] == []

    with session.socket(f"/api/v1/resources/{rid}/connect") as socket:
        socket.send(json.dumps({"type": "connect"}))
        until(socket, "host_key", "failed")
        socket.send(json.dumps({"type": "cancel"}))
        cancelled = until(socket, "connected", "failed")
    assert cancelled["error"]["code"] == "cancelled"
    status = session.http.get(f"/api/v1/resources/{rid}").json()["status"]
    assert status["state"] == "disconnected"


def test_sockets_refuse_strangers(server: RunningServer, session: Browser) -> None:
    anonymous = f"ws://{server.host}:{server.port}"
    for path in ("/api/v1/events", "/api/v1/resources/1/connect"):
        with (
            pytest.raises(Exception, match="HTTP 403"),
            connect(anonymous + path, origin=server.url, open_timeout=10) as socket,  # type: ignore[arg-type]
        ):
            socket.recv(timeout=10)
    cookie = session.cookie_header()
    with (
        pytest.raises(Exception, match="HTTP 403"),
        connect(
            anonymous + "/api/v1/events",
            additional_headers={"Cookie": cookie},
            origin="http://evil.example.org",  # type: ignore[arg-type]
            open_timeout=10,
        ) as socket,
    ):
        socket.recv(timeout=10)


def test_malformed_messages_are_refused_or_ignored(session: Browser, sshd: SshServer) -> None:
    rid = session.add_resource("picky", sshd, auth_method="password")
    for first in (
        "not json at all",
        json.dumps({"type": "answer", "answers": ["x"]}),
        json.dumps({"type": "connect", "colour": 7, "answers": "not a list"}),
    ):
        with session.socket(f"/api/v1/resources/{rid}/connect") as socket:
            socket.send(first)
            refused = until(socket, "failed", "connected", "host_key")
        assert refused["type"] == "failed", (first, refused)
        assert refused["error"]["code"] == "bad_request", (first, refused)
    # Mid-conversation, garbage is ignored and the question stays open.
    with session.socket(f"/api/v1/resources/{rid}/connect") as socket:
        socket.send(json.dumps({"type": "connect"}))
        host_key = until(socket, "host_key", "failed")
        socket.send("{broken")
        socket.send(json.dumps({"type": "answer", "id": host_key["id"], "answers": [1, 2]}))
        socket.send(json.dumps({"type": "confirm_host_key", "id": host_key["id"], "accept": True}))
        prompt = until(socket, "prompt", "failed")
        assert prompt["kind"] == "password"
        socket.send(json.dumps({"type": "cancel"}))
        assert until(socket, "failed", "connected")["error"]["code"] == "cancelled"
