"""Sharing a terminal (labgate.sessions.terminal_share, labgate.api.terminal_shares,
labgate.launchers.terminal), end to end: alice's terminal on the test account of a real
sshd, labgate served by uvicorn in-process on both databases, the recipients' sockets
opened by the test as a browser would.

A USER's typing reaches the shell (a file appears on the resource) while a GUEST's raw
frames, resizes and signals are dropped by the server; both watch the output live;
revoking a share closes that person's socket; someone never invited is refused; the
terminal is not launchable; stopping the share leaves the terminal running, and the
terminal's end ends the share.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from labgate.api.processes import OUTPUT_FRAME
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.remote_files import account_dir, add_ssh_resource
from tests.support.serving import close_of, serving
from tests.support.sshd import SshServer

DEADLINE_SECONDS = 2.0


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-tshare-") as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(
        update={"agent_runtime_dir": runtime_dir, "app_reconcile_seconds": 1}
    )


@dataclass
class Shared:
    """alice's terminal ``process_id`` on resource ``rid``, shared as ``session_id`` with
    bob (user) and carol (guest); dave was never invited. Served at ``url``."""

    url: str
    rid: int
    process_id: str
    session_id: str
    alice: LoggedIn
    bob: LoggedIn
    carol: LoggedIn
    dave: LoggedIn
    work: Path

    async def socket(self, who: LoggedIn) -> ClientConnection:
        cookie = "; ".join(f"{k}={v}" for k, v in who.http.cookies.items())
        return await connect(
            self.url.replace("http", "ws", 1) + f"/api/v1/sessions/{self.session_id}/terminal",
            additional_headers={"Cookie": cookie},
            origin=Origin(self.url),
            open_timeout=PATIENCE_SECONDS,
            max_size=None,
        )

    async def process(self) -> dict[str, Any] | None:
        listing = await self.alice.get(f"/api/v1/resources/{self.rid}/processes")
        assert listing.status_code == 200, listing.text
        found = [p for p in listing.json()["processes"] if p["id"] == self.process_id]
        return found[0] if found else None

    async def session(self) -> dict[str, Any]:
        answer = await self.alice.get(f"/api/v1/sessions/{self.session_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


async def share_with(alice: LoggedIn, session_id: str, username: str, role: str) -> int:
    made = await alice.post(
        f"/api/v1/sessions/{session_id}/shares", json={"user": username, "role": role}
    )
    assert made.status_code == 201, made.text
    share_id: int = made.json()["id"]
    return share_id


@pytest.fixture
async def shared(app: Any, accounts: AccountFactory, sshd: SshServer) -> AsyncIterator[Shared]:
    alice = await accounts.login("alice")
    bob, carol, dave = [await accounts.login(name) for name in ("bob", "carol", "dave")]
    rid = await add_ssh_resource(alice, sshd, "box")
    started = await alice.post(f"/api/v1/resources/{rid}/processes", json={"pty": True})
    assert started.status_code == 201, started.text
    process_id = started.json()["id"]
    made = await alice.post(f"/api/v1/resources/{rid}/processes/{process_id}/share")
    assert made.status_code == 201, made.text
    session_id = made.json()["id"]
    assert (made.json()["view"], made.json()["state"]) == ("terminal", "running")
    await share_with(alice, session_id, "bob", "user")
    await share_with(alice, session_id, "carol", "guest")
    with account_dir(sshd.user) as work:
        async with serving(app) as url:
            yield Shared(url, rid, process_id, session_id, alice, bob, carol, dave, work)


class Screen:
    """What one socket shows: the terminal's output, read in the background."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.data = b""
        self.messages: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.socket:
            if isinstance(frame, str):
                self.messages.append(json.loads(frame))
            else:
                self.data += frame[OUTPUT_FRAME.size :]

    async def shows(self, text: bytes) -> None:
        await eventually(lambda: text in self.data, what=f"{text!r} on the screen")

    async def close(self) -> None:
        await self.socket.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


async def test_a_users_typing_reaches_the_shell_and_a_guests_never_does(shared: Shared) -> None:
    bob = Screen(await shared.socket(shared.bob))
    carol = Screen(await shared.socket(shared.carol))
    try:
        await eventually(lambda: bob.messages and carol.messages, what="both attached")
        assert [m["type"] for m in carol.messages] == ["attached"]
        guest_file = shared.work / "from-carol"
        # What carol's browser could send, raw: typing, a resize, Ctrl-C as a signal.
        await carol.socket.send(f"touch {guest_file}; echo guest-$((6*7))\n".encode())
        await carol.socket.send(json.dumps({"type": "resize", "cols": 33, "rows": 11}))
        await carol.socket.send(json.dumps({"type": "signal", "signal": "KILL"}))
        # Then bob types (his frames come after hers, so hers were handled first).
        user_file = shared.work / "from-bob"
        await bob.socket.send(f"touch {user_file}; echo user-$((6*7))\n".encode())
        await eventually(user_file.exists, what="bob's file on the resource")
        await bob.shows(b"user-42")
        await carol.shows(b"user-42")  # the guest watches, live
        assert not guest_file.exists()
        assert b"guest-" not in bob.data + carol.data  # not even echoed by the terminal
        process = await shared.process()
        assert process is not None
        assert process["running"]
        assert (process["cols"], process["rows"]) == (80, 24)
        # Bob, a user, may resize it.
        await bob.socket.send(json.dumps({"type": "resize", "cols": 100, "rows": 30}))

        async def resized() -> bool:
            found = await shared.process()
            return found is not None and found["cols"] == 100

        await eventually(resized, what="bob's resize")
    finally:
        await bob.close()
        await carol.close()


async def test_revoking_a_share_closes_that_persons_socket_at_once(shared: Shared) -> None:
    sharing = (await shared.alice.get(f"/api/v1/sessions/{shared.session_id}/sharing")).json()
    [bobs] = [s for s in sharing["shares"] if s["user"] and s["user"]["username"] == "bob"]
    bob = await shared.socket(shared.bob)
    carol = Screen(await shared.socket(shared.carol))
    try:
        await eventually(lambda: carol.messages, what="carol attached")

        async def bob_connected() -> bool:
            now = await shared.alice.get(f"/api/v1/sessions/{shared.session_id}/sharing")
            return any(c["user"]["username"] == "bob" for c in now.json()["connected"])

        await eventually(bob_connected, what="bob among those connected")
        revoked = await shared.alice.delete(
            f"/api/v1/sessions/{shared.session_id}/shares/{bobs['id']}"
        )
        assert revoked.status_code == 204, revoked.text
        assert await close_of(bob, DEADLINE_SECONDS) == (4403, "access_withdrawn")
        # Carol's share stands, and so does her socket.
        await shared.alice.post(
            f"/api/v1/resources/{shared.rid}/processes/{shared.process_id}/signal",
            json={"signal": "WINCH"},
        )
        assert not carol.socket.close_code
        again = await shared.socket(shared.bob)
        assert (await close_of(again, DEADLINE_SECONDS))[0] in (4403, 4404)
    finally:
        await bob.close()
        await carol.close()


async def test_someone_never_invited_is_refused(shared: Shared) -> None:
    dave = await shared.socket(shared.dave)
    code, _reason = await close_of(dave, DEADLINE_SECONDS)
    assert code in (4403, 4404)
    assert (await shared.dave.get(f"/api/v1/sessions/{shared.session_id}")).status_code == 404
    theirs = await shared.dave.post(
        f"/api/v1/resources/{shared.rid}/processes/{shared.process_id}/share"
    )
    assert theirs.status_code == 404
    bobs = await shared.bob.post(
        f"/api/v1/resources/{shared.rid}/processes/{shared.process_id}/share"
    )
    assert bobs.status_code == 404  # the resource is alice's, not bob's
    listed = (await shared.bob.get("/api/v1/sessions")).json()["sessions"]
    [mine] = [s for s in listed if s["id"] == shared.session_id]
    assert (mine["view"], mine["my_role"], mine["owner"]["username"]) == (
        "terminal",
        "user",
        "alice",
    )
    assert shared.session_id not in {
        s["id"] for s in (await shared.dave.get("/api/v1/sessions")).json()["sessions"]
    }


async def test_sharing_again_gives_the_same_session_and_only_terminals_are_shared(
    shared: Shared,
) -> None:
    again = await shared.alice.post(
        f"/api/v1/resources/{shared.rid}/processes/{shared.process_id}/share"
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == shared.session_id
    command = await shared.alice.post(
        f"/api/v1/resources/{shared.rid}/processes", json={"command": "sleep 60"}
    )
    plain = command.json()["id"]
    refused = await shared.alice.post(f"/api/v1/resources/{shared.rid}/processes/{plain}/share")
    assert refused.status_code == 422
    assert "Only a terminal" in refused.json()["error"]["message"]
    missing = await shared.alice.post(f"/api/v1/resources/{shared.rid}/processes/nope/share")
    assert missing.status_code == 404
    await shared.alice.post(
        f"/api/v1/resources/{shared.rid}/processes/{plain}/signal", json={"signal": "KILL"}
    )


async def test_a_shared_terminal_is_not_launchable(shared: Shared) -> None:
    templates = (await shared.alice.get("/api/v1/app-templates")).json()["templates"]
    assert "terminal" not in {t["id"] for t in templates}
    assert all("terminal" not in t["launchers"] for t in templates)
    launchers = await shared.alice.get(f"/api/v1/resources/{shared.rid}/launchers")
    assert "terminal" not in {x["name"] for x in launchers.json()["launchers"]}
    for template, launcher in (("terminal", "direct"), ("webapp", "terminal")):
        answer = await shared.alice.post(
            "/api/v1/sessions",
            json={
                "template": template,
                "launcher": launcher,
                "resource_id": shared.rid,
                "form": {"app_command": "true", "process_id": shared.process_id},
            },
        )
        assert answer.status_code == 422, answer.text


async def test_stopping_the_share_leaves_the_terminal_running(shared: Shared) -> None:
    carol = await shared.socket(shared.carol)
    try:
        stopped = await shared.alice.post(f"/api/v1/sessions/{shared.session_id}/stop")
        assert stopped.status_code == 200, stopped.text

        async def ended() -> bool:
            return (await shared.session())["state"] == "stopped"

        await eventually(ended, what="the share-session stopped")
        code, _reason = await close_of(carol, DEADLINE_SECONDS)
        assert code == 4403
        process = await shared.process()
        assert process is not None
        assert process["running"]
        refused = await shared.socket(shared.bob)
        assert (await close_of(refused, DEADLINE_SECONDS))[0] in (4403, 4404, 4410)
        # Shared again: a new session.
        anew = await shared.alice.post(
            f"/api/v1/resources/{shared.rid}/processes/{shared.process_id}/share"
        )
        assert anew.status_code == 201
        assert anew.json()["id"] != shared.session_id
    finally:
        await carol.close()


async def test_the_share_ends_when_the_terminal_ends(shared: Shared) -> None:
    bob = Screen(await shared.socket(shared.bob))
    try:
        await eventually(lambda: bob.messages, what="bob attached")
        await bob.socket.send(b"exit\n")  # bob, a user, closes alice's shell

        async def ended() -> bool:
            return (await shared.session())["state"] == "stopped"

        await eventually(ended, what="the share-session ended with the terminal")
        session = await shared.session()
        assert session["message"] == "The terminal was closed."
        assert "exit" in [m["type"] for m in bob.messages]
        theirs = (await shared.bob.get("/api/v1/sessions")).json()["sessions"]
        assert shared.session_id not in {s["id"] for s in theirs}
    finally:
        await bob.close()


async def test_the_proxy_sends_a_shared_terminals_visitor_to_its_pane(shared: Shared) -> None:
    """``/s/<id>/`` of a shared terminal answers as a desktop's does: it is no web app
    (and not one still starting: it has no endpoint ever)."""
    for who in (shared.alice, shared.bob):
        answer = await who.get(f"/s/{shared.session_id}/", headers={"accept": "application/json"})
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "not_a_web_app"
        assert "Terminal" in answer.json()["error"]["message"]
    stranger = await shared.dave.get(
        f"/s/{shared.session_id}/", headers={"accept": "application/json"}
    )
    assert stranger.json()["error"]["code"] != "not_a_web_app"
