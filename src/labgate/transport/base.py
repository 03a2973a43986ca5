"""The Transport contract: start a process on the resource and talk to its stdio."""

from __future__ import annotations

from typing import Protocol


class ByteReader(Protocol):
    async def readexactly(self, n: int) -> bytes: ...

    async def read(self, n: int = -1) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


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
    """Reaches one resource. ``start`` runs ``argv`` there with piped stdio."""

    name: str

    async def start(self, argv: list[str]) -> RemoteProcess: ...

    async def close(self) -> None: ...
