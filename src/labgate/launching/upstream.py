"""HTTP/1.1 to an app over a tunnel stream (an SSH channel to its socket or port, or a
local connection), with the connections kept alive and reused.

The request is written as it comes (its head from headers uvicorn has already parsed,
its body streamed, chunked when the browser's was); the answer is parsed by httptools
(llhttp, in C, as uvicorn parses the browsers' requests). Bodies stream both ways in
pieces, never whole. A connection goes back to its pool only after a complete exchange
that both sides want to keep alive; any error closes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import httptools

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


class _Answer:
    """The answer to one request, as httptools parses it (these are its callbacks): the
    final response's head, then its body in pieces. Informational answers (100 Continue)
    are passed over."""

    def __init__(self, head_only: bool) -> None:
        self.head_only = head_only  # the answer to a HEAD request: no body follows
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.status = 0
        self.head_done = False
        self.complete = False
        self.pieces: list[bytes] = []
        self.framed = False  # a Content-Length or chunked body (else it ends at EOF)
        self.keep_alive = False  # what the app said (asked while its head is parsed)
        self._informational = False
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.reason = b""
        self.headers = []

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._informational = True
            return
        self.status = status
        self.head_done = True
        self.keep_alive = parser.should_keep_alive()
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                self.framed = True

    def on_body(self, body: bytes) -> None:
        self.pieces.append(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self.complete = True


def _request_head(method: bytes, target: bytes, headers: Headers) -> tuple[bytes, int | None, bool]:
    """The request's head as the app gets it, and how its body is framed: its
    Content-Length, and whether it is chunked."""
    length: int | None = None
    chunked = False
    head = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if name == b"content-length":
            if not value.strip().isdigit():
                raise UpstreamError(f"The request's Content-Length is not a number: {value!r}")
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
        head += (name, b": ", value, b"\r\n")
    head.append(b"\r\n")
    return b"".join(head), length, chunked


class UpstreamConnection:
    def __init__(self, reader: ByteReader, writer: StreamWriter, pool: UpstreamPool) -> None:
        self.reader = reader
        self.writer = writer
        self.pool = pool
        self.exchanges = 0  # complete request-response exchanges so far (reused if > 0)
        self.closed = False
        self._answer: _Answer | None = None
        self._ended = False  # the app closed its side

    def _feed(self, data: bytes) -> None:
        assert self._answer is not None
        try:
            self._answer.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise UpstreamError("The app switched protocols on a plain request.") from None
        except httptools.HttpParserError as exc:
            raise UpstreamError(f"The app's answer is not HTTP: {exc}") from None

    async def _read(self) -> bool:
        """Read and parse more of the answer; False when the app closed its side."""
        data = await self.reader.read(READ_BYTES)
        if not data:
            self._ended = True
            return False
        self._feed(data)
        return True

    async def request(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: AsyncIterator[bytes] | None,
    ) -> Response:
        """Send the request (its body streamed) and read the response's head."""
        answer = self._answer = _Answer(head_only=method == b"HEAD")
        try:
            head, length, chunked = _request_head(method, target, headers)
            self.writer.write(head)
            if body is not None:
                await self._send_body(body, length, chunked)
            await self.writer.drain()
            while not answer.head_done:
                if not await self._read():
                    raise UpstreamError("The app closed the connection without answering.")
            return Response(answer.status, answer.headers, answer.reason, self)
        except UpstreamError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise UpstreamError(str(exc) or type(exc).__name__) from exc

    async def _send_body(
        self, body: AsyncIterator[bytes], length: int | None, chunked: bool
    ) -> None:
        sent = 0
        async for piece in body:
            if not piece:
                continue
            sent += len(piece)
            if chunked:
                self.writer.write(b"%x\r\n%b\r\n" % (len(piece), piece))
            else:
                if length is not None and sent > length:
                    raise UpstreamError("The request's body is longer than its Content-Length.")
                self.writer.write(piece)
            await self.writer.drain()
        if chunked:
            self.writer.write(b"0\r\n\r\n")
        elif length is not None and sent != length:
            raise UpstreamError("The request's body is shorter than its Content-Length.")

    async def body(self) -> AsyncIterator[bytes]:
        """The response body in pieces; then the connection is kept or closed."""
        answer = self._answer
        assert answer is not None
        try:
            if answer.head_only:
                # Bytes after the head of a HEAD answer are not HTTP.
                return_to_pool = not answer.pieces
            else:
                while True:
                    if answer.pieces:
                        pieces, answer.pieces = answer.pieces, []
                        for piece in pieces:
                            yield piece
                    if answer.complete:
                        break
                    if not await self._read():
                        if answer.framed:
                            raise UpstreamError("The app closed the connection mid-answer.")
                        break  # a body that ends where the connection does
                return_to_pool = answer.complete and not self._ended
        except BaseException:
            self.close()
            raise
        if return_to_pool:
            self.release()
        else:
            self.close()

    def release(self) -> None:
        """Back to the pool if the app wants to go on, else closed."""
        answer = self._answer
        if self.closed or answer is None or not answer.keep_alive:
            self.close()
            return
        self.exchanges += 1
        self._answer = None
        self.pool.put(self)

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
