"""A real VNC server and a small RFB client, for the desktop bridge's tests and benchmark.

- :func:`running_xvnc`: TigerVNC's Xvnc on a Unix socket only (no TCP port), with VNC
  authentication and a password of the test's, started and stopped by PID.
- :class:`RfbClient`: RFB 3.8 over any byte :class:`Wire` (a WebSocket through labgate,
  or a stream straight to the socket): the handshake with security None or VNC
  authentication, ServerInit, key, pointer and clipboard messages, update requests and
  reading the server's messages (raw framebuffer updates).
- :class:`DesktopTemplates`: a plug-in with a desktop template, for an app whose row the
  tests write themselves (no launch), and :func:`desktop_session`, that row.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import struct
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from websockets.asyncio.client import ClientConnection

from labgate.db.engine import Database
from labgate.db.models import SessionState
from labgate.db.types import utcnow
from labgate.desktops import rfb
from labgate.launching.template import AppTemplate
from labgate.plugins import hookimpl
from labgate.sessions.tokens import SessionTokens
from tests.support.eventually import PATIENCE_SECONDS
from tests.support.proxied import session_row

#: The template the tests' desktop sessions name (a plug-in of the tests').
TEMPLATE_ID = "test-desktop"
KEY_RETURN = 0xFF0D
RAW = 0
DESKTOP_SIZE = -223
_START_SECONDS = 30.0


# -- Xvnc ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Xvnc:
    display: str
    socket: Path
    pid: int

    @property
    def environment(self) -> dict[str, str]:
        """An environment for X programs on this display."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DISPLAY": self.display}


def xvnc_available() -> bool:
    return shutil.which("Xvnc") is not None and shutil.which("vncpasswd") is not None


@contextlib.contextmanager
def running_xvnc(
    workdir: Path, password: str, *, geometry: str = "800x600", extra: tuple[str, ...] = ()
) -> Iterator[Xvnc]:
    """Xvnc on ``workdir``/vnc.sock (0600, no TCP port), VNC authentication with
    ``password``, several viewers at once; killed by PID afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    password_file = workdir / "passwd"
    stored = subprocess.run(
        ["vncpasswd", "-f"], input=password.encode() + b"\n", capture_output=True, check=True
    ).stdout
    password_file.write_bytes(stored)
    password_file.chmod(0o600)
    socket = workdir / "vnc.sock"
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [
            "Xvnc",
            "-rfbunixpath",
            str(socket),
            "-rfbunixmode",
            "0600",
            "-rfbport",
            "-1",
            "-SecurityTypes",
            "VncAuth",
            "-PasswordFile",
            str(password_file),
            "-AlwaysShared",
            "-nolisten",
            "tcp",
            "-geometry",
            geometry,
            "-displayfd",
            str(write_end),
            *extra,
        ],
        pass_fds=(write_end,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "xvnc.log").open("wb"),
        start_new_session=True,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as displayfd:
            number = displayfd.readline().strip()
        if not number:
            raise RuntimeError(f"Xvnc did not start: {(workdir / 'xvnc.log').read_text()}")
        yield Xvnc(f":{number.decode()}", socket, process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=_START_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


# -- the RFB client ------------------------------------------------------------------------


class Wire(Protocol):
    """Bytes both ways."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes: ...


class WebSocketWire:
    """RFB in binary WebSocket messages (labgate's desktop socket, or websockify)."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def send(self, data: bytes) -> None:
        await self.socket.send(data)

    async def receive(self) -> bytes:
        message = await self.socket.recv()
        assert isinstance(message, bytes), f"a text message on a desktop socket: {message!r}"
        return message


class StreamWire:
    """RFB straight over a stream (the VNC server's own socket)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def unix(cls, path: Path) -> StreamWire:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self) -> bytes:
        data = await self.reader.read(1 << 20)
        if not data:
            raise EOFError("the VNC server closed the connection")
        return data

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@dataclass(frozen=True)
class ServerInit:
    width: int
    height: int
    bits_per_pixel: int
    name: str


@dataclass(frozen=True)
class ServerMessage:
    """One message of the server: its type and, for a framebuffer update, its
    rectangles (x, y, width, height, encoding); for cut text, the text."""

    kind: int
    rectangles: tuple[tuple[int, int, int, int, int], ...] = ()
    text: bytes = b""
    #: A framebuffer update's raw pixels, one rectangle after the other (when kept).
    raw: bytes = b""

    @property
    def pixels(self) -> int:
        """How many pixels the update's rectangles cover (Xvnc sends a large area as
        several strips)."""
        return sum(w * h for _, _, w, h, _ in self.rectangles)


class RfbRefused(Exception):
    """The server refused the handshake (its reason)."""


class RfbClient:
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self._buffer = bytearray()
        self.server_init: ServerInit | None = None
        #: The security types the server offered.
        self.offered: bytes = b""

    async def read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._buffer += await self.wire.receive()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def skip(self, n: int) -> None:
        while n:
            if not self._buffer:
                self._buffer += await self.wire.receive()
            taken = min(n, len(self._buffer))
            del self._buffer[:taken]
            n -= taken

    async def handshake(self, password: str | None = None, *, shared: bool = True) -> ServerInit:
        """RFB 3.8: None when ``password`` is None, else VNC authentication."""
        version = await self.read(12)
        assert rfb.parse_version(version) >= (3, 8), version
        await self.wire.send(rfb.VERSION_3_8)
        count = (await self.read(1))[0]
        if count == 0:
            raise RfbRefused(await self._reason())
        self.offered = await self.read(count)
        wanted = rfb.SECURITY_NONE if password is None else rfb.SECURITY_VNC_AUTH
        assert wanted in self.offered, f"the server offers {list(self.offered)}"
        await self.wire.send(bytes([wanted]))
        if password is not None:
            challenge = await self.read(16)
            await self.wire.send(rfb.vnc_auth_response(password, challenge))
        if rfb.u32(await self.read(4)) != rfb.SECURITY_OK:
            raise RfbRefused(await self._reason())
        await self.wire.send(b"\x01" if shared else b"\x00")
        width, height, pixel_format, name_length = rfb.SERVER_INIT.unpack(
            await self.read(rfb.SERVER_INIT.size)
        )
        name = (await self.read(name_length)).decode("utf-8", "replace")
        self.server_init = ServerInit(width, height, pixel_format[0], name)
        return self.server_init

    async def _reason(self) -> str:
        length = rfb.u32(await self.read(4))
        return (await self.read(length)).decode("utf-8", "replace")

    async def set_encodings(self, *encodings: int) -> None:
        await self.wire.send(struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings))

    async def request_update(
        self, *, incremental: bool = False, area: tuple[int, int, int, int] | None = None
    ) -> None:
        assert self.server_init is not None
        x, y, w, h = area or (0, 0, self.server_init.width, self.server_init.height)
        await self.wire.send(struct.pack(">BBHHHH", 3, int(incremental), x, y, w, h))

    async def key(self, keysym: int, down: bool) -> None:
        await self.wire.send(struct.pack(">BBxxI", 4, int(down), keysym))

    async def type(self, text: str) -> None:
        """Each character pressed and released (Latin-1 keysyms; newline is Return)."""
        for char in text:
            keysym = KEY_RETURN if char == "\n" else ord(char)
            await self.key(keysym, True)
            await self.key(keysym, False)

    async def pointer(self, x: int, y: int, buttons: int = 0) -> None:
        await self.wire.send(struct.pack(">BBHH", 5, buttons, x, y))

    async def cut_text(self, text: bytes) -> None:
        await self.wire.send(struct.pack(">BxxxI", 6, len(text)) + text)

    async def fence(self, payload: bytes, flags: int = 0x80000002) -> None:
        """A ClientFence with the Request bit (and, by default, SyncNext): the server
        answers with a ServerFence carrying ``payload`` back."""
        await self.wire.send(struct.pack(">BxxxIB", 248, flags, len(payload)) + payload)

    async def message(self, *, keep_pixels: bool = False) -> ServerMessage:
        """The server's next message; a framebuffer update's pixels are skipped, or kept
        in its ``raw``."""
        kind = (await self.read(1))[0]
        if kind == 0:  # FramebufferUpdate
            count = struct.unpack(">xH", await self.read(3))[0]
            rectangles = []
            kept: list[bytes] = []
            for _ in range(count):
                x, y, w, h, encoding = struct.unpack(">HHHHi", await self.read(12))
                rectangles.append((x, y, w, h, encoding))
                if encoding == RAW:
                    assert self.server_init is not None
                    size = w * h * self.server_init.bits_per_pixel // 8
                    if keep_pixels:
                        kept.append(await self.read(size))
                    else:
                        await self.skip(size)
                elif encoding != DESKTOP_SIZE:
                    raise AssertionError(f"an encoding the test did not ask for: {encoding}")
            return ServerMessage(kind, tuple(rectangles), raw=b"".join(kept))
        if kind == 1:  # SetColourMapEntries
            count = struct.unpack(">xxxH", await self.read(5))[0]
            await self.skip(6 * count)
            return ServerMessage(kind)
        if kind in (2, 150):  # Bell, EndOfContinuousUpdates
            return ServerMessage(kind)
        if kind == 3:  # ServerCutText
            length = rfb.u32((await self.read(7))[3:])
            if length & 0x80000000:
                length = 0x100000000 - length
            return ServerMessage(kind, text=await self.read(length))
        if kind == 248:  # ServerFence
            flags_and_length = await self.read(8)
            return ServerMessage(kind, text=await self.read(flags_and_length[7]))
        raise AssertionError(f"an unknown server message type {kind}")

    async def update(self, *, keep_pixels: bool = False) -> ServerMessage:
        """The next framebuffer update (other messages before it are skipped)."""
        async with asyncio.timeout(PATIENCE_SECONDS):
            while True:
                found = await self.message(keep_pixels=keep_pixels)
                if found.kind == 0:
                    return found


async def raw_client(wire: Wire, password: str | None) -> RfbClient:
    """A client past the handshake that asked for raw pixels only."""
    client = RfbClient(wire)
    await client.handshake(password)
    await client.set_encodings(RAW, DESKTOP_SIZE)
    return client


# -- a desktop session without a launch ------------------------------------------------------


class DesktopTemplates:
    """A plug-in with one desktop template (the tests write its sessions' rows)."""

    @hookimpl
    def register_app_templates(self) -> list[AppTemplate]:
        return [
            AppTemplate(
                id=TEMPLATE_ID,
                title="Test desktop",
                description="Xvnc started by a test.",
                command="true",
                listen="socket",
                ready_path="",
                keeps_base_path=False,
                view="desktop",
                guest_view=True,  # as the built-in desktop: the bridge holds guests to watching
            )
        ]


async def desktop_session(
    database: Database,
    tokens: SessionTokens,
    owner: str,
    socket: Path,
    token: str,
    *,
    template: str = TEMPLATE_ID,
    state: SessionState = SessionState.RUNNING,
) -> str:
    """A session of ``owner`` on ``local`` whose app is the VNC server at ``socket``, with
    ``token`` (its password is ``app_password(token)``), as if ``template`` had started
    it; its id. Its last activity was a day ago; its lease keeps the reconciler away."""
    return await session_row(
        database,
        tokens,
        owner,
        template=template,
        endpoint={"kind": "unix", "path": str(socket)},
        title="A desktop",
        token=token,
        state=state,
        last_activity_at=utcnow() - timedelta(days=1),
    )


@contextlib.asynccontextmanager
async def straight_to(xvnc: Xvnc, password: str) -> AsyncIterator[RfbClient]:
    """A client on the VNC server's own socket (VNC authentication), closed afterwards."""
    wire = await StreamWire.unix(xvnc.socket)
    try:
        yield await raw_client(wire, password)
    finally:
        await wire.close()
