"""The agent as a batch job's relay (``--relay``), run here the way a job script runs it
(the loader, the source on its standard input, the secret in its environment), in front
of a real server on loopback or on a Unix socket: a connection that begins with the
secret reaches the app, both ways and with half-closes passed on; any other is closed
without a byte."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from labgate.agent.bootstrap import agent_command, agent_payload
from labgate.agent.remote.wire import RELAY_SECRET_VARIABLE, relay_preamble
from labgate.launching.launcher import relay_secret
from tests.support.eventually import eventually

SECRET = relay_secret("the session's token")


async def _echo_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The app: answers what it was sent, in capitals, once its input ends."""
    data = await reader.read()
    writer.write(data.upper())
    await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def relay(tmp_path: Path, *, unix: bool = False) -> AsyncIterator[tuple[str, int]]:
    if unix:  # in a folder of its own, like a job's (mktemp -d)
        path = tmp_path / "sockets" / "app.sock"
        path.parent.mkdir(mode=0o700)
        app = await asyncio.start_unix_server(_echo_upper, path)
        target = ["--to-socket", str(path)]
    else:
        app = await asyncio.start_server(_echo_upper, "127.0.0.1", 0)
        target = ["--to-port", str(app.sockets[0].getsockname()[1])]
    endpoint = tmp_path / "endpoint"
    payload = tmp_path / "agent"
    payload.write_bytes(agent_payload())
    argv = agent_command("python3", ["--relay", str(endpoint), *target])
    with payload.open("rb") as source:
        process = subprocess.Popen(
            argv, stdin=source, env={**os.environ, RELAY_SECRET_VARIABLE: SECRET}
        )
    try:

        def written() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the relay ended ({process.returncode})")
            return endpoint.exists()

        await eventually(written, what="the relay's endpoint file")
        host, port = endpoint.read_text().split()
        yield host, int(port)
    finally:
        process.terminate()
        process.wait(10)
        app.close()


async def _exchange(port: int, first: bytes, body: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first + body)
    writer.write_eof()  # the app answers once its input ends: a half-close passed on
    try:
        return await asyncio.wait_for(reader.read(), 15)
    finally:
        writer.close()


@pytest.mark.parametrize("unix", [False, True], ids=["loopback", "unix-socket"])
async def test_the_secret_opens_the_way_to_the_app(tmp_path: Path, unix: bool) -> None:
    async with relay(tmp_path, unix=unix) as (host, port):
        assert host == os.uname().nodename
        assert await _exchange(port, relay_preamble(SECRET), b"hello app") == b"HELLO APP"
        big = os.urandom(3 * 1024 * 1024).hex().encode()
        assert await _exchange(port, relay_preamble(SECRET), big) == big.upper()


async def test_at_its_end_it_removes_the_apps_socket_and_its_folder(tmp_path: Path) -> None:
    async with relay(tmp_path, unix=True):
        assert (tmp_path / "sockets" / "app.sock").is_socket()
    # Ended by SIGTERM, as SLURM ends a cancelled job's processes.
    assert not (tmp_path / "sockets").exists()


@pytest.mark.parametrize(
    "first",
    [
        b"",
        relay_preamble(relay_secret("another session's token")),
        relay_preamble(SECRET)[:-2] + b"x\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 100,
    ],
)
async def test_anything_else_is_closed_without_a_byte(tmp_path: Path, first: bytes) -> None:
    async with relay(tmp_path) as (_, port):
        assert await _exchange(port, first, b"hello app") == b""
