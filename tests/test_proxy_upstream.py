"""The proxy's HTTP/1.1 client (``labgate.launching.upstream``) against a scripted app on a
real socket: every way an answer can be framed, kept-alive connections, request bodies,
and apps that misbehave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import h11
import pytest

from labgate.launching.upstream import UpstreamError, UpstreamPool

HEADERS = [(b"host", b"app"), (b"accept", b"*/*")]
StartApp = Callable[..., Awaitable[tuple["App", UpstreamPool]]]


@dataclass
class Seen:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class App:
    """Answers each request with the next of ``answers`` (raw bytes, written as given);
    ``seen`` holds the requests, ``connections`` counts the connections made."""

    answers: list[bytes]
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        parser = h11.Connection(h11.SERVER)
        try:
            while self.answers:
                request: h11.Request | None = None
                body = b""
                while True:
                    event = parser.next_event()
                    if event is h11.NEED_DATA:
                        data = await reader.read(65536)
                        if not data:
                            return
                        parser.receive_data(data)
                    elif isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += bytes(event.data)
                    elif isinstance(event, h11.EndOfMessage):
                        break
                assert request is not None
                self.seen.append(Seen(request.method, request.target, list(request.headers), body))
                answer = self.answers.pop(0)
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower() or not answer:
                    return
                # h11 is told the exchange went well, whatever the script wrote.
                parser = h11.Connection(h11.SERVER)
        finally:
            writer.close()

    async def opener(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return await asyncio.open_connection("127.0.0.1", port)


@pytest.fixture
async def start_app() -> AsyncIterator[StartApp]:
    servers: list[asyncio.Server] = []
    pools: list[UpstreamPool] = []

    async def start(*answers: bytes) -> tuple[App, UpstreamPool]:
        app = App(list(answers))
        app.server = await asyncio.start_server(app._serve, "127.0.0.1", 0)
        servers.append(app.server)
        pool = UpstreamPool(app.opener)
        pools.append(pool)
        return app, pool

    yield start
    for pool in pools:
        pool.close()
    for server in servers:
        server.close()


def ok(body: bytes, *headers: bytes) -> bytes:
    head = b"".join(h + b"\r\n" for h in headers)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%b\r\n%b" % (len(body), head, body)


async def exchange(
    pool: UpstreamPool, method: bytes = b"GET", body: list[bytes] | None = None, **kw: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = list(HEADERS) + [(k.replace("_", "-").encode(), v) for k, v in kw.items()]

    async def pieces() -> AsyncIterator[bytes]:
        for piece in body or []:
            yield piece

    connection = await pool.connection()
    response = await connection.request(
        method, b"/s/x/api?q=1", headers, pieces() if body is not None else None
    )
    received = b"".join([piece async for piece in response.body()])
    return response.status, response.headers, received


async def test_answers_with_a_length_reuse_the_connection(start_app: StartApp) -> None:
    app, pool = await start_app(ok(b"first", b"X-A: 1"), ok(b"second"), ok(b""))
    status, headers, body = await exchange(pool)
    assert (status, body) == (200, b"first")
    assert (b"X-A", b"1") in headers or (b"x-a", b"1") in headers
    assert (await exchange(pool))[2] == b"second"
    assert (await exchange(pool, b"DELETE"))[2] == b""
    assert app.connections == 1
    assert [s.method for s in app.seen] == [b"GET", b"GET", b"DELETE"]
    assert app.seen[0].target == b"/s/x/api?q=1"


async def test_chunked_answers_arrive_whole(start_app: StartApp) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
    )
    app, pool = await start_app(chunked, ok(b"after"))
    assert (await exchange(pool))[2] == b"hello world"
    assert (await exchange(pool))[2] == b"after"
    assert app.connections == 1


async def test_an_answer_that_ends_with_the_connection(start_app: StartApp) -> None:
    app, pool = await start_app(
        b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nall of it, until the end", ok(b"new")
    )
    assert (await exchange(pool))[2] == b"all of it, until the end"
    assert (await exchange(pool))[2] == b"new"  # on a new connection
    assert app.connections == 2


async def test_head_and_no_content_answers_have_no_body(start_app: StartApp) -> None:
    app, pool = await start_app(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",  # to a HEAD: no body follows
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
        ok(b"still in step"),
    )
    status, headers, body = await asyncio.wait_for(exchange(pool, b"HEAD"), 5)
    assert (status, body) == (200, b"")
    assert [v for k, v in headers if k.lower() == b"content-length"] == [b"1234"]
    assert (await asyncio.wait_for(exchange(pool), 5))[:3:2] == (204, b"")
    assert (await asyncio.wait_for(exchange(pool), 5))[:3:2] == (304, b"")
    assert (await exchange(pool))[2] == b"still in step"
    assert app.connections == 1


async def test_informational_answers_are_passed_over(start_app: StartApp) -> None:
    _, pool = await start_app(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final"))
    status, _, body = await exchange(pool, b"POST", [b"data"], content_length=b"4")
    assert (status, body) == (200, b"final")


async def test_request_bodies_with_a_length_or_chunked(start_app: StartApp) -> None:
    app, pool = await start_app(ok(b"1"), ok(b"2"))
    await exchange(pool, b"PUT", [b"abc", b"", b"defg"], content_length=b"7")
    await exchange(pool, b"POST", [b"x" * 100_000, b"yz"], transfer_encoding=b"chunked")
    assert app.seen[0].body == b"abcdefg"
    assert app.seen[1].body == b"x" * 100_000 + b"yz"
    assert app.connections == 1


async def test_a_body_longer_than_its_length_is_refused(start_app: StartApp) -> None:
    _, pool = await start_app(ok(b""))
    with pytest.raises(UpstreamError):
        await exchange(pool, b"PUT", [b"abcdefgh"], content_length=b"3")


@pytest.mark.parametrize(
    ("pieces", "length"),
    [([b"ab"], b"3"), ([], b"1"), ([b"x"], b"one")],  # short, none at all, not a number
)
async def test_a_body_that_does_not_match_its_length_is_refused(
    start_app: StartApp, pieces: list[bytes], length: bytes
) -> None:
    _, pool = await start_app(ok(b""))
    with pytest.raises(UpstreamError):
        await exchange(pool, b"PUT", pieces, content_length=length)


@pytest.mark.parametrize(
    "answer",
    [
        b"",  # closes without a word
        b"this is not HTTP\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nab",
    ],
)
async def test_broken_answers_are_upstream_errors(
    start_app: StartApp,
    answer: bytes,
) -> None:
    _, pool = await start_app(answer)
    with pytest.raises(UpstreamError):
        await asyncio.wait_for(exchange(pool), 5)
