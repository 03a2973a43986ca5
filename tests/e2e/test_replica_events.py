"""Two ``labgate serve`` replicas on one PostgreSQL: what one replica does to a session
(launching it, stopping it) reaches the owner's tabs whose events socket is on the other
(labgate.fanout), so the sessions list and the launch progress are live wherever the
load balancer sent the tab."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from tests.support.eventually import PATIENCE_SECONDS
from tests.support.labgate_api import Browser, replicas_on_postgres
from tests.support.server import RunningServer
from tests.support.sessions import launch, wait_for
from tests.support.sshd import SshServer

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "replica events admin password"
SERVE = "python3 -m http.server {port} --bind 127.0.0.1"


@pytest.fixture
def replicas(
    runtime_dir: str, tmp_path: Path, postgres_dsn: str
) -> Iterator[tuple[RunningServer, RunningServer]]:
    with replicas_on_postgres(
        tmp_path, postgres_dsn, ADMIN_PASSWORD, runtime_dir, LABGATE_APP_RECONCILE_SECONDS="1"
    ) as servers:
        yield servers


def changes_of(events: ClientConnection, session_id: str, until: float) -> int:
    """How many ``session_changed`` of this session arrive before ``until``."""
    count = 0
    while (left := until - time.monotonic()) > 0:
        try:
            message = json.loads(events.recv(timeout=left))
        except TimeoutError:
            break
        if message["type"] == "session_changed":
            assert message["session_id"] == session_id
            count += 1
    return count


def until_stopped_on(browser: Browser, events: ClientConnection, session_id: str) -> None:
    """Read ``events`` until a ``session_changed`` after which the session reads stopped."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        message = json.loads(events.recv(timeout=left))
        if message["type"] != "session_changed":
            continue
        if browser.get(f"/api/v1/sessions/{session_id}").json()["state"] == "stopped":
            return
    raise AssertionError("the tab never heard that the session stopped")


def test_a_session_changed_on_one_replica_is_pushed_to_tabs_on_the_other(
    replicas: tuple[RunningServer, RunningServer], sshd: SshServer
) -> None:
    first, second = replicas
    on_a, on_b = Browser(first, "admin", ADMIN_PASSWORD), Browser(second, "admin", ADMIN_PASSWORD)
    box = on_a.add_key_resource("box", sshd)
    with on_b.socket("/api/v1/events") as events:
        # Launched through replica A, which drives the launch.
        session = launch(on_a, box, "webapp", form={"app_command": SERVE, "workdir": "~"})
        wait_for(on_a, session["id"], "running")
        # The tab on B heard of each step (pending -> starting -> progress -> running).
        assert changes_of(events, session["id"], time.monotonic() + 2) >= 2
        assert on_b.get(f"/api/v1/sessions/{session['id']}").json()["state"] == "running"
        # B's proxy reaches the app (and keeps the route for a moment).
        assert on_b.get(f"/s/{session['id']}/").status_code == 200

        stopped = on_a.post(f"/api/v1/sessions/{session['id']}/stop")
        assert stopped.status_code == 200, stopped.text
        until_stopped_on(on_b, events, session["id"])
        # B's proxy forgot the route when it heard: the URL ends cleanly at once.
        assert on_b.get(f"/s/{session['id']}/").status_code == 410


def test_a_logout_on_one_replica_closes_the_sockets_on_the_other(
    replicas: tuple[RunningServer, RunningServer],
) -> None:
    """Replica B hears nothing from A: it sees in the database that the login ended
    (labgate.auth.live_sockets) and closes the tab's socket with 4401 within 2 s."""
    first, second = replicas
    on_a = Browser(first, "admin", ADMIN_PASSWORD)
    # The same browser (its cookie), its events socket on B.
    on_b = Browser(second, "admin", ADMIN_PASSWORD)
    on_b.http.cookies = on_a.http.cookies
    with on_b.socket("/api/v1/events") as events:
        assert json.loads(events.recv(timeout=10))["type"] == "resource_status"
        assert on_a.post("/api/v1/auth/logout").status_code == 204
        assert close_of(events, until=time.monotonic() + 2) == (4401, "login_ended")


def close_of(socket: ClientConnection, until: float) -> tuple[int, str]:
    """The close code and reason ``socket`` receives before ``until``."""
    try:
        while (left := until - time.monotonic()) > 0:
            socket.recv(timeout=left)
    except ConnectionClosed as closed:
        if closed.rcvd is None:
            raise AssertionError(f"closed without a close frame: {closed}") from closed
        return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("the socket stayed open")
