"""The ``local`` transport: the server's own machine, through a subprocess. It gives
``make run`` its quick-start resource with exactly the agent a remote host gets.

The agent, the user's daemon and everything they start get an environment built here,
never the server's own: that holds ``LABGATE_*`` settings, the server secret and the
database's URL with its password (docs/admin-guide.md, "The local resource").
"""

from __future__ import annotations

import asyncio
import os
import pwd
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

# What a login shell would find, when the server has no PATH of its own.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def minimal_environment() -> dict[str, str]:
    """What a process of the server's account needs, as a login would set it: the
    account's home, names and shell, the server's PATH and language (which say nothing
    secret), and nothing else of the server's environment."""
    account = pwd.getpwuid(os.getuid())
    env = {
        "HOME": account.pw_dir,
        "USER": account.pw_name,
        "LOGNAME": account.pw_name,
        "SHELL": account.pw_shell or "/bin/sh",
        "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }
    # Where the account's daemon has its socket (the agent looks there), and the zone.
    for name in ("XDG_RUNTIME_DIR", "TZ"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


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
        """``env``: the processes' whole environment (default :func:`minimal_environment`)."""
        self.env = minimal_environment() if env is None else env
        self.cwd = cwd or self.env.get("HOME") or os.path.expanduser("~")

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
