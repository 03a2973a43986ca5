"""A TCP relay on 127.0.0.1 in front of a local port: the browser's network in a test,
which can really drop (every open connection reset mid-transfer, new ones refused) and
come back. Unlike the browser's offline emulation, the server sees what it would see:
a request body cut off part-way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

PIECE = 256 * 1024


class TcpRelay:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.down = False
        self.sent_upstream = 0
        """Bytes passed on from the clients to the target so far."""
        self.dropped = asyncio.Event()
        self._drop_at: int | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def drop_after(self, upstream_bytes: int) -> None:
        """Drop the network once this many more bytes went from the clients upstream."""
        self._drop_at = self.sent_upstream + upstream_bytes

    def drop(self) -> None:
        """Reset every open connection; refuse new ones until :meth:`restore`."""
        self.down = True
        self._drop_at = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        self.dropped.set()

    def restore(self) -> None:
        self.down = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.transport.abort()
            await self._server.wait_closed()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        if self.down:
            client.transport.abort()
            return
        try:
            target_reader, target = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client.transport.abort()
            return
        self._open.update((client, target))
        try:
            await asyncio.gather(
                self._pump(client_reader, target, upstream=True),
                self._pump(target_reader, client, upstream=False),
            )
        finally:
            for writer in (client, target):
                self._open.discard(writer)
                writer.transport.abort()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(PIECE):
                if self.down:
                    return
                writer.write(data)
                if upstream:
                    self.sent_upstream += len(data)
                    if self._drop_at is not None and self.sent_upstream >= self._drop_at:
                        self.drop()
                        return
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()


@contextlib.asynccontextmanager
async def tcp_relay(target_port: int) -> AsyncIterator[TcpRelay]:
    relay = TcpRelay(target_port)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()
