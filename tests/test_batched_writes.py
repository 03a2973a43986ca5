"""Writes gathered per turn of the event loop: one write underneath, in order, nothing
lost or held past the turn; uvicorn's response head and body in one write; a real TCP
connection carrying it all."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.responses import PlainTextResponse
from uvicorn.server import ServerState

from labgate.batched_writes import BatchedTransport
from labgate.http.protocol import BatchedHttpToolsProtocol
from tests.support.eventually import eventually


class Recorder(asyncio.Transport):
    """The transport underneath: what reached it, and what was asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def write_eof(self) -> None:
        self.calls.append("write_eof")

    def close(self) -> None:
        self.calls.append("close")

    def abort(self) -> None:
        self.calls.append("abort")

    def is_closing(self) -> bool:
        return "close" in self.calls

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def get_write_buffer_size(self) -> int:
        return 7

    def pause_reading(self) -> None:
        self.calls.append("pause_reading")

    def resume_reading(self) -> None:
        self.calls.append("resume_reading")

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol


async def test_what_is_written_in_one_turn_leaves_in_one_write_at_its_end() -> None:
    inner = Recorder()
    batched = BatchedTransport(inner, asyncio.get_running_loop())
    batched.write(b"ignore;")
    batched.write(bytearray(b"data;"))
    batched.writelines([b"more", memoryview(b";end")])
    assert inner.writes == []
    assert batched.get_write_buffer_size() == 7 + len(b"ignore;data;more;end")
    await asyncio.sleep(0)
    assert inner.writes == [b"ignore;data;more;end"]
    batched.write(b"next turn")
    await asyncio.sleep(0)
    assert inner.writes == [b"ignore;data;more;end", b"next turn"]
    await asyncio.sleep(0)
    assert len(inner.writes) == 2  # nothing written twice


async def test_close_and_eof_write_what_waits_first_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    inner = Recorder()
    batched = BatchedTransport(inner, loop)
    batched.write(b"last words")
    batched.write_eof()
    assert inner.writes == [b"last words"]
    assert inner.calls == ["write_eof"]
    batched.write(b"goodbye")
    batched.close()
    assert inner.writes == [b"last words", b"goodbye"]
    assert batched.is_closing()

    aborted = Recorder()
    batched = BatchedTransport(aborted, loop)
    batched.write(b"never sent")
    batched.abort()
    await asyncio.sleep(0)
    assert aborted.writes == []
    assert aborted.calls == ["abort"]


async def test_a_write_to_a_connection_that_has_gone_is_dropped_quietly() -> None:
    class Gone(Recorder):
        def write(self, data: Any) -> None:
            raise BrokenPipeError

    batched = BatchedTransport(Gone(), asyncio.get_running_loop())
    batched.write(b"too late")
    await asyncio.sleep(0)  # no exception escapes into the event loop's callback
    assert batched.get_write_buffer_size() == 7


async def test_everything_else_is_the_transport_underneath() -> None:
    inner = Recorder()
    batched = BatchedTransport(inner, asyncio.get_running_loop())
    assert batched.get_extra_info("peername") == ("127.0.0.1", 40000)
    assert batched.get_extra_info("socket", "none") == "none"
    batched.pause_reading()
    batched.resume_reading()
    assert inner.calls == ["pause_reading", "resume_reading"]
    protocol = asyncio.Protocol()
    batched.set_protocol(protocol)
    assert inner.protocol is protocol


async def test_over_tcp_every_byte_arrives_in_order() -> None:
    received = bytearray()
    done = asyncio.Event()
    total = sum(len(b"%d," % n) for n in range(5000))

    class Sink(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            received.extend(data)
            if len(received) >= total:
                done.set()

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    batched = BatchedTransport(transport, loop)
    try:
        for n in range(5000):  # not a wait: every thousand writes, the loop runs once
            batched.write(b"%d," % n)
            if n % 1000 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(done.wait(), 10)
        assert bytes(received) == b"".join(b"%d," % n for n in range(5000))
    finally:
        batched.close()
        server.close()
        await server.wait_closed()


async def test_uvicorn_answers_a_small_request_in_one_write() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("hello")(scope, receive, send)

    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    config.load()
    inner = Recorder()
    protocol = BatchedHttpToolsProtocol(
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    protocol.connection_made(inner)
    protocol.data_received(b"GET /x HTTP/1.1\r\nHost: labgate\r\n\r\n")
    await eventually(lambda: inner.writes, what="the answer written")
    await asyncio.sleep(0)  # one more turn of the loop: no second write follows
    assert len(inner.writes) == 1, inner.writes
    head, _, body = inner.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: 5" in head
    assert body == b"hello"
    protocol.connection_lost(None)
