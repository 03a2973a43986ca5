"""Work that outlives its connections, through the real server and a real sshd: a
counting loop keeps counting, without a gap, across a killed SSH connection and a server
restart; a terminal answers; another labgate user on the same remote account sees none
of it; two server replicas on one PostgreSQL reach the same daemon."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection

from labgate.api.processes import OUTPUT_FRAME
from tests.support import postgres
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS
from tests.support.labgate_api import Browser, server_env, two_replicas
from tests.support.server import RunningServer
from tests.support.sshd import SshServer

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "processes admin password"
SECRET = "a server secret shared by the replicas of this test"
COUNTER = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.02; done"


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir() as path:
        yield path


def env_of(runtime_dir: str, **extra: str) -> dict[str, str]:
    # One secret for every server of a test: a key remembered through one opens on all.
    return server_env(ADMIN_PASSWORD, runtime_dir, LABGATE_SECRET_KEY=SECRET, **extra)


def attach(browser: Browser, rid: int, pid: str, offset: int = 0) -> ClientConnection:
    return browser.socket(f"/api/v1/resources/{rid}/processes/{pid}/attach?offset={offset}")


def start(browser: Browser, rid: int, **body: Any) -> str:
    started = browser.post(f"/api/v1/resources/{rid}/processes", json=body)
    assert started.status_code == 201, started.text
    pid: str = started.json()["id"]
    return pid


class Output:
    """What an attachment received: output bytes by offset, and the control messages."""

    def __init__(self, start: int = 0) -> None:
        self.start = start
        self.data = b""
        self.messages: list[dict[str, Any]] = []

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def take(self, socket: ClientConnection, until: Any) -> None:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while not until(self):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"gave up waiting; got {self.messages[-3:]} {self.data[-80:]!r}"
            frame = socket.recv(timeout=remaining)
            if isinstance(frame, str):
                message = json.loads(frame)
                self.messages.append(message)
                assert message["type"] != "failed", message
                if message["type"] == "attached" and not self.data:
                    self.start = message["offset"]
                continue
            offset, _stream = OUTPUT_FRAME.unpack_from(frame)
            # Every byte exactly once, in order: a re-attachment continues where it was.
            assert offset == self.end, (offset, self.end)
            self.data += frame[OUTPUT_FRAME.size :]

    def numbers(self) -> list[int]:
        return [int(n) for n in self.data.decode().split("\n")[:-1]]


def lines_at_least(count: int) -> Any:
    return lambda output: output.data.count(b"\n") >= count


def assert_counts_without_gap(output: Output) -> None:
    numbers = output.numbers()
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def test_a_counter_survives_a_killed_connection_and_a_server_restart(
    sshd: SshServer, runtime_dir: str, tmp_path: Path
) -> None:
    server = RunningServer(tmp_path, env=env_of(runtime_dir))
    try:
        server.start()
        server.wait_until_healthy()
        alice = Browser(server, "admin", ADMIN_PASSWORD)
        rid = alice.add_key_resource("counting", sshd)
        pid = start(alice, rid, command=COUNTER, name="counter")

        output = Output()
        with attach(alice, rid, pid) as socket:
            output.take(socket, lines_at_least(20))
            # The network fails: every sshd process of the connection is killed.
            for process in sshd.session_processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process, signal.SIGKILL)
            output.take(socket, lines_at_least(120))
        assert output.start == 0
        assert output.numbers()[0] == 0
        assert_counts_without_gap(output)
        kinds = [m["type"] for m in output.messages]
        assert "reconnecting" in kinds, kinds
        assert kinds.count("attached") >= 2, kinds

        # The server restarts: the counter ran on meanwhile; attaching from where we were
        # replays what was missed, then goes on live.
        assert server.stop() == 0
        time.sleep(0.5)  # the counter runs on while no server is there
        server.start()
        server.wait_until_healthy()
        alice = Browser(server, "admin", ADMIN_PASSWORD)
        listing = alice.http.get(f"/api/v1/resources/{rid}/processes").json()["processes"]
        assert [p["id"] for p in listing] == [pid]
        assert listing[0]["running"] is True
        resumed = Output(start=output.end)
        with attach(alice, rid, pid, offset=output.end) as socket:
            resumed.take(socket, lines_at_least(60))
        assert resumed.numbers()[0] == output.numbers()[-1] + 1
        assert_counts_without_gap(resumed)

        # Stopped with a signal: the attachment says how it ended.
        ended = Output()
        with attach(alice, rid, pid, offset=resumed.end) as socket:
            ended.take(socket, lines_at_least(1))
            signalled = alice.post(
                f"/api/v1/resources/{rid}/processes/{pid}/signal", json={"signal": "TERM"}
            )
            assert signalled.status_code == 204
            ended.take(socket, lambda o: any(m["type"] == "exit" for m in o.messages))
        exit_message = next(m for m in ended.messages if m["type"] == "exit")
        assert exit_message["signal"] == "TERM"
        assert (
            alice.http.delete(
                f"/api/v1/resources/{rid}/processes/{pid}", headers={"X-CSRF-Token": alice.csrf}
            ).status_code
            == 204
        )
        assert alice.http.get(f"/api/v1/resources/{rid}/processes").json()["processes"] == []
    finally:
        server.kill()


def test_a_terminal_answers_and_others_see_nothing(
    sshd: SshServer, runtime_dir: str, tmp_path: Path
) -> None:
    server = RunningServer(tmp_path, env=env_of(runtime_dir))
    try:
        server.start()
        server.wait_until_healthy()
        admin = Browser(server, "admin", ADMIN_PASSWORD)
        rid = admin.add_key_resource("shell", sshd)
        pid = start(admin, rid, pty=True, cols=100, rows=40)
        output = Output()
        with attach(admin, rid, pid) as socket:
            socket.send(b"echo hello-$((6*7)); stty size\n")
            output.take(socket, lambda o: b"hello-42" in o.data and b"40 100" in o.data)
            socket.send(json.dumps({"type": "resize", "cols": 120, "rows": 30}))
            socket.send(b"stty size\n")
            output.take(socket, lambda o: b"30 120" in o.data)
            socket.send(b"exit 3\n")
            output.take(socket, lambda o: any(m["type"] == "exit" for m in o.messages))
        assert next(m for m in output.messages if m["type"] == "exit")["exit_status"] == 3

        # Another labgate user mapped to the same remote account (a shared resource) has
        # the same daemon there, yet sees none of this user's processes.
        made = admin.post(
            "/api/v1/users", json={"username": "bob", "password": "bob's long password"}
        )
        assert made.status_code == 201, made.text
        admin.post("/api/v1/groups", json={"name": "team"})
        admin.http.put("/api/v1/groups/team/members/bob", headers={"X-CSRF-Token": admin.csrf})
        shared = admin.post(
            "/api/v1/resources",
            json={
                "name": "shared-shell",
                "host": sshd.host,
                "port": sshd.port,
                "auth_method": "key",
                "shared": True,
                "groups": ["team"],
                "account_rule": sshd.user.name,
            },
        ).json()["id"]
        admin.post(
            f"/api/v1/resources/{shared}/host-keys",
            json={"host": sshd.host, "port": sshd.port, "public_key": sshd.host_public_key},
        )
        bob = Browser(server, "bob", "bob's long password")
        for user in (admin, bob):
            remembered = user.put(
                f"/api/v1/resources/{shared}/remembered-keys/target",
                json={"private_key": sshd.client_key_path.read_text()},
            )
            assert remembered.status_code == 200, remembered.text
        admin_pid = start(admin, shared, command="sleep 300", name="admin-only")
        assert bob.http.get(f"/api/v1/resources/{shared}/processes").json()["processes"] == []
        refused = bob.post(
            f"/api/v1/resources/{shared}/processes/{admin_pid}/signal", json={"signal": "KILL"}
        )
        assert refused.status_code == 404
        with attach(bob, shared, admin_pid) as socket:
            failed = json.loads(socket.recv(timeout=20))
        assert failed["type"] == "failed"
        assert failed["error"]["code"] == "not_found"
        admin.post(
            f"/api/v1/resources/{shared}/processes/{admin_pid}/signal", json={"signal": "KILL"}
        )
    finally:
        server.kill()


def test_two_replicas_reach_the_same_daemon(
    sshd: SshServer, runtime_dir: str, tmp_path: Path, postgres_dsn: str
) -> None:
    with contextlib.ExitStack() as stack:
        dsn = stack.enter_context(postgres.fresh_database(postgres_dsn))
        env = env_of(runtime_dir, LABGATE_DATABASE_URL=dsn)
        first, second = stack.enter_context(two_replicas(tmp_path, env))
        on_a = Browser(first, "admin", ADMIN_PASSWORD)
        on_b = Browser(second, "admin", ADMIN_PASSWORD)
        rid = on_a.add_key_resource("replicated", sshd)
        pid = start(on_a, rid, command="for i in 1 2 3; do echo from-a-$i; done; sleep 300")
        # The second server connects by itself (the remembered key is sealed with the
        # shared secret) and finds the process the first one started.
        listing = on_b.http.get(f"/api/v1/resources/{rid}/processes")
        assert listing.status_code == 200, listing.text
        assert [p["id"] for p in listing.json()["processes"]] == [pid]
        output = Output()
        with attach(on_b, rid, pid) as socket:
            output.take(socket, lambda o: b"from-a-3" in o.data)
        assert re.findall(rb"from-a-\d", output.data) == [b"from-a-1", b"from-a-2", b"from-a-3"]
        on_b.post(f"/api/v1/resources/{rid}/processes/{pid}/signal", json={"signal": "KILL"})
