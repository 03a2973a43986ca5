"""The desktop WebSocket (``/api/v1/sessions/{id}/desktop``) end to end: labgate served by
uvicorn in-process on both databases, a real Xvnc (VNC authentication with the session's
password) on a Unix socket reached through the local resource, and an RFB client in the
test as the browser.

The browser is offered security None only and gets the desktop's ServerInit; typed keys
reach a program on the desktop and clipboard text its X selection, and both count as
activity while update requests do not; a view-only viewer's keys and clipboard never
arrive; several viewers watch at once; the socket closes when the login ends; refusals
come as 4xxx close codes (another user's session, not a desktop, not running, ended, a
desktop that refuses labgate's password)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

from labgate.api import desktops as desktop_api
from labgate.app import create_app
from labgate.auth.principal import Principal
from labgate.db.engine import Database
from labgate.db.models import AppSession, SessionState
from labgate.desktops.access import DesktopAccess, desktop_access
from labgate.launching.template import app_password
from labgate.plugins.manager import Plugins
from labgate.proxy.routes import RouteTable
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.asgi import websocket_answer, websocket_scope
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.local_accounts import map_local_to_root
from tests.support.processes import skip_unless_root
from tests.support.rfb import (
    DESKTOP_SIZE,
    RAW,
    DesktopTemplates,
    RfbClient,
    WebSocketWire,
    Xvnc,
    desktop_session,
    raw_client,
    running_xvnc,
    straight_to,
    xvnc_available,
)
from tests.support.serving import close_of, serving

pytestmark = pytest.mark.skipif(not xvnc_available(), reason="TigerVNC's Xvnc is not installed")

TOKEN = "the session's token, for its desktop's password"
PASSWORD = app_password(TOKEN)


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-desktop-") as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    skip_unless_root("Xvnc's socket reached as local's root account")
    return settings.model_copy(
        update={"agent_runtime_dir": runtime_dir, "local_resource": "everyone"}
    )


@pytest.fixture
async def app(settings: Settings, database: Database) -> AsyncIterator[Any]:
    """labgate with a desktop template (tests/support/rfb.py) among its templates."""
    plugins = Plugins.load(settings, extra=[DesktopTemplates()])
    application = create_app(settings, database=database, bootstrap=False, plugins=plugins)
    async with application.router.lifespan_context(application):
        await map_local_to_root(database)
        yield application


@pytest.fixture
def xvnc(tmp_path: Path) -> Iterator[Xvnc]:
    with running_xvnc(tmp_path / "xvnc", PASSWORD) as server:
        yield server


@dataclass
class Desk:
    """Alice's running desktop session, served at ``url``."""

    url: str
    session_id: str
    alice: LoggedIn
    xvnc: Xvnc
    state: Any

    @property
    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.alice.http.cookies.items())

    @contextlib.asynccontextmanager
    async def socket(
        self, headers: dict[str, str] | None = None
    ) -> AsyncIterator[ClientConnection]:
        """The desktop's WebSocket as alice's browser opens it (her cookie, labgate's
        origin), or with ``headers`` instead."""
        async with connect(
            self.url.replace("http", "ws", 1) + f"/api/v1/sessions/{self.session_id}/desktop",
            additional_headers=headers or {"Cookie": self.cookie},
            origin=None if headers else Origin(self.url),
            subprotocols=[Subprotocol("binary")],
            max_size=None,
        ) as opened:
            yield opened

    @contextlib.asynccontextmanager
    async def viewer(self, headers: dict[str, str] | None = None) -> AsyncIterator[RfbClient]:
        """An RFB client through the desktop's WebSocket, past the handshake."""
        async with self.socket(headers) as opened:
            yield await raw_client(WebSocketWire(opened), None)


@pytest.fixture
async def desk(app: Any, accounts: AccountFactory, xvnc: Xvnc) -> AsyncIterator[Desk]:
    alice = await accounts.login("alice")
    state = app.state.labgate
    session_id = await desktop_session(
        state.database, state.session_tokens, "alice", xvnc.socket, TOKEN
    )
    async with serving(app) as url:
        yield Desk(url, session_id, alice, xvnc, state)


def _x(xvnc: Xvnc, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=xvnc.environment, capture_output=True, text=True, timeout=30, check=False
    )


@contextlib.contextmanager
def typist(xvnc: Xvnc, output: Path) -> Iterator[None]:
    """An xterm over the whole desktop (so it has the keyboard wherever the pointer is)
    whose ``cat`` writes what is typed, line by line, to ``output``; stopped by PID
    afterwards."""
    output.touch()
    process = subprocess.Popen(
        ["xterm", "-geometry", "200x80+0+0", "-title", "typist", "-e", f"cat > {output}"],
        env=xvnc.environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.kill()
        process.wait()


async def _typist_is_up(xvnc: Xvnc) -> None:
    await eventually(
        lambda: _x(xvnc, "xwininfo", "-name", "typist").returncode == 0, what="the xterm mapped"
    )


def _clipboard(xvnc: Xvnc) -> str:
    return _x(xvnc, "xclip", "-o", "-selection", "clipboard").stdout


async def _last_activity(state: Any, session_id: str) -> Any:
    await state.activity.close()  # the writes already under way are done
    async with state.database.read() as db:
        return await db.scalar(
            select(AppSession.last_activity_at).where(AppSession.id == session_id)
        )


async def test_the_browser_is_asked_no_password_and_gets_the_desktops_screen(desk: Desk) -> None:
    async with desk.socket() as opened:
        assert opened.subprotocol == "binary"
        client = RfbClient(WebSocketWire(opened))
        init = await client.handshake(None)
        assert client.offered == bytes([1])  # None, and nothing else
        assert (init.width, init.height) == (800, 600)
        await client.set_encodings(0)
        await client.request_update()
        assert (await client.update()).pixels == 800 * 600


async def test_keys_and_clipboard_reach_the_desktop_and_count_as_activity(
    desk: Desk, tmp_path: Path
) -> None:
    typed = tmp_path / "typed.txt"
    before = await _last_activity(desk.state, desk.session_id)
    with typist(desk.xvnc, typed):
        await _typist_is_up(desk.xvnc)
        async with desk.viewer() as client:
            # Update requests are not a person at work.
            await client.request_update()
            await client.update()
            assert await _last_activity(desk.state, desk.session_id) == before
            await client.pointer(100, 100)
            await client.type("typed in the browser\n")
            await client.cut_text(b"copied in the browser")
            await eventually(
                lambda: typed.read_text() == "typed in the browser\n", what="the keys in the file"
            )
            await eventually(
                lambda: _clipboard(desk.xvnc) == "copied in the browser", what="the clipboard"
            )
    assert await _last_activity(desk.state, desk.session_id) > before


# The extended clipboard (RFB community extension), which noVNC speaks whenever the VNC
# server offers it, as TigerVNC's does: the pseudo-encoding, and the flags' actions and
# the text format.
EXTENDED_CLIPBOARD = -1063131698  # 0xC0A1E5CE
CAPS, REQUEST, PEEK, NOTIFY, PROVIDE = (1 << n for n in range(24, 29))
TEXT = 1


def _extended_cut_text(flags: int, payload: bytes = b"") -> bytes:
    """A ClientCutText of the extension: its length negated, then the flags."""
    body = struct.pack(">I", flags) + payload
    return struct.pack(">BxxxI", 6, -len(body) & 0xFFFFFFFF) + body


def _provided_text(text: str) -> bytes:
    data = text.encode() + b"\0"
    return zlib.compress(struct.pack(">I", len(data)) + data)


async def _as_novnc(client: RfbClient, local_text: str, from_desktop: asyncio.Queue[str]) -> None:
    """What noVNC answers to the server's clipboard messages: its capabilities, its own
    text when asked (Provide), a Request when the desktop has new text, whose text then
    goes into ``from_desktop``."""
    while True:
        message = await client.message()
        if message.kind != 3:
            continue
        flags = struct.unpack(">I", message.text[:4])[0]
        if flags & CAPS:
            await client.wire.send(
                _extended_cut_text(CAPS | REQUEST | PEEK | NOTIFY | PROVIDE | TEXT, bytes(4))
            )
        elif flags & REQUEST and flags & TEXT:
            await client.wire.send(_extended_cut_text(PROVIDE | TEXT, _provided_text(local_text)))
        elif flags & NOTIFY and flags & TEXT:
            await client.wire.send(_extended_cut_text(REQUEST | TEXT))
        elif flags & PROVIDE:
            # A flushed stream, not a finished one: a decompressor takes what came.
            data = zlib.decompressobj().decompress(message.text[4:])
            size = struct.unpack(">I", data[:4])[0]
            await from_desktop.put(data[4 : 4 + size].rstrip(b"\0").decode())


async def _clipboard_meanwhile(xvnc: Xvnc, expected: str) -> bool:
    """Whether an X program pastes ``expected``, while the test's viewer goes on answering
    (the paste waits for its Provide)."""
    paste = await asyncio.create_subprocess_exec(
        "xclip", "-o", "-selection", "clipboard", env=xvnc.environment, stdout=subprocess.PIPE
    )
    async with asyncio.timeout(PATIENCE_SECONDS):
        out, _ = await paste.communicate()
    return out.decode() == expected


async def test_the_extended_clipboard_both_ways_as_novnc_speaks_it(desk: Desk) -> None:
    """The browser announces its text (Notify, a ClientCutText whose length is negative),
    the desktop asks for it when an X program pastes (Request) and gets it zlib-compressed
    (Provide); and text copied on the desktop comes the other way."""
    from_desktop: asyncio.Queue[str] = asyncio.Queue()
    copier = None
    async with desk.viewer() as client:
        await client.set_encodings(0, EXTENDED_CLIPBOARD)
        answering = asyncio.create_task(_as_novnc(client, "pasted in the browser", from_desktop))
        try:
            await client.wire.send(_extended_cut_text(NOTIFY | TEXT))
            await eventually(
                lambda: _clipboard_meanwhile(desk.xvnc, "pasted in the browser"),
                what="the browser's text pasted on the desktop",
            )
            copier = subprocess.Popen(
                ["xclip", "-quiet", "-selection", "clipboard", "-i"],
                env=desk.xvnc.environment,
                stdin=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert copier.stdin is not None
            copier.stdin.write(b"copied on the desktop")
            copier.stdin.close()
            async with asyncio.timeout(PATIENCE_SECONDS):
                assert await from_desktop.get() == "copied on the desktop"
        finally:
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answering
            if copier is not None:
                copier.kill()
                copier.wait()


@pytest.fixture
def tokens_view_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the sharing of sessions will: some callers watch only. Here, whoever comes with
    an API token (alice's token: a stand-in for a guest)."""

    async def deciding(routes: RouteTable, session_id: str, principal: Principal) -> DesktopAccess:
        access = await desktop_access(routes, session_id, principal)
        return replace(access, view_only=principal.via == "token")

    monkeypatch.setattr(desktop_api, "desktop_access", deciding)


async def _token_headers(alice: LoggedIn) -> dict[str, str]:
    made = await alice.post(
        "/api/v1/tokens", json={"name": "viewer", "scopes": ["read", "write"], "expires_in_days": 1}
    )
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['secret']}"}


@pytest.mark.usefixtures("tokens_view_only")
async def test_a_view_only_viewer_watches_but_its_keys_and_clipboard_never_arrive(
    desk: Desk, tmp_path: Path
) -> None:
    typed = tmp_path / "typed.txt"
    before = await _last_activity(desk.state, desk.session_id)
    with typist(desk.xvnc, typed):
        await _typist_is_up(desk.xvnc)
        async with (
            desk.viewer(await _token_headers(desk.alice)) as guest,
            desk.viewer() as owner,
        ):
            await guest.pointer(700, 500)
            await guest.type("guest\n")
            await guest.cut_text(b"the guest's")
            # Answered after the guest's messages went wherever they went: the guest sees.
            await guest.request_update()
            assert (await guest.update()).pixels == 800 * 600
            assert _clipboard(desk.xvnc) != "the guest's"
            assert await _last_activity(desk.state, desk.session_id) == before
            await owner.type("owner\n")
            await eventually(lambda: typed.read_text() == "owner\n", what="the owner's keys only")


async def test_several_viewers_at_once(desk: Desk) -> None:
    async with desk.viewer() as first, desk.viewer() as second, desk.viewer() as third:
        for client in (first, second, third, first):
            await client.request_update()
            assert (await client.update()).pixels == 800 * 600
    # And beside a client on the VNC server's own socket (shared too).
    async with straight_to(desk.xvnc, PASSWORD) as direct, desk.viewer() as through:
        await direct.request_update()
        await through.request_update()
        assert (await direct.update()).pixels == (await through.update()).pixels == 800 * 600


async def test_the_proxy_sends_a_desktops_visitor_to_its_pane(desk: Desk) -> None:
    """``/s/<id>/`` of a desktop says where the desktop is shown (its VNC server would
    not understand HTTP)."""
    answer = await desk.alice.get(f"/s/{desk.session_id}/", headers={"accept": "application/json"})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "not_a_web_app"
    assert "Sessions" in answer.json()["error"]["message"]


async def test_the_desktop_closes_when_the_login_ends(desk: Desk) -> None:
    async with desk.socket() as opened:
        await raw_client(WebSocketWire(opened), None)
        logout = await desk.alice.post("/api/v1/auth/logout")
        assert logout.status_code == 204, logout.text
        assert await close_of(opened, PATIENCE_SECONDS) == (4401, "login_ended")


async def test_an_unknown_message_closes_with_its_reason(desk: Desk) -> None:
    async with desk.socket() as opened:
        client = await raw_client(WebSocketWire(opened), None)
        await client.wire.send(bytes([7, 0, 0, 0]))
        assert await close_of(opened, PATIENCE_SECONDS) == (4400, "rfb_unknown_message")


async def test_clipboard_text_over_a_mebibyte_closes_with_its_reason(desk: Desk) -> None:
    async with desk.socket() as opened:
        client = await raw_client(WebSocketWire(opened), None)
        await client.cut_text(b"x" * (1024 * 1024 + 1))
        assert await close_of(opened, PATIENCE_SECONDS) == (4413, "clipboard_too_big")


# -- refusals (the handshake is closed before it is accepted, so in-process) ---------------


async def _refusal(app: Any, session_id: str, cookie: str) -> Any:
    scope = websocket_scope(
        f"/api/v1/sessions/{session_id}/desktop",
        [(b"cookie", cookie.encode()), (b"origin", b"http://testserver")],
    )
    return await websocket_answer(app, scope)


def _cookie(user: LoggedIn) -> str:
    return "; ".join(f"{k}={v}" for k, v in user.http.cookies.items())


async def test_refusals(app: Any, accounts: AccountFactory, xvnc: Xvnc) -> None:
    state = app.state.labgate
    alice = await accounts.login("alice")
    bob = await accounts.login("bob")

    async def session(**kwargs: Any) -> str:
        return await desktop_session(
            state.database, state.session_tokens, "alice", xvnc.socket, TOKEN, **kwargs
        )

    running = await session()
    assert await _refusal(app, running, "") == 4401
    assert await _refusal(app, running, _cookie(bob)) == 4403
    assert await _refusal(app, "nosuchsession000", _cookie(alice)) == 4404
    assert await _refusal(app, await session(template="webapp"), _cookie(alice)) == 4404
    assert await _refusal(app, await session(state=SessionState.STARTING), _cookie(alice)) == 4503
    assert await _refusal(app, await session(state=SessionState.STOPPED), _cookie(alice)) == 4410
    cross_site = websocket_scope(
        f"/api/v1/sessions/{running}/desktop",
        [(b"cookie", _cookie(alice).encode()), (b"origin", b"http://elsewhere.example")],
    )
    assert await websocket_answer(app, cross_site) == 4403


async def test_a_desktop_that_refuses_the_sessions_password_is_a_clear_close(
    app: Any, accounts: AccountFactory, tmp_path: Path
) -> None:
    state = app.state.labgate
    alice = await accounts.login("alice")
    with running_xvnc(tmp_path / "other", "not-it!!") as other:
        session_id = await desktop_session(
            state.database, state.session_tokens, "alice", other.socket, TOKEN
        )
        scope = websocket_scope(
            f"/api/v1/sessions/{session_id}/desktop",
            [(b"cookie", _cookie(alice).encode()), (b"origin", b"http://testserver")],
        )
        # The reason is an error code the desktop pane can act on.
        assert await _close_reason(app, scope) == (4502, "desktop_auth_failed")
    # Its VNC server gone, nothing answers on the socket any more.
    assert await _close_reason(app, scope) == (4503, "app_unreachable")


async def test_a_desktop_s_refusal_is_logged_as_one_short_line(
    app: Any, accounts: AccountFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What listens on a desktop's socket is its owner's to choose: the reason it gives
    for refusing labgate must not forge lines in labgate's log, nor fill it."""
    state = app.state.labgate
    alice = await accounts.login("alice")
    forged = "\n12:00:00 WARNING labgate.auth: root logged in from 10.0.0.1\r\n"
    reason = ("no" + forged + "x" * 4000).encode()

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"RFB 003.008\n")
        await reader.readexactly(12)  # labgate's version
        writer.write(b"\x00" + len(reason).to_bytes(4, "big") + reason)
        await writer.drain()
        writer.close()

    socket_path = tmp_path / "refusing.sock"
    server = await asyncio.start_unix_server(refuse, path=str(socket_path))
    try:
        session_id = await desktop_session(
            state.database, state.session_tokens, "alice", socket_path, TOKEN
        )
        scope = websocket_scope(
            f"/api/v1/sessions/{session_id}/desktop",
            [(b"cookie", _cookie(alice).encode()), (b"origin", b"http://testserver")],
        )
        with caplog.at_level(logging.INFO, logger="labgate.desktops.bridge"):
            assert await _close_reason(app, scope) == (4502, "desktop_refused")
    finally:
        server.close()
        await server.wait_closed()
    [logged] = [r.getMessage() for r in caplog.records if "refused labgate" in r.getMessage()]
    assert "\n" not in logged
    assert "\r" not in logged
    assert "root logged in" in logged  # kept, as text on the one line
    assert len(logged) < 400


async def _close_reason(app: Any, scope: dict[str, Any]) -> tuple[int, str]:
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    try:
        # Accepted, then closed at once with nothing sent (so that a browser sees the code).
        first = await asyncio.wait_for(outbox.get(), PATIENCE_SECONDS)
        assert first["type"] == "websocket.accept", first
        closed = await asyncio.wait_for(outbox.get(), PATIENCE_SECONDS)
        assert closed["type"] == "websocket.close", closed
        return int(closed["code"]), str(closed.get("reason", ""))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.usefixtures("tokens_view_only")
async def test_a_view_only_viewer_keeps_watching_while_another_resizes_the_desktop(
    desk: Desk,
) -> None:
    """The owner's pane follows its size (SetDesktopSize); a viewer who only watches is
    told the new size, not dropped."""
    viewer_headers = await _token_headers(desk.alice)
    async with desk.viewer() as owner, desk.viewer(viewer_headers) as viewer:
        for client in (owner, viewer):
            await client.set_encodings(RAW, DESKTOP_SIZE)
            await client.request_update()
            assert (await client.update()).pixels == 800 * 600
        await owner.wire.send(
            struct.pack(">BxHHBx", 251, 1024, 700, 1)
            + struct.pack(">IHHHHI", 0, 0, 0, 1024, 700, 0)
        )
        await viewer.request_update(incremental=True)
        resized = await viewer.update()
        assert resized.rectangles[0][2:] == (1024, 700, DESKTOP_SIZE), resized
