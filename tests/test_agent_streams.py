"""Byte streams on flow-controlled channels: files read and written as streams, input
to processes, and a consumer that stops reading stopping the sender, both ways."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from labgate.agent.client import AgentCallError, AgentConnection, AgentError
from labgate.agent.remote.files import WRITE_BACK_STEP
from labgate.agent.remote.streams import FILE_READ_BYTES
from labgate.agent.remote.tasks import _settle
from labgate.agent.remote.wire import CHUNK, WINDOW_BYTES, RemoteError
from labgate.credentials.kinds import KeyCredential
from labgate.transport.local import LocalTransport
from labgate.transport.ssh import Hop, SshTransport
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.sshd import SshServer
from tests.test_agent_processes import Daemon, collect

MIB = 1024 * 1024
# Not a patience: how long a position must not move for its sender to count as stopped.
STILL_SECONDS = 0.5


@pytest.fixture
async def daemon() -> AsyncIterator[Daemon]:
    started = Daemon()
    yield started
    await started.stop()


def file_position(pid: int, path: Path) -> int | None:
    """How far process ``pid`` has read the file it holds open at ``path``."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    return int(info.readline().split()[1])
    return None


async def settled(measure: Callable[[], int | None], at_least: int) -> int:
    """Poll ``measure()`` until it has reached ``at_least`` and stopped changing (the same
    for :data:`STILL_SECONDS`): the sender got going, then stopped."""
    last: int | None = None
    since = time.monotonic()

    def stopped() -> int | None:
        nonlocal last, since
        value, now = measure(), time.monotonic()
        if value != last:
            last, since = value, now
        still = now - since >= STILL_SECONDS
        return value if value is not None and value >= at_least and still else None

    return await eventually(stopped, what=f"the sender stopped past {at_least}")


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# -- clean-up after thread work ------------------------------------------------------------


async def test_clean_up_waits_for_thread_work_through_a_second_cancellation() -> None:
    """A stream's clean-up (close the file, remove what it wrote) waits for the thread
    still writing, also when the task is cancelled again meanwhile, then runs."""
    release = threading.Event()
    work = asyncio.get_running_loop().run_in_executor(None, release.wait, PATIENCE_SECONDS)
    cleaned: list[bool] = []

    async def stream() -> None:
        try:
            await asyncio.sleep(PATIENCE_SECONDS)
        except asyncio.CancelledError:
            await _settle(work)
            cleaned.append(work.done())
            raise

    task = asyncio.create_task(stream())
    await asyncio.sleep(0.05)  # the stream gets going (nothing to observe but time)
    task.cancel()  # the connection ended: the clean-up starts
    await asyncio.sleep(0.05)  # it reaches its wait for the thread
    task.cancel()  # and the agent shuts down while it waits
    await asyncio.sleep(0.05)  # what is tested: it keeps waiting meanwhile
    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


async def test_a_cancellation_during_clean_up_is_passed_on() -> None:
    release = threading.Event()
    work = asyncio.get_running_loop().run_in_executor(None, release.wait, PATIENCE_SECONDS)
    reached: list[str] = []

    async def stream() -> None:
        try:
            raise RemoteError("aborted", "the server aborted")
        except RemoteError:
            await _settle(work)
            reached.append("cleaned")
        await asyncio.sleep(PATIENCE_SECONDS)  # the cancellation arrives here
        reached.append("not cancelled")

    task = asyncio.create_task(stream())
    await asyncio.sleep(0.05)  # the stream's clean-up reaches its wait for the thread
    task.cancel()
    await asyncio.sleep(0.05)  # the cancellation arrives while it waits
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, PATIENCE_SECONDS)
    assert reached == ["cleaned"]


# -- files ------------------------------------------------------------------------------


async def test_a_multi_megabyte_file_streams_both_ways(daemon: Daemon, tmp_path: Path) -> None:
    agent = await daemon.connect()
    data = os.urandom(8 * MIB + 12345)
    target = tmp_path / "data.bin"
    written = await agent.write_stream(str(target), pieces(data, 300_000), create_only=True)
    assert written["size"] == len(data)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    reading = await agent.read_stream(str(target))
    assert (reading.size, reading.version) == (len(data), written["version"])
    chunks = [chunk async for chunk in reading]
    assert max(len(c) for c in chunks) <= CHUNK  # never one huge frame
    assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(data).digest()
    part = await agent.read_stream(str(target), offset=5 * MIB, length=100_000)
    assert b"".join([chunk async for chunk in part]) == data[5 * MIB : 5 * MIB + 100_000]
    # Replacing keeps the file's mode; a stale version is refused.
    target.chmod(0o640)
    replaced = await agent.write_stream(str(target), b"short", if_version=written["version"])
    assert target.read_bytes() == b"short"
    assert target.stat().st_mode & 0o777 == 0o640
    with pytest.raises(AgentCallError) as stale:
        await agent.write_stream(str(target), b"late", if_version=written["version"])
    assert stale.value.remote_code == "conflict"
    with pytest.raises(AgentCallError) as exists:
        await agent.write_stream(str(target), b"again", create_only=True)
    assert exists.value.remote_code == "exists"
    assert target.read_bytes() == b"short"
    assert replaced["version"] != written["version"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


async def test_large_reads_are_byte_exact_in_any_range(daemon: Daemon, tmp_path: Path) -> None:
    # Pieces read at once, frames and the window all end at different places.
    agent = await daemon.connect()
    data = os.urandom(3 * FILE_READ_BYTES + WINDOW_BYTES + 12345)
    target = tmp_path / "large.bin"
    target.write_bytes(data)
    piece, chunk = FILE_READ_BYTES, CHUNK
    ranges = [
        (0, None),
        (1, 5 * chunk + 3),
        (piece - 7, piece + 14),
        (len(data) - 10, None),
        (len(data) - 10, 100),
        (12345, 0),
        (len(data), None),
    ]
    for offset, length in ranges:
        stream = await agent.read_stream(str(target), offset=offset, length=length)
        received = b"".join([c async for c in stream])
        end = len(data) if length is None else offset + length
        assert received == data[offset:end], (offset, length)
        assert stream.received == len(received)


async def test_read_stream_errors(daemon: Daemon, tmp_path: Path) -> None:
    agent = await daemon.connect()
    os.mkfifo(tmp_path / "fifo")
    cases = [
        (str(tmp_path / "missing"), "not_found"),
        (str(tmp_path), "is_a_directory"),
        (str(tmp_path / "fifo"), "not_a_file"),  # refused, not waited on for ever
        ("a\0b", "bad_request"),
    ]
    for path, code in cases:
        with pytest.raises(AgentCallError) as failed:
            await agent.read_stream(path)
        assert failed.value.remote_code == code, path
    raw = os.fsencode(tmp_path) + b"/caf\xe9"
    with open(raw, "wb") as handle:
        handle.write(b"latin-1 name")
    assert b"".join([c async for c in await agent.read_stream(raw)]) == b"latin-1 name"
    await agent.write_stream(raw, b"rewritten")
    assert Path(os.fsdecode(raw)).read_bytes() == b"rewritten"


async def test_a_reader_that_stops_stops_the_agent(daemon: Daemon, tmp_path: Path) -> None:
    agent = await daemon.connect()
    daemon_pid = agent.hello["pid"]
    data = os.urandom(50 * MIB)
    big = tmp_path / "big.bin"
    big.write_bytes(data)
    stream = await agent.read_stream(str(big))
    first = await anext(stream)
    # The agent sends about one window, then waits: it has not read much further.
    position = await settled(lambda: file_position(daemon_pid, big), WINDOW_BYTES // 2)
    assert position <= 2 * WINDOW_BYTES
    # Meanwhile calls and other streams are answered.
    assert await agent.call("ping", payload="still here") == {"pong": "still here"}
    small = tmp_path / "small.txt"
    small.write_bytes(b"x" * 1000)
    assert b"".join([c async for c in await agent.read_stream(str(small))]) == b"x" * 1000
    # Reading again resumes the stream to its end, intact.
    digest = hashlib.sha256(first)
    async for chunk in stream:
        digest.update(chunk)
    assert digest.digest() == hashlib.sha256(data).digest()
    assert stream.received == len(data)


async def test_a_reader_that_closes_early_releases_the_file(daemon: Daemon, tmp_path: Path) -> None:
    agent = await daemon.connect()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MIB))
    async with await agent.read_stream(str(big)) as stream:
        await anext(stream)
    await eventually(
        lambda: file_position(agent.hello["pid"], big) is None, what="the stream's file closed"
    )
    assert [chunk async for chunk in stream] == []


async def test_rpc_answers_flow_while_streams_run(daemon: Daemon, tmp_path: Path) -> None:
    agent = await daemon.connect()
    data = os.urandom(20 * MIB)
    big = tmp_path / "big.bin"
    big.write_bytes(data)

    async def read_all() -> bytes:
        return b"".join([chunk async for chunk in await agent.read_stream(str(big))])

    async def upload() -> None:
        await agent.write_stream(str(tmp_path / "copy.bin"), pieces(data, MIB))

    results = await asyncio.gather(
        read_all(), upload(), *(agent.call("ping", payload=i) for i in range(50))
    )
    assert results[0] == data
    assert [r["pong"] for r in results[2:]] == list(range(50))
    assert (tmp_path / "copy.bin").read_bytes() == data


# -- aborted and refused uploads -----------------------------------------------------------


async def test_an_aborted_upload_leaves_nothing(daemon: Daemon, tmp_path: Path) -> None:
    agent = await daemon.connect()
    target = tmp_path / "result.h5"

    async def failing() -> AsyncIterator[bytes]:
        yield os.urandom(2 * MIB)
        raise RuntimeError("the browser went away")

    with pytest.raises(RuntimeError, match="browser went away"):
        await agent.write_stream(str(target), failing())
    await nothing_partial(tmp_path, [])

    # An existing file stays as it was when its replacement is cancelled mid-way.
    target.write_bytes(b"the old results")
    stalled = asyncio.Event()

    async def never_ending() -> AsyncIterator[bytes]:
        yield os.urandom(MIB)
        stalled.set()
        await asyncio.Event().wait()
        yield b""

    upload = asyncio.create_task(agent.write_stream(str(target), never_ending()))
    await stalled.wait()
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload
    await nothing_partial(tmp_path, ["result.h5"])
    assert target.read_bytes() == b"the old results"

    # A connection that ends in the middle of an upload: nothing either.
    other = await daemon.connect()
    started, resume = asyncio.Event(), asyncio.Event()

    async def cut_off() -> AsyncIterator[bytes]:
        yield os.urandom(MIB)
        started.set()
        await resume.wait()
        yield os.urandom(MIB)

    upload = asyncio.create_task(other.write_stream(str(tmp_path / "cut.bin"), cut_off()))
    await started.wait()
    await other.close()
    resume.set()  # the next piece finds the connection gone
    with pytest.raises(AgentError):
        await upload
    await nothing_partial(tmp_path, ["result.h5"])


def resident_bytes(path: Path) -> int:
    """How much of ``path`` is in the page cache (util-linux's fincore)."""
    if shutil.which("fincore") is None:
        pytest.skip("fincore (util-linux) is not installed")
    return int(
        subprocess.run(
            ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )


async def test_a_large_file_written_as_a_stream_leaves_the_page_cache(
    daemon: Daemon, tmp_path: Path
) -> None:
    # A copy from another resource: what reached the disk is let go of on the way, and
    # all of it once the file is on the disk; a small file (an editor's save) stays.
    agent = await daemon.connect()
    data = os.urandom(3 * WRITE_BACK_STEP + 12345)
    target = tmp_path / "copied.bin"
    written = await agent.write_stream(str(target), pieces(data, 256 * 1024))
    assert written["size"] == len(data)
    assert resident_bytes(target) <= WRITE_BACK_STEP // 8
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    small = tmp_path / "notes.txt"
    await agent.write_stream(str(small), pieces(b"x" * 100_000, 4096))
    assert resident_bytes(small) >= 100_000  # left as it was


async def test_a_large_upload_leaves_the_page_cache_as_it_goes(
    daemon: Daemon, tmp_path: Path
) -> None:
    # What reached the disk is let go of while the upload runs: an upload of many GiB
    # does not push the user's cached files out, and its pages are used again.
    agent = await daemon.connect()
    size = 3 * WRITE_BACK_STEP + 12345
    data = os.urandom(size)
    target = tmp_path / "big.bin"
    opened = await agent.call("fs.upload_open", path=str(target), upload="u1", size=size)
    assert opened["offset"] == 0
    held = await agent.append_stream(
        str(target), "u1", pieces(data, 256 * 1024), offset=0, limit=size
    )
    assert held == size
    # At least the first step was synced and let go before the call returned.
    assert resident_bytes(tmp_path / ".labgate-upload-u1") <= size - WRITE_BACK_STEP
    done = await agent.call(
        "fs.upload_complete",
        path=str(target),
        upload="u1",
        size=size,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    assert done["size"] == size
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()


async def nothing_partial(directory: Path, expected: list[str]) -> None:
    """The agent cleans up as it notices the abort: wait for that."""

    def only_expected() -> bool:
        assert sorted(p.name for p in directory.iterdir()) == expected
        return True

    await eventually(only_expected, what=f"only {expected} in {directory}")


async def test_a_file_changed_during_an_upload_is_not_overwritten(
    daemon: Daemon, tmp_path: Path
) -> None:
    agent = await daemon.connect()
    target = tmp_path / "notes.txt"
    target.write_bytes(b"version one")
    read = await agent.call("fs.read", path=str(target))

    async def meanwhile_changed() -> AsyncIterator[bytes]:
        yield b"my edit, part one"
        target.write_bytes(b"someone else's edit")
        yield b", part two"

    with pytest.raises(AgentCallError) as conflict:
        await agent.write_stream(str(target), meanwhile_changed(), if_version=read["version"])
    assert conflict.value.remote_code == "conflict"
    assert target.read_bytes() == b"someone else's edit"
    await nothing_partial(tmp_path, ["notes.txt"])


@pytest.fixture
def as_another_user(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A python that runs as an unprivileged user (root may write anywhere), and a
    directory that user owns."""
    if os.getuid() != 0:
        yield sys.executable, tmp_path
        return
    setpriv = shutil.which("setpriv")
    python = shutil.which("python3", path="/usr/bin:/bin")
    if setpriv is None or python is None:
        pytest.skip("needs setpriv and a system python3 to drop root")
    wrapper_dir = Path(tempfile.mkdtemp(prefix="lg-user-", dir="/tmp"))
    wrapper_dir.chmod(0o755)
    wrapper = wrapper_dir / "python-as-nobody"
    wrapper.write_text(
        f'#!/bin/sh\nexec {setpriv} --reuid=65534 --regid=65534 --clear-groups {python} "$@"\n'
    )
    wrapper.chmod(0o755)
    home = wrapper_dir / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    try:
        yield str(wrapper), home
    finally:
        shutil.rmtree(wrapper_dir, ignore_errors=True)


async def test_a_read_only_directory_refuses_and_keeps_nothing(
    as_another_user: tuple[str, Path],
) -> None:
    python, home = as_another_user
    locked = home / "locked"
    locked.mkdir()
    os.chown(locked, os.stat(home).st_uid, os.stat(home).st_gid)
    locked.chmod(0o555)
    agent = await AgentConnection.start(
        LocalTransport(cwd=str(home)), python=python, agent_args=["--no-daemon"]
    )
    try:
        with pytest.raises(AgentCallError) as denied:
            await agent.write_stream(str(locked / "out.bin"), pieces(os.urandom(3 * MIB), MIB))
        assert denied.value.remote_code == "permission_denied"
        with pytest.raises(AgentCallError) as denied_small:
            await agent.call("fs.write", path=str(locked / "out.txt"), data="eA==")
        assert denied_small.value.remote_code == "permission_denied"
        assert list(locked.iterdir()) == []
    finally:
        await agent.close()


# -- process input ------------------------------------------------------------------------


async def test_input_waits_for_a_process_that_does_not_read(daemon: Daemon, tmp_path: Path) -> None:
    agent = await daemon.connect()
    go = tmp_path / "go"
    started = await agent.call(
        "proc.start", command=f"while [ ! -e {go} ]; do sleep 0.05; done; exec sha256sum"
    )
    stream = await agent.attach(started["id"])
    data = os.urandom(8 * MIB)
    sent = [0]

    async def type_everything() -> None:
        async for piece in pieces(data, CHUNK):
            await stream.write(piece)
            sent[0] += len(piece)
        await stream.close_stdin()

    typing = asyncio.create_task(type_everything())
    # Nothing reads: the agent takes about a window (and a pipe's worth), then the
    # server's sending waits.
    stopped_at = await settled(lambda: sent[0], WINDOW_BYTES // 2)
    assert not typing.done()
    assert stopped_at <= WINDOW_BYTES + 4 * CHUNK
    assert await agent.call("ping", payload=1) == {"pong": 1}
    go.touch()
    await asyncio.wait_for(typing, PATIENCE_SECONDS)
    output = await collect(stream)
    assert output["stdout"].split()[0].decode() == hashlib.sha256(data).hexdigest()
    assert stream.exit is not None
    assert stream.exit.exit_status == 0


async def test_a_slow_output_reader_stops_the_agent_not_the_process(daemon: Daemon) -> None:
    agent = await daemon.connect()
    started = await agent.call("proc.start", argv=["seq", "1", "3000000"])  # about 20 MB
    stream = await agent.attach(started["id"])
    first = await anext(stream)
    assert first.offset == 0

    async def finished() -> dict[str, object] | None:
        (entry,) = (await agent.call("proc.list"))["processes"]
        return entry if entry["finished"] else None

    # The process runs to its end although this reader does not read.
    assert (await eventually(finished, what="seq finished"))["exit_status"] == 0
    # The reader fell behind the ring: what it gets continues exactly where the ring
    # still has data, and the gap is counted.
    expected = b"".join(b"%d\n" % i for i in range(1, 3000001))
    assert first.data == expected[: first.end]
    position, gaps = first.end, 0
    async for chunk in stream:
        assert chunk.offset >= position
        gaps += chunk.offset - position
        assert chunk.data == expected[chunk.offset : chunk.end]
        position = chunk.end
    assert position == stream.offset == len(expected)
    assert gaps == stream.dropped > 0
    assert stream.exit is not None
    assert stream.exit.exit_status == 0


# -- over a real SSH connection --------------------------------------------------------------


async def test_streams_over_ssh(sshd: SshServer) -> None:
    runtime = sshd.user.home / ".lg-streams-test"
    hop = Hop(
        host=sshd.host,
        port=sshd.port,
        username=sshd.user.name,
        credential=KeyCredential(sshd.client_key_path.read_bytes()),
        known_host_key=sshd.host_public_key,
    )
    transport = SshTransport([hop])
    agent = await AgentConnection.start(
        transport, agent_args=["--runtime-dir", str(runtime), "--idle-seconds", "60"]
    )
    target = sshd.user.home / "streamed.bin"
    try:
        data = os.urandom(12 * MIB)
        await agent.write_stream(str(target), pieces(data, 500_000))
        stream = await agent.read_stream(str(target))
        first = await anext(stream)
        position = await settled(
            lambda: file_position(agent.hello["pid"], target), WINDOW_BYTES // 2
        )
        assert position <= 2 * WINDOW_BYTES
        assert await agent.call("ping", payload="over ssh") == {"pong": "over ssh"}
        rest = b"".join([chunk async for chunk in stream])
        assert hashlib.sha256(first + rest).digest() == hashlib.sha256(data).digest()
        started = await agent.call("proc.start", command="echo $HOME; whoami")
        output = await collect(await agent.attach(started["id"]))
        assert output["stdout"].decode().split() == [str(sshd.user.home), sshd.user.name]
    finally:
        await agent.close()
        await transport.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(agent.hello["pid"], signal.SIGKILL)
        target.unlink(missing_ok=True)
        subprocess.run(["rm", "-rf", str(runtime)], check=False)
