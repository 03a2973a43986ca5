"""The ``local`` transport: the server's own machine, through a subprocess. It gives
``make run`` its quick-start resource with exactly the agent a remote host gets."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import cast

from labgate.transport.base import (
    ByteReader,
    ByteWriter,
    RemoteProcess,
    StreamOpenFailed,
    StreamWriter,
)

# Read buffer of streams to apps: large enough for a proxied response's chunks.
STREAM_LIMIT = 1 << 20


@dataclass
class _LocalProcess:
    process: asyncio.subprocess.Process

    @property
    def stdin(self) -> ByteWriter:
        assert self.process.stdin is not None
        return cast(ByteWriter, self.process.stdin)

    @property
    def stdout(self) -> ByteReader:
        assert self.process.stdout is not None
        return self.process.stdout

    @property
    def stderr(self) -> ByteReader:
        assert self.process.stderr is not None
        return self.process.stderr

    async def wait(self) -> int | None:
        return await self.process.wait()

    def terminate(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()


class LocalTransport:
    name = "local"

    def __init__(self, *, env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.env = env
        self.cwd = cwd or os.path.expanduser("~")

    async def start(self, argv: list[str]) -> RemoteProcess:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            # Its own session: a signal to the server's terminal does not reach it.
            start_new_session=True,
        )
        return _LocalProcess(process)

    async def open_tcp(self, host: str, port: int) -> tuple[ByteReader, StreamWriter]:
        try:
            return await asyncio.open_connection(host, port, limit=STREAM_LIMIT)
        except OSError as exc:
            raise StreamOpenFailed(f"Nothing answers at {host}:{port} ({exc.strerror}).") from exc

    async def open_unix(self, path: str) -> tuple[ByteReader, StreamWriter]:
        try:
            return await asyncio.open_unix_connection(path, limit=STREAM_LIMIT)
        except OSError as exc:
            raise StreamOpenFailed(f"Nothing answers at {path} ({exc.strerror}).") from exc

    async def close(self) -> None:
        return None
