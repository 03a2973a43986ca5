"""The Transport contract: start a process on the resource and talk to its stdio, and
open byte streams to TCP ports and Unix sockets there (the way to the web apps that
sessions run, see ``labgate.proxy``)."""

from __future__ import annotations

from typing import Protocol


class ByteReader(Protocol):
    async def readexactly(self, n: int) -> bytes: ...

    async def read(self, n: int = -1) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class StreamWriter(ByteWriter, Protocol):
    """The writing half of a stream to a port or socket: it can also half-close."""

    def write_eof(self) -> None: ...

    def is_closing(self) -> bool: ...


class StreamOpenFailed(ConnectionError):
    """Nothing listens there, or the resource's SSH server refused to forward."""


class RemoteProcess(Protocol):
    """A process started by a transport; asyncio's and asyncssh's processes both fit."""

    @property
    def stdin(self) -> ByteWriter: ...

    @property
    def stdout(self) -> ByteReader: ...

    @property
    def stderr(self) -> ByteReader: ...

    async def wait(self) -> int | None: ...

    def terminate(self) -> None: ...


class Transport(Protocol):
    """Reaches one resource. ``start`` runs ``argv`` there with piped stdio.
    ``open_tcp`` and ``open_unix`` connect to a port or a Unix socket as seen from the
    resource (for SSH: forwarded by its sshd, so ``host`` may be a compute node that only
    the resource can reach); they raise :class:`StreamOpenFailed`."""

    name: str

    async def start(self, argv: list[str]) -> RemoteProcess: ...

    async def open_tcp(self, host: str, port: int) -> tuple[ByteReader, StreamWriter]: ...

    async def open_unix(self, path: str) -> tuple[ByteReader, StreamWriter]: ...

    async def close(self) -> None: ...
