"""A WebSocket through the proxy: labgate opens the app's WebSocket first (so the app's
choice of subprotocol, or its refusal, is what the browser gets), then relays messages
both ways until either side closes. Pings and close handshakes are answered on each hop
by its own end.

The app's side speaks through the websockets library's sans-I/O protocol over the
tunnel stream; the browser's side is uvicorn's ASGI WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from starlette.types import Receive, Scope, Send
from websockets.client import ClientProtocol
from websockets.exceptions import PayloadTooBig
from websockets.frames import Frame, Opcode
from websockets.http11 import Response as HandshakeResponse
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from labgate.errors import LabgateError
from labgate.launching.upstream import Opener
from labgate.proxy import headers as header_rules
from labgate.transport.base import ByteReader, StreamWriter

log = logging.getLogger(__name__)

READ_BYTES = 256 * 1024
# Close code and reason when the app sends a message over the limit (the setting
# proxy_websocket_max_message_bytes). ASGI sends only whole messages, so a larger one
# cannot be passed on in pieces; the protocol refuses it from its frame header, before
# its payload is read.
MESSAGE_TOO_BIG = 1009
TOO_BIG_REASON = "message_too_big"
_HANDSHAKE_HEADERS = {
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-extensions",
    b"sec-websocket-protocol",
    b"host",
}


class UpstreamRefused(ConnectionError):
    def __init__(self, status: int) -> None:
        super().__init__(f"the app refused the WebSocket (HTTP {status})")
        self.status = status


class _AppSide:
    def __init__(self, reader: ByteReader, writer: StreamWriter, protocol: ClientProtocol) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = protocol

    async def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
            else:  # the protocol wants the stream half-closed
                with contextlib.suppress(OSError):
                    self.writer.write_eof()
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def events(self) -> list[object]:
        data = await self.reader.read(READ_BYTES)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        await self.flush()
        return list(self.protocol.events_received())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def _open_app_side(
    scope: Scope,
    opener: Opener,
    target: bytes,
    auth: tuple[bytes, bytes] | None,
    forwarded_for: str,
    max_message_bytes: int,
) -> tuple[_AppSide, HandshakeResponse]:
    host = "localhost"
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
    offered = [
        Subprotocol(p.strip())
        for name, value in scope["headers"]
        if name == b"sec-websocket-protocol"
        for p in value.decode("latin-1").split(",")
        if p.strip()
    ]
    protocol = ClientProtocol(
        parse_uri(f"ws://{host}{target.decode('latin-1')}"),
        subprotocols=offered or None,
        max_size=max_message_bytes,
    )
    request = protocol.connect()
    kept = header_rules.to_app(
        [(n, v) for n, v in scope["headers"] if n not in _HANDSHAKE_HEADERS],
        auth=auth,
        forwarded_for=forwarded_for,
        forwarded_proto="https" if scope.get("scheme") == "wss" else "http",
    )
    for name, value in kept:
        request.headers[name.decode("latin-1")] = value.decode("latin-1")
    reader, writer = await opener()
    side = _AppSide(reader, writer, protocol)
    protocol.send_request(request)
    await side.flush()
    while True:
        for event in await side.events():
            if isinstance(event, HandshakeResponse):
                if protocol.state is not State.OPEN:
                    side.close()
                    raise UpstreamRefused(event.status_code)
                return side, event
        if protocol.state is State.CLOSED:
            side.close()
            raise UpstreamRefused(502)


async def relay_websocket(
    scope: Scope,
    receive: Receive,
    send: Send,
    opener: Opener,
    *,
    target: bytes,
    auth: tuple[bytes, bytes] | None,
    forwarded_for: str,
    max_message_bytes: int,
    on_activity: Callable[[], None] | None = None,
) -> None:
    """Relay until one side closes. The browser's handshake must not have been accepted
    yet: it is accepted (with the app's subprotocol) only once the app accepted. A
    message from the app over ``max_message_bytes`` closes both sides with 1009."""
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    try:
        app, handshake = await _open_app_side(
            scope, opener, target, auth, forwarded_for, max_message_bytes
        )
    except UpstreamRefused as exc:
        log.info("websocket to %s refused: %s", scope["path"], exc)
        await send({"type": "websocket.close", "code": 1011, "reason": "The app refused."})
        return
    except (OSError, ConnectionError) as exc:
        log.info("websocket to %s: app unreachable: %s", scope["path"], exc)
        await send({"type": "websocket.close", "code": 1011, "reason": "The app is unreachable."})
        return
    except LabgateError as exc:
        # The resource could not be reached. The handshake was taken from ``receive``
        # above: answer it here (as the proxy's 502, in a 4xxx code), or the browser
        # would wait for an answer that never comes.
        log.info("websocket to %s: resource unreachable: %s", scope["path"], exc)
        await send({"type": "websocket.close", "code": 4502, "reason": exc.code})
        return
    subprotocol = handshake.headers.get("Sec-WebSocket-Protocol")
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    browser_task = asyncio.create_task(_browser_to_app(receive, app, on_activity))
    app_task = asyncio.create_task(_app_to_browser(app, send))
    try:
        done, _ = await asyncio.wait({browser_task, app_task}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.exception() is not None and not isinstance(
                task.exception(), (ConnectionError, OSError)
            ):
                log.warning("websocket relay for %s ended: %r", scope["path"], task.exception())
    finally:
        for task in (browser_task, app_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        app.close()
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": 1000})


async def _browser_to_app(
    receive: Receive, app: _AppSide, on_activity: Callable[[], None] | None
) -> None:
    while True:
        message = await receive()
        if on_activity is not None:
            on_activity()
        kind = message["type"]
        if kind == "websocket.disconnect":
            code = int(message.get("code") or 1000)
            with contextlib.suppress(Exception):
                app.protocol.send_close(
                    code if code in _SENDABLE_CODES or 3000 <= code < 5000 else 1000
                )
                await app.flush()
            return
        if kind != "websocket.receive":
            continue
        if message.get("text") is not None:
            app.protocol.send_text(message["text"].encode())
        elif message.get("bytes") is not None:
            app.protocol.send_binary(message["bytes"])
        await app.flush()


_SENDABLE_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


async def _app_to_browser(app: _AppSide, send: Send) -> None:
    pieces: list[bytes] = []
    opcode: Opcode | None = None
    while app.protocol.state is not State.CLOSED:
        events = await app.events()
        if isinstance(app.protocol.parser_exc, PayloadTooBig):
            # The protocol told the app (1009) and discards the rest: the browser learns
            # the same at once, without waiting for the app to hang up.
            log.info("websocket: the app sent too big a message: %s", app.protocol.parser_exc)
            await send(
                {"type": "websocket.close", "code": MESSAGE_TOO_BIG, "reason": TOO_BIG_REASON}
            )
            return
        for event in events:
            if not isinstance(event, Frame):
                continue
            if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                opcode, pieces = event.opcode, [bytes(event.data)]
            elif event.opcode is Opcode.CONT:
                pieces.append(bytes(event.data))
            elif event.opcode is Opcode.CLOSE:
                code = app.protocol.close_code or 1000
                await send({"type": "websocket.close", "code": code if code != 1005 else 1000})
                return
            else:
                continue  # ping and pong: answered by the protocol itself
            if event.fin and opcode is not None:
                data = b"".join(pieces)
                if opcode is Opcode.TEXT:
                    await send({"type": "websocket.send", "text": data.decode("utf-8")})
                else:
                    await send({"type": "websocket.send", "bytes": data})
                pieces, opcode = [], None
    await send({"type": "websocket.close", "code": 1011})
