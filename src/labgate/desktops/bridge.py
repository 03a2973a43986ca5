"""The RFB bridge: a browser's desktop WebSocket joined to the session's VNC server.

```
browser (noVNC) ──WS binary frames──▶ bridge ──stream through the resource's transport──▶ VNC
   RFB 3.8, security None              │         (SSH channel to its Unix socket, a batch
                                       │          job's relay, or a local socket)
                                       └─ labgate logs in upstream itself (VNC
                                          authentication with the session's password)
```

1. Before the browser's handshake is accepted, labgate opens a fresh stream to the app's
   endpoint (:meth:`Endpoint.open <labgate.launching.launcher.Endpoint.open>`, not the
   proxy's HTTP pool), speaks RFB 3.8 to the VNC server, answers its challenge with the
   session's password (:func:`labgate.launching.template.app_password`, derived from the
   session's token: never sent to the browser) and sends ClientInit with the shared flag,
   so that several viewers watch one desktop. A desktop that cannot be reached or that
   refuses labgate ends the handshake with a 4503 or 4502 close code.
2. To the browser, labgate is a VNC server that asks for no password (security type
   None): the browser was authenticated and authorised at the handshake. Its ClientInit
   is read and dropped.
3. Then the server's bytes (ServerInit first) go to the browser as they come, unparsed.
   The browser's go through :class:`~labgate.desktops.rfb.ClientMessages`, which finds
   each message's end, drops a view-only viewer's input and notes a person's input as the
   session's activity.

Neither direction holds more than one read, or the browser's messages of one turn of the
event loop (at most :data:`GATHER_BYTES`), which go to the desktop in one write: a write
waits for the other side to take it (the stream's ``drain``, the WebSocket's send), and
the WebSocket server stops reading from a browser whose messages are not taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from labgate.auth.live_sockets import note_use
from labgate.desktops import rfb
from labgate.desktops.access import DesktopAccess
from labgate.errors import LabgateError
from labgate.launching.template import app_password
from labgate.state import AppState
from labgate.transport.base import ByteReader, StreamWriter

log = logging.getLogger(__name__)

#: Bytes read from the VNC server at once, sent to the browser as one message. 64 KiB,
#: as websockify sends: a message the size of a socket's buffer reaches the viewer whole
#: in one or two reads, where a larger one costs the viewer more to gather than it saves
#: the bridge (docs/performance.md, Desktops).
READ_BYTES = 64 * 1024
#: The most of the browser's messages held back to be written to the desktop together.
GATHER_BYTES = 64 * 1024
#: Each side's handshake must be over within this time.
HANDSHAKE_SECONDS = 20.0
#: The VNC server closed its end (it stopped; the session may be ending).
DESKTOP_CLOSED = (4502, "desktop_closed")
#: The subprotocol noVNC may offer; binary frames are all the bridge speaks anyway.
SUBPROTOCOL = "binary"


class BrowserLeft(Exception):
    """The browser closed its WebSocket during the handshake."""


async def serve_desktop(websocket: WebSocket, state: AppState, access: DesktopAccess) -> None:
    """Bridge ``websocket`` (not yet accepted) to the desktop ``access`` leads to, until
    either side ends."""
    route = access.route
    try:
        reader, writer = await _log_in(state, access)
    except rfb.RfbError as exc:
        log.info("desktop of session %s refused labgate: %r", route.session_id, exc.message)
        await _close(websocket, 4000 + exc.status, exc.code)
        return
    except LabgateError as exc:  # the resource could not be reached
        log.info("desktop of session %s: resource unreachable: %s", route.session_id, exc)
        await _close(websocket, 4503, exc.code)
        return
    except (OSError, EOFError) as exc:
        log.info("desktop of session %s unreachable: %r", route.session_id, exc)
        state.routes.drop(route.session_id)
        await _close(websocket, 4503, "app_unreachable")
        return
    try:
        await _accept(websocket)
        browser = _Browser(websocket)
        try:
            async with asyncio.timeout(HANDSHAKE_SECONDS):
                await _greet(browser)
        except BrowserLeft:
            return
        except TimeoutError:
            await _close(websocket, 4408, "rfb_handshake_timeout")
            return
        except rfb.RfbError as exc:
            await _close(websocket, 4000 + exc.status, exc.code)
            return
        ending = await _relay(websocket, state, access, reader, writer, browser.buffer)
    finally:
        with contextlib.suppress(Exception):
            writer.close()
    if ending is not None:
        await _close(websocket, *ending)


async def _log_in(state: AppState, access: DesktopAccess) -> tuple[ByteReader, StreamWriter]:
    """A fresh stream to the desktop, logged in and initialised (ClientInit sent)."""
    route = access.route
    assert route.endpoint is not None  # a running route has one (usable_route)
    transport = await state.connections.transport(route.plan)
    reader, writer = await route.endpoint.open(transport, route.token)
    try:
        async with asyncio.timeout(HANDSHAKE_SECONDS):
            await _log_in_upstream(reader, writer, app_password(route.token))
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()
        raise
    return reader, writer


async def _log_in_upstream(reader: ByteReader, writer: StreamWriter, password: str) -> None:
    """RFB 3.8 as the client: version, security (VNC authentication with ``password``, or
    None if that is all the server offers), the result, then ClientInit (shared)."""
    version = rfb.parse_version(await reader.readexactly(rfb.VERSION_LENGTH))
    if not rfb.speaks_3_8(version):
        raise rfb.RfbError(
            502, "desktop_protocol", f"The desktop speaks RFB {version[0]}.{version[1]}, not 3.8."
        )
    writer.write(rfb.VERSION_3_8)
    count = (await reader.readexactly(1))[0]
    if count == 0:
        reason = await _reason(reader)
        raise rfb.RfbError(502, "desktop_refused", f"The desktop refused labgate: {reason}")
    chosen = rfb.choose_security(await reader.readexactly(count))
    writer.write(bytes([chosen]))
    if chosen == rfb.SECURITY_VNC_AUTH:
        challenge = await reader.readexactly(rfb.CHALLENGE_LENGTH)
        writer.write(rfb.vnc_auth_response(password, challenge))
    await writer.drain()
    if rfb.u32(await reader.readexactly(4)) != rfb.SECURITY_OK:
        reason = await _reason(reader)
        raise rfb.RfbError(
            502,
            "desktop_auth_failed",
            f"The desktop did not accept the session's password: {reason}",
        )
    writer.write(rfb.CLIENT_INIT_SHARED)
    await writer.drain()


#: How much of a desktop's reason for refusing labgate is kept (logged, and in the error).
REASON_MAX_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


async def _reason(reader: ByteReader) -> str:
    """The reason the desktop gives, as one short line: what listens on the desktop's
    socket is the owner's to choose, so its text must not forge lines in labgate's log."""
    length = rfb.u32(await reader.readexactly(4))
    text = (await reader.readexactly(min(length, 4096))).decode("utf-8", "replace")
    line = _CONTROL.sub(" ", text).strip()
    return line if len(line) <= REASON_MAX_CHARS else line[: REASON_MAX_CHARS - 1] + "…"


class _Browser:
    """The browser's side during its handshake: the bytes of its binary messages, read a
    few at a time; ``buffer`` holds what came beyond what was read."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.buffer = b""

    async def readexactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise BrowserLeft
            self.buffer += _binary(message)
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    async def send(self, data: bytes) -> None:
        await self.websocket.send({"type": "websocket.send", "bytes": data})


def _binary(message: Mapping[str, Any]) -> bytes:
    data = message.get("bytes")
    if not isinstance(data, bytes):
        raise rfb.protocol_error("A desktop's WebSocket takes binary messages only.")
    return data


async def _greet(browser: _Browser) -> None:
    """RFB 3.8 as the server, asking for no password: the browser's WebSocket was
    authenticated and authorised at its handshake."""
    await browser.send(rfb.VERSION_3_8)
    version = rfb.parse_version(await browser.readexactly(rfb.VERSION_LENGTH))
    if version != (3, 8):
        raise rfb.RfbError(
            400, "rfb_version", f"labgate speaks RFB 3.8 only, not {version[0]}.{version[1]}."
        )
    await browser.send(bytes([1, rfb.SECURITY_NONE]))
    chosen = (await browser.readexactly(1))[0]
    if chosen != rfb.SECURITY_NONE:
        raise rfb.protocol_error(f"Security type {chosen} was not offered.")
    await browser.send(rfb.security_result(ok=True))
    await browser.readexactly(1)  # ClientInit: the server was asked for a shared desktop


async def _relay(
    websocket: WebSocket,
    state: AppState,
    access: DesktopAccess,
    reader: ByteReader,
    writer: StreamWriter,
    first: bytes,
) -> tuple[int, str] | None:
    """Both directions until one ends; the close code and reason for the browser (None:
    the browser left)."""
    session_id = access.route.session_id

    def on_input() -> None:
        # A person's key, pointer or clipboard reached the desktop: the session is in
        # use (idle detection), and so is the login (labgate.auth.live_sockets).
        state.activity.note(session_id)
        note_use()

    messages = rfb.ClientMessages(view_only=access.view_only)
    to_desktop = asyncio.create_task(_to_desktop(websocket, messages, writer, first, on_input))
    to_browser = asyncio.create_task(_to_browser(websocket, reader))
    try:
        await asyncio.wait({to_desktop, to_browser}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (to_desktop, to_browser):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if to_desktop.done() and not to_desktop.cancelled():
        error = to_desktop.exception()
        if error is None:
            return None  # the browser left
        if isinstance(error, rfb.RfbError):
            log.info("desktop of session %s: %s", session_id, error)
            return 4000 + error.status, error.code
        _log_unexpected(session_id, error)
        return DESKTOP_CLOSED
    if to_browser.done() and not to_browser.cancelled():
        error = to_browser.exception()
        if error is not None:
            _log_unexpected(session_id, error)
    return DESKTOP_CLOSED


def _log_unexpected(session_id: str, error: BaseException) -> None:
    if not isinstance(error, (ConnectionError, OSError)):
        log.warning("desktop of session %s: the bridge ended: %r", session_id, error)


async def _to_desktop(
    websocket: WebSocket,
    messages: rfb.ClientMessages,
    writer: StreamWriter,
    data: bytes,
    on_input: Callable[[], None],
) -> None:
    desktop = _Gathered(writer, on_input)
    try:
        while True:
            if data:
                await desktop.add(messages.feed(data))
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = _binary(message)
    finally:
        desktop.flush()


class _Gathered:
    """The browser's messages on their way to the desktop, written once per turn of the
    event loop.

    noVNC sends a message per pointer movement, and the WebSocket hands over every message
    that has arrived without waiting: written one by one, each would be a system call
    (and a wake-up of the VNC server) and each an activity note. Gathered until the end of
    the turn, they leave in one write and count as one note. No more than
    :data:`GATHER_BYTES` is held back; past it (a long clipboard text) the bytes are
    written at once, and the stream's back-pressure holds the browser as before."""

    def __init__(self, writer: StreamWriter, on_input: Callable[[], None]) -> None:
        self.writer = writer
        self.on_input = on_input
        self.pending: list[bytes] = []
        self.size = 0
        self.noted = False

    async def add(self, passed: rfb.Passed) -> None:
        if passed.input and not self.noted:
            self.noted = True
            self.on_input()
        if not passed.data:
            return
        first = not self.pending
        if first:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(passed.data)
        self.size += len(passed.data)
        if self.size >= GATHER_BYTES:
            self.flush()
        elif not first:
            return  # the turn's first message waited for the stream already
        await self.writer.drain()  # waits only while the stream's buffer is full

    def flush(self) -> None:
        self.noted = False
        if not self.pending:
            return
        pending, self.pending, self.size = self.pending, [], 0
        if not self.writer.is_closing():
            self.writer.write(pending[0] if len(pending) == 1 else b"".join(pending))


async def _to_browser(websocket: WebSocket, reader: ByteReader) -> None:
    while True:
        data = await reader.read(READ_BYTES)
        if not data:
            return
        await websocket.send({"type": "websocket.send", "bytes": data})


async def _accept(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)


async def refuse(websocket: WebSocket, code: int, reason: str) -> None:
    """Close ``websocket`` with ``code``, accepting it first if need be: a browser sees a
    handshake refused before acceptance only as a failed connection (1006), while the
    desktop pane needs the code to say why and to know whether to try again. Nothing is
    sent before the close."""
    await _close(websocket, code, reason)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # the browser may be gone already
        if websocket.client_state is WebSocketState.CONNECTING:
            await _accept(websocket)
        await websocket.close(code=code, reason=reason)
