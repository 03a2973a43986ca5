"""The typed client (labgate.agent.typed) against a real agent on this machine: paths
as text or bytes, answers as dataclasses with base64 decoded, the agent's errors raised
as they are by AgentConnection."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from labgate.agent.client import AgentCallError, AgentConnection
from labgate.agent.remote import wire
from labgate.agent.typed import RemoteFs, RemoteNet, RemoteProcesses, RemoteSystem
from labgate.transport.local import LocalTransport
from tests.test_agent_processes import Daemon, collect, daemon  # noqa: F401 -- a fixture

# A name that is not UTF-8: it must round-trip as bytes.
ODD = b"caf\xe9"


@pytest.fixture
async def agent() -> AsyncIterator[AgentConnection]:
    connection = await AgentConnection.start(
        LocalTransport(), python=sys.executable, agent_args=["--no-daemon"]
    )
    yield connection
    await connection.close()


async def test_files_written_read_and_described(agent: AgentConnection, tmp_path: Path) -> None:
    files = RemoteFs(agent)
    written = await files.write(str(tmp_path / "a.txt"), b"\x00\x01 hello")
    assert (tmp_path / "a.txt").read_bytes() == b"\x00\x01 hello"
    read = await files.read(str(tmp_path / "a.txt"), offset=2)
    assert (read.data, read.offset, read.size, read.eof) == (b" hello", 2, 8, True)
    assert read.version == written.version
    assert written.size == 8
    with pytest.raises(AgentCallError) as changed:
        await files.write(str(tmp_path / "a.txt"), b"x", if_version="stale")
    assert changed.value.remote_code == "conflict"
    info = await files.stat(str(tmp_path / "a.txt"))
    assert (info.name, info.kind, info.size, info.raw) == ("a.txt", "file", 8, None)
    assert info.uid == os.getuid()


async def test_a_name_that_is_not_utf8_round_trips_as_bytes(
    agent: AgentConnection, tmp_path: Path
) -> None:
    files = RemoteFs(agent)
    odd = os.fsencode(tmp_path) + b"/" + ODD
    made = await files.mkdir(odd)
    assert made.raw == ODD
    assert made.kind == "directory"
    assert os.path.isdir(odd)
    await files.write(odd + b"/data", b"12345")
    await files.symlink(odd + b"/link", b"data")
    tree = await files.walk(odd)
    assert [(e.relative, e.kind, e.size) for e in tree] == [
        (b"", "directory", 0),
        (b"data", "file", 5),
        (b"link", "symlink", 0),
    ]
    assert tree[2].target == b"data"
    found = await files.search(os.fsencode(tmp_path), "caf")
    assert [(m.path_raw, m.raw) for m in found.matches] == [(odd, ODD)]
    assert not found.truncated
    usage = await files.du(odd)
    assert (usage.bytes >= 5, usage.files, usage.directories) == (True, 2, 0)
    copied = await files.copy(odd, os.fsencode(tmp_path) + b"/copy")
    assert (copied.name, copied.kind, copied.skipped) == ("copy", "directory", ())
    await files.delete(odd, recursive=True)
    assert not os.path.lexists(odd)
    with pytest.raises(AgentCallError) as gone:
        await files.stat(odd)
    assert gone.value.remote_code == "not_found"


async def test_a_listing_is_the_agents_json(agent: AgentConnection, tmp_path: Path) -> None:
    (tmp_path / "one").write_bytes(b"1")
    page = await RemoteFs(agent).listing_json(str(tmp_path), limit=10)
    assert isinstance(page, bytes)
    assert b'"name":"one"' in page.replace(b" ", b"")


async def test_a_resumable_upload(agent: AgentConnection, tmp_path: Path) -> None:
    files = RemoteFs(agent)
    target = os.fsencode(tmp_path) + b"/" + ODD + b".bin"
    opened = await files.upload_open(target, "u1")
    assert (opened.path_bytes, opened.path_raw, opened.offset) == (target, target, 0)

    async def parts() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    assert await files.upload_append(target, "u1", parts(), offset=0, limit=100) == 6
    done = await files.upload_complete(target, "u1", size=6)
    assert done.path_bytes == target
    assert done.size == 6
    assert done.sha256 == "bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
    with open(target, "rb") as written:
        assert written.read() == b"abcdef"


async def test_streams_go_through_the_typed_client(agent: AgentConnection, tmp_path: Path) -> None:
    files = RemoteFs(agent)
    written = await files.write_stream(str(tmp_path / "big"), [b"x" * 300_000, b"y"])
    assert written.size == 300_001
    stream = await files.read_stream(str(tmp_path / "big"), offset=300_000)
    assert b"".join([chunk async for chunk in stream]) == b"y"
    assert stream.version == written.version


async def test_system_and_ping(agent: AgentConnection) -> None:
    system = RemoteSystem(agent)
    assert await system.ping({"x": [1, "é"]}) == {"x": [1, "é"]}
    info = await system.info()
    assert info.home == os.path.expanduser("~")
    assert info.cpus == os.cpu_count()
    assert info.memory["total"] > 0
    assert len(info.load) == 3
    answering = await system.daemon()
    assert answering.agent_version == wire.AGENT_VERSION
    assert answering.mode == "direct"
    assert answering.python[:2] == tuple(sys.version_info[:2])


async def test_processes_started_listed_signalled_and_forgotten(daemon: Daemon) -> None:  # noqa: F811
    processes = RemoteProcesses(await daemon.connect())
    started = await processes.start(command="echo out; echo err >&2", owner="lg:test:me")
    assert started.owner == "lg:test:me"
    assert started.command == "echo out; echo err >&2"
    output = await asyncio.wait_for(collect(await processes.attach(started.id)), 30)
    assert (output["stdout"], output["stderr"]) == (b"out\n", b"err\n")
    (listed,) = [p for p in await processes.processes() if p.id == started.id]
    assert (listed.running, listed.exit_status, listed.signal) == (False, 0, None)
    await processes.forget(started.id)
    assert started.id not in [p.id for p in await processes.processes()]

    sleeper = await processes.start(argv=["sleep", "60"], owner="lg:test:me")
    stream = await processes.attach(sleeper.id)
    await processes.signal(sleeper.id, "KILL")
    await asyncio.wait_for(collect(stream), 30)
    assert stream.exit is not None
    assert stream.exit.signal == "KILL"
    with pytest.raises(AgentCallError) as unknown:
        await processes.forget("no-such-process")
    assert unknown.value.remote_code == "not_found"


async def test_a_terminal_is_resized(daemon: Daemon) -> None:  # noqa: F811
    processes = RemoteProcesses(await daemon.connect())
    terminal = await processes.start(pty=True, cols=100, rows=30, owner="lg:test:me")
    assert (terminal.pty, terminal.cols, terminal.rows) == (True, 100, 30)
    size = await processes.resize(terminal.id, 120, 40)
    assert (size.cols, size.rows) == (120, 40)
    stream = await processes.attach(terminal.id)
    assert await processes.detach(stream.channel)
    await processes.signal(terminal.id, "KILL")


async def test_ports_and_socket_paths(daemon: Daemon) -> None:  # noqa: F811
    net = RemoteNet(await daemon.connect())
    port = await net.free_port()
    assert 1024 <= port <= 65535
    path = await net.socket_path("jupyter")
    assert Path(path).parent.parent == daemon.runtime / "run"
    assert await net.listening(port) == []
