"""HTTP/1.1 to an app over a tunnel stream (an SSH channel to its socket or port, or a
local connection), with the connections kept alive and reused.

h11 does the protocol; bodies stream both ways in pieces, never whole. A connection goes
back to its pool only after a complete exchange that both sides want to keep alive; any
error closes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import h11

from labgate.transport.base import ByteReader, StreamWriter

READ_BYTES = 256 * 1024
# Idle connections kept per app; more concurrent requests open more, then close them.
POOL_SIZE = 64

Headers = Sequence[tuple[bytes, bytes]]
Opener = Callable[[], Awaitable[tuple[ByteReader, StreamWriter]]]


class UpstreamError(ConnectionError):
    """The app closed the connection or answered something that is not HTTP."""


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    reason: bytes
    connection: UpstreamConnection

    def body(self) -> AsyncIterator[bytes]:
        return self.connection.body()


class UpstreamConnection:
    def __init__(self, reader: ByteReader, writer: StreamWriter, pool: UpstreamPool) -> None:
        self.reader = reader
        self.writer = writer
        self.pool = pool
        self.h11 = h11.Connection(our_role=h11.CLIENT)
        self.closed = False

    async def _send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def _next_event(self) -> h11.Event | type[h11.NEED_DATA]:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            data = await self.reader.read(READ_BYTES)
            self.h11.receive_data(data)
            if not data and self.h11.their_state is h11.SEND_RESPONSE:
                raise UpstreamError("The app closed the connection without answering.")

    async def request(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: AsyncIterator[bytes] | None,
    ) -> Response:
        """Send the request (its body streamed) and read the response's head."""
        try:
            await self._send(h11.Request(method=method, target=target, headers=list(headers)))
            if body is not None:
                async for piece in body:
                    if piece:
                        await self._send(h11.Data(data=piece))
            await self._send(h11.EndOfMessage())
            while True:
                event = await self._next_event()
                if isinstance(event, h11.InformationalResponse):
                    continue  # 100 Continue and the like: the final answer follows
                if isinstance(event, h11.Response):
                    return Response(event.status_code, list(event.headers), event.reason, self)
                raise UpstreamError(f"Unexpected answer from the app: {event!r}")
        except (h11.ProtocolError, OSError, ConnectionError) as exc:
            self.close()
            raise UpstreamError(str(exc) or type(exc).__name__) from exc

    async def body(self) -> AsyncIterator[bytes]:
        """The response body in pieces; then the connection is kept or closed."""
        try:
            while True:
                event = await self._next_event()
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise UpstreamError(f"Unexpected answer from the app: {event!r}")
        except BaseException:
            self.close()
            raise
        self.release()

    def release(self) -> None:
        """Back to the pool if both sides are done and want to go on, else closed."""
        if not self.closed and self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            try:
                self.h11.start_next_cycle()
            except h11.LocalProtocolError:
                self.close()
                return
            self.pool.put(self)
        else:
            self.close()

    def detach(self) -> tuple[ByteReader, StreamWriter, bytes]:
        """Take the raw stream (after a 101 Switching Protocols), with any bytes h11 had
        already read past the response head."""
        self.closed = True
        trailing, _ = self.h11.trailing_data
        return self.reader, self.writer, bytes(trailing)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.close()


class UpstreamPool:
    """Connections to one app. ``opener`` makes a new stream to it."""

    def __init__(self, opener: Opener, size: int = POOL_SIZE) -> None:
        self.opener = opener
        self.size = size
        self._idle: list[UpstreamConnection] = []

    async def connection(self) -> UpstreamConnection:
        """An idle kept-alive connection, or a new one."""
        while self._idle:
            candidate = self._idle.pop()
            if not candidate.closed and not candidate.writer.is_closing():
                return candidate
            candidate.close()
        return await self.connection_new()

    async def connection_new(self) -> UpstreamConnection:
        reader, writer = await self.opener()
        return UpstreamConnection(reader, writer, self)

    def put(self, connection: UpstreamConnection) -> None:
        if len(self._idle) < self.size:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
