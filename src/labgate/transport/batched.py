"""An SSH connection's writes, gathered until the event loop's next turn.

asyncssh hands every SSH packet to its transport on its own, with an ``SSH_MSG_IGNORE``
packet before each one that carries data. Through a ``BatchedTransport``
(:mod:`labgate.batched_writes`) they leave in one write per turn of the event loop: a
keystroke's pair in one, a window's worth of a stream (up to 8 MiB of packets) in one.
Flow control stays with the SSH channels' windows, as before.

``BatchedConnector`` is asyncssh's ``tunnel`` for one hop: it opens the TCP connection
(or, for a hop behind a jump host, the direct-tcpip channel through the hop before) and
gives asyncssh a ``BatchedTransport`` in front of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import asyncssh

from labgate.batched_writes import BatchedTransport


class _Relay(asyncio.Protocol):
    """Between the inner transport and asyncssh's connection: hands asyncssh the batched
    transport and passes everything else on as it comes."""

    def __init__(self, session: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.session = session
        self.loop = loop
        self.transport: BatchedTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = BatchedTransport(transport, self.loop)
        self.session.connection_made(self.transport)

    def session_started(self) -> None:  # an SSH channel (a hop behind a jump host)
        self.session.session_started()

    def data_received(self, data: bytes, datatype: Any = None) -> None:
        self.session.data_received(data)

    def eof_received(self) -> bool | None:
        return cast(bool | None, self.session.eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.connection_lost(exc)

    def pause_writing(self) -> None:
        self.session.pause_writing()

    def resume_writing(self) -> None:
        self.session.resume_writing()


class BatchedConnector:
    """asyncssh's ``tunnel`` for one hop: a TCP connection to it, or, ``via`` the
    connection to the hop before, a direct-tcpip channel; batched either way."""

    def __init__(self, via: asyncssh.SSHClientConnection | None = None) -> None:
        self.via = via

    async def create_connection(
        self, session_factory: Any, remote_host: str, remote_port: int
    ) -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()

        def relay() -> _Relay:
            return _Relay(session_factory(), loop)

        if self.via is None:
            _, opened = await loop.create_connection(relay, remote_host, remote_port)
        else:
            # asyncssh calls a channel's session as it calls a TCP connection's protocol.
            as_session = cast("Callable[[], asyncssh.SSHTCPSession[bytes]]", relay)
            _, session = await self.via.create_connection(as_session, remote_host, remote_port)
            opened = cast(_Relay, session)
        return opened.transport, opened.session

    # asyncssh's tunnel protocol; the hops' connections are closed by the transport.
    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        pass
