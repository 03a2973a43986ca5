"""Processes and terminals owned by the daemon: output kept while nobody is attached,
replayed without gap or repeat, terminals with a size and a controlling tty, signals,
and a daemon that stays while its work runs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from labgate.agent import bootstrap
from labgate.agent.client import AgentCallError, AgentConnection, AgentTimeout, ProcessStream
from labgate.agent.remote.processes import RING_BYTES, OutputRing
from labgate.agent.remote.wire import AGENT_VERSION, STDERR, STDOUT
from labgate.transport.local import LocalTransport
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.test_agent_local import alive, wait_gone


class Daemon:
    """A daemon of the test's own: a private runtime directory (short enough for a socket
    path), and at the end every process it started and the daemon itself killed by PID."""

    def __init__(self, idle_seconds: float = 60) -> None:
        self.runtime = Path(tempfile.mkdtemp(prefix="lg-", dir="/tmp"))
        self.args = [
            "--runtime-dir",
            str(self.runtime / "run"),
            "--idle-seconds",
            str(idle_seconds),
        ]
        self.pids: set[int] = set()
        self.connections: list[AgentConnection] = []

    async def connect(
        self, python: str = sys.executable, call_timeout: float = 60
    ) -> AgentConnection:
        agent = await AgentConnection.start(
            LocalTransport(), python=python, agent_args=self.args, call_timeout=call_timeout
        )
        self.pids.add(agent.hello["pid"])
        self.connections.append(agent)
        return agent

    async def stop(self) -> None:
        for connection in self.connections:
            await connection.close()
        for pid in self.pids:
            for child in children_of(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.runtime, ignore_errors=True)


def children_of(pid: int) -> list[int]:
    found = []
    for stat_file in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError), open(stat_file) as handle:
            fields = handle.read().rsplit(") ", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat_file.split("/")[2]))
    return found


@pytest.fixture
async def daemon() -> AsyncIterator[Daemon]:
    started = Daemon()
    yield started
    await started.stop()


async def collect(stream: ProcessStream) -> dict[str, bytes]:
    """Everything an attachment delivers until the process ends, by stream."""
    output = {"stdout": b"", "stderr": b"", "pty": b""}

    async def read() -> None:
        async for chunk in stream:
            output[chunk.stream] += chunk.data

    await asyncio.wait_for(read(), PATIENCE_SECONDS)
    return output


class Screen:
    """What a terminal showed so far, read until a marker appears."""

    def __init__(self, stream: ProcessStream) -> None:
        self.stream = stream
        self.text = b""

    async def wait_for(self, marker: bytes) -> None:
        async def read() -> None:
            while marker not in self.text:
                self.text += (await anext(self.stream)).data

        await asyncio.wait_for(read(), PATIENCE_SECONDS)


async def wait_finished(agent: AgentConnection, process_id: str) -> dict[str, object]:
    async def finished() -> dict[str, object]:
        (entry,) = [
            p for p in (await agent.call("proc.list"))["processes"] if p["id"] == process_id
        ]
        assert entry["finished"], entry
        return entry

    return await eventually(finished, what=f"process {process_id} finished")


# -- a daemon that does not answer --------------------------------------------------------


async def test_a_stopped_daemon_costs_its_callers_an_error_not_a_wait(
    daemon: Daemon, tmp_path: Path
) -> None:
    agent = await daemon.connect(call_timeout=1)
    pid = agent.hello["pid"]
    os.kill(pid, signal.SIGSTOP)  # the user's daemon, stopped by its user
    try:
        async with asyncio.timeout(PATIENCE_SECONDS):
            with pytest.raises(AgentTimeout) as late:
                await agent.call("proc.list")
            assert late.value.code == "agent_timeout"
            assert late.value.status == 504
            assert "(proc.list) within 1 s" in late.value.message
            # A caller may wait longer, or less, than the connection's default.
            with pytest.raises(AgentTimeout, match=r"\(ping\) within 2.5 s"):
                await agent.call_within(2.5, "ping")
            # Streams: the answer that opens one, and a write's answer after its bytes.
            with pytest.raises(AgentTimeout):
                await agent.attach("no-such-process")
            with pytest.raises(AgentTimeout):
                await agent.read_stream(str(tmp_path / "nothing"))
            with pytest.raises(AgentTimeout, match=r"fs\.write_stream"):
                await agent.write_stream(str(tmp_path / "written"), b"a few bytes")
            # Long calls wait longer by default, however short the connection's is.
            assert agent.timeout_for("fs.copy") >= 3600
    finally:
        os.kill(pid, signal.SIGCONT)
    # The connection carries on; the late answers find nobody waiting and are dropped.
    async with asyncio.timeout(PATIENCE_SECONDS):
        assert await agent.call("ping", payload=1) == {"pong": 1}
        assert (await agent.call("proc.list"))["processes"] == []


# -- commands ----------------------------------------------------------------------------


async def test_a_command_keeps_stdout_stderr_and_exit_status_apart(daemon: Daemon) -> None:
    agent = await daemon.connect()
    started = await agent.call(
        "proc.start",
        argv=["sh", "-c", "echo out; echo err >&2; echo more; exit 3"],
        owner="alice",
    )
    assert started["pid"] > 0
    assert started["id"]
    assert started["ended_at"] is None
    stream = await agent.attach(started["id"], 0)
    output = await collect(stream)
    assert output["stdout"] == b"out\nmore\n"
    assert output["stderr"] == b"err\n"
    assert stream.exit is not None
    assert (stream.exit.exit_status, stream.exit.signal) == (3, None)
    (entry,) = (await agent.call("proc.list"))["processes"]
    assert entry["id"] == started["id"]
    assert entry["running"] is False
    assert entry["exit_status"] == 3
    assert entry["started_at"] <= entry["ended_at"]
    assert entry["output_end"] == len(b"out\nmore\nerr\n") == stream.offset
    assert entry["command"] == "sh -c 'echo out; echo err >&2; echo more; exit 3'"
    assert (entry["name"], entry["owner"]) == ("sh", "alice")


async def test_setup_lines_env_and_cwd_apply(daemon: Daemon, tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    probe = tools / "labgate-probe"
    probe.write_text("#!/bin/sh\necho probe-ok\n")
    probe.chmod(0o755)
    agent = await daemon.connect()
    started = await agent.call(
        "proc.start",
        command='labgate-probe; echo "$FROM_SETUP $FROM_ENV"; pwd; echo "$LANG"',
        setup_lines=[f"export PATH={tools}:$PATH", "export FROM_SETUP=set-up"],
        env={"FROM_ENV": "from-env"},
        cwd=str(tmp_path),
    )
    output = await collect(await agent.attach(started["id"]))
    lines = output["stdout"].decode().splitlines()
    assert lines[0] == "probe-ok"  # PATH from the set-up lines, after the login files
    assert lines[1] == "set-up from-env"
    assert lines[2] == str(tmp_path)
    assert lines[3]  # a locale is always set (C.UTF-8 when the login set none)


async def test_bad_requests_are_refused(daemon: Daemon, tmp_path: Path) -> None:
    agent = await daemon.connect()
    cases = [
        ({}, "bad_request"),
        ({"argv": []}, "bad_request"),
        ({"argv": "ls"}, "bad_request"),
        ({"command": "true", "setup_lines": "not a list"}, "bad_request"),
        ({"command": "true", "env": {"X": 1}}, "bad_request"),
        ({"command": "true", "cwd": str(tmp_path / "missing")}, "not_found"),
        ({"pty": True, "cols": 0}, "bad_request"),
    ]
    for params, code in cases:
        with pytest.raises(AgentCallError) as refused:
            await agent.call("proc.start", **params)
        assert refused.value.remote_code == code, params
    with pytest.raises(AgentCallError) as unknown:
        await agent.attach("nosuchid")
    assert unknown.value.remote_code == "not_found"
    assert (await agent.call("proc.list"))["processes"] == []


# -- terminals ---------------------------------------------------------------------------


async def test_a_terminal_has_a_size_a_controlling_tty_and_takes_keystrokes(
    daemon: Daemon, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    probe = tools / "labgate-probe"
    probe.write_text("#!/bin/sh\necho probe-ok\n")
    probe.chmod(0o755)
    agent = await daemon.connect()
    started = await agent.call(
        "proc.start",
        pty=True,
        cols=100,
        rows=30,
        setup_lines=[f"export PATH={tools}:$PATH", "export FROM_SETUP=yes"],
    )
    assert started["pty"] is True
    assert (started["cols"], started["rows"]) == (100, 30)
    stream = await agent.attach(started["id"])
    screen = Screen(stream)
    # Results are computed by the shell, so the echo of what was typed cannot match.
    await stream.write(b"echo size-$(stty size | tr ' ' x)\n")
    await screen.wait_for(b"size-30x100")
    await stream.write(b"echo hello-$((6 * 7)) $TERM $COLORTERM\n")
    await screen.wait_for(b"hello-42 xterm-256color truecolor")
    # The set-up lines ran after the login files (which may reset PATH).
    await stream.write(b"labgate-probe; echo setup-$FROM_SETUP\n")
    await screen.wait_for(b"setup-yes")
    assert b"probe-ok" in screen.text
    # A controlling terminal: the shell's tty number in /proc is not 0.
    await stream.write(b'[ "$(cut -d" " -f7 /proc/$$/stat)" != 0 ] && echo ctty-$((1 + 1))\n')
    await screen.wait_for(b"ctty-2")
    await stream.resize(120, 40)
    await stream.write(b"echo size-$(stty size | tr ' ' x)\n")
    await screen.wait_for(b"size-40x120")
    await stream.write(b"exit 7\n")
    await collect(stream)
    assert stream.exit is not None
    assert stream.exit.exit_status == 7
    with pytest.raises(AgentCallError) as ended:
        await stream.resize(80, 24)
    assert ended.value.remote_code == "not_running"


def foreground_child(shell: int, name: str) -> int | None:
    """A child of ``shell`` named ``name`` that is the terminal's foreground job."""
    for pid in children_of(shell):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
            comm, rest = handle.read().split(" (", 1)[1].rsplit(") ", 1)
            fields = rest.split()
            if comm == name and fields[2] == fields[5]:  # its group is the tty's foreground
                return pid
    return None


async def test_a_terminal_has_job_control(daemon: Daemon) -> None:
    agent = await daemon.connect()
    await ctrl_c_ends_the_foreground_job(agent)

    pipe = await agent.call("proc.start", command="sleep 1000")
    with pytest.raises(AgentCallError) as not_a_terminal:
        await agent.call("proc.resize", id=pipe["id"], cols=10, rows=10)
    assert not_a_terminal.value.remote_code == "not_a_terminal"
    await agent.call("proc.signal", id=pipe["id"], signal="KILL")


async def test_ctrl_c_works_when_the_server_ignores_sigint(daemon: Daemon) -> None:
    """A server started with nohup or in a script's background ignores SIGINT; its
    daemon and, through it, the user's programs must not (they would ignore Ctrl-C)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        agent = await daemon.connect()  # the daemon starts here, as from such a server
    finally:
        signal.signal(signal.SIGINT, previous)
    await ctrl_c_ends_the_foreground_job(agent)


async def ctrl_c_ends_the_foreground_job(agent: AgentConnection) -> None:
    """In an interactive bash on a terminal, Ctrl-C ends ``sleep``, not the shell."""
    started = await agent.call("proc.start", pty=True, command="bash --norc -i")
    stream = await agent.attach(started["id"])
    screen = Screen(stream)
    await stream.write(b"case $- in *m*) echo jobs-$((1 + 1));; esac\n")
    await screen.wait_for(b"jobs-2")
    # Ctrl-C typed into the terminal ends the foreground job, not the shell.
    await stream.write(b"sleep 1000\n")
    sleeper = await eventually(
        lambda: foreground_child(started["pid"], "sleep"), what="sleep in the foreground"
    )
    await stream.write(b"\x03")
    assert await wait_gone(sleeper)
    await stream.write(b"echo after-$((2 + 3))\n")
    await screen.wait_for(b"after-5")
    await stream.write(b"exit\n")
    await collect(stream)
    assert stream.exit is not None
    assert stream.exit.exit_status == 0
    assert b"no job control" not in screen.text


# -- signals -----------------------------------------------------------------------------


async def test_signals_reach_the_process_group(daemon: Daemon) -> None:
    agent = await daemon.connect()
    started = await agent.call(
        "proc.start", command="trap 'echo got-term; exit 5' TERM; sleep 1000 & echo child-$!; wait"
    )
    stream = await agent.attach(started["id"])
    text = b""
    while b"\n" not in text:
        text += (await anext(stream)).data
    child = int(text.decode().split("-")[1])
    await stream.signal("TERM")
    output = await collect(stream)
    assert b"got-term" in output["stdout"]
    assert stream.exit is not None
    assert stream.exit.exit_status == 5
    assert await wait_gone(child)  # the whole group got the signal, the child too
    with pytest.raises(AgentCallError) as ended:
        await stream.signal("TERM")
    assert ended.value.remote_code == "not_running"

    sleeper = await agent.call("proc.start", argv=["sleep", "1000"])
    with pytest.raises(AgentCallError) as bad:
        await agent.call("proc.signal", id=sleeper["id"], signal="NOPE")
    assert bad.value.remote_code == "bad_request"
    with pytest.raises(AgentCallError) as busy:
        await agent.call("proc.forget", id=sleeper["id"])
    assert busy.value.remote_code == "running"
    await agent.call("proc.signal", id=sleeper["id"], signal="SIGTERM")
    killed = await agent.attach(sleeper["id"])
    await collect(killed)
    assert killed.exit is not None
    assert (killed.exit.exit_status, killed.exit.signal) == (None, "TERM")
    assert (await agent.call("proc.forget", id=sleeper["id"])) == {"forgotten": True}
    assert sleeper["id"] not in {p["id"] for p in (await agent.call("proc.list"))["processes"]}


# -- surviving connections -------------------------------------------------------------


async def test_a_process_records_while_nobody_is_connected_and_replays_exactly(
    daemon: Daemon, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    phase1 = b"".join(b"line-%d\n" % i for i in range(1, 2001))
    phase2 = b"".join(b"line-%d\n" % i for i in range(2001, 4001))
    script = (
        "for i in $(seq 1 2000); do echo line-$i; done; "
        f"while [ ! -e {go} ]; do sleep 0.05; done; "
        "for i in $(seq 2001 4000); do echo line-$i; done"
    )
    first = await daemon.connect()
    started = await first.call("proc.start", command=script, name="counter")
    attached = await first.attach(started["id"])
    await anext(attached)
    await first.close()  # the connection ends while attached: the process records on

    second = await daemon.connect()
    assert second.hello["pid"] == first.hello["pid"]

    async def recorded() -> dict[str, object] | None:
        (entry,) = (await second.call("proc.list"))["processes"]
        return entry if entry["output_end"] == len(phase1) else None

    entry = await eventually(recorded, what="the first phase's output recorded")
    assert entry["name"] == "counter"
    assert entry["running"] is True
    stream = await second.attach(started["id"], 0)
    assert (stream.start_offset, stream.dropped) == (0, 0)
    seen = b""
    while len(seen) < len(phase1):
        seen += (await anext(stream)).data
    assert seen == phase1
    await stream.detach()
    assert [chunk async for chunk in stream] == []  # nothing after the detach
    resume_at = stream.offset
    await second.close()

    go.touch()
    third = await daemon.connect()
    again = await third.attach(started["id"], resume_at)
    chunks = []
    async for chunk in again:
        chunks.append(chunk)
    assert chunks[0].offset == resume_at  # no gap...
    assert b"".join(c.data for c in chunks) == phase2  # ...and no repeat
    assert again.exit is not None
    assert again.exit.exit_status == 0
    # A second attachment from the start, at the same time as none: the whole output.
    replay = await third.attach(started["id"], 0)
    assert (await collect(replay))["stdout"] == phase1 + phase2


async def test_two_attachments_at_once_both_see_everything(daemon: Daemon, tmp_path: Path) -> None:
    agent = await daemon.connect()
    other = await daemon.connect()
    started = await agent.call("proc.start", command="head -n 3")
    one = await agent.attach(started["id"])
    two = await other.attach(started["id"])
    await one.write(b"from one\n")
    await two.write(b"from two\n")
    await one.write(b"one again\n")
    first, second = await asyncio.gather(collect(one), collect(two))
    assert first["stdout"] == second["stdout"]
    assert sorted(first["stdout"].splitlines()) == [b"from one", b"from two", b"one again"]


async def test_the_ring_keeps_the_newest_output_and_says_what_it_dropped(daemon: Daemon) -> None:
    expected = b"".join(b"%d\n" % i for i in range(1, 400001))  # about 2.7 MB
    agent = await daemon.connect()
    started = await agent.call("proc.start", argv=["seq", "1", "400000"])
    entry = await wait_finished(agent, started["id"])
    assert entry["output_end"] == len(expected)
    assert entry["output_start"] > 0
    stream = await agent.attach(started["id"], 0)
    assert stream.start_offset == entry["output_start"]
    assert stream.dropped == stream.start_offset
    assert len(expected) - stream.start_offset <= RING_BYTES
    output = await collect(stream)
    assert output["stdout"] == expected[stream.start_offset :]


def test_the_ring_against_a_plain_model() -> None:
    # Tiny interleaved writes (the costly case: many records) and big ones, in a small ring.
    rng = random.Random(7)
    ring = OutputRing(capacity=20_000)
    written, streams = bytearray(), bytearray()  # every byte ever written, and its stream
    for _ in range(3000):
        stream = rng.choice([STDOUT, STDERR])
        data = rng.randbytes(rng.choice([1, 2, 7, 100, 5000, 70_000]))
        ring.append(stream, data)
        written += data
        streams += bytes([stream]) * len(data)
        assert ring.end == len(written)
        assert 0 < ring.end - ring.start <= 20_000
    # Reading from any offset returns the newest bytes, by stream, in order, exactly.
    for offset in (0, ring.start - 1, ring.start, ring.start + 1, ring.end - 3):
        position = max(offset, ring.start)
        while (piece := ring.read(offset, 4096)) is not None:
            stream, start, data = piece
            assert start == position
            assert data == written[start : start + len(data)]
            assert streams[start : start + len(data)] == bytes([stream]) * len(data)
            position = offset = start + len(data)
        assert position == ring.end
    assert ring.read(ring.end, 10) is None


# -- the daemon ---------------------------------------------------------------------------


async def test_the_daemon_stays_while_a_process_runs() -> None:
    daemon = Daemon(idle_seconds=0.3)
    try:
        go = daemon.runtime / "go"
        agent = await daemon.connect()
        pid = agent.hello["pid"]
        started = await agent.call(
            "proc.start", command=f"while [ ! -e {go} ]; do sleep 0.05; done; echo done"
        )
        await agent.close()
        await asyncio.sleep(1.5)  # five idle times with nobody connected
        assert alive(pid)
        again = await daemon.connect()
        assert again.hello["pid"] == pid
        info = await again.call("daemon.info")
        assert info["pid"] == pid
        assert info["agent_version"] == AGENT_VERSION
        assert (info["processes"], info["clients"], info["mode"]) == (1, 1, "daemon")
        go.touch()
        assert (await collect(await again.attach(started["id"])))["stdout"] == b"done\n"
        await again.close()
        assert await wait_gone(pid)  # idle at last, it leaves
    finally:
        await daemon.stop()


async def test_a_newer_agent_starts_a_newer_daemon_and_the_old_one_drains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daemon = Daemon(idle_seconds=0.3)
    try:
        go = daemon.runtime / "go"
        old = await daemon.connect()
        started = await old.call("proc.start", command=f"while [ ! -e {go} ]; do sleep 0.05; done")
        await old.close()
        newer = bootstrap.MODULE_SOURCES["wire"].replace(
            b"\nAGENT_VERSION = %d\n" % AGENT_VERSION,
            b"\nAGENT_VERSION = %d\n" % (AGENT_VERSION + 1),
        )
        assert newer != bootstrap.MODULE_SOURCES["wire"]
        monkeypatch.setitem(bootstrap.MODULE_SOURCES, "wire", newer)
        new = await daemon.connect()
        assert new.hello["agent_version"] == AGENT_VERSION + 1
        assert new.hello["pid"] != old.hello["pid"]  # beside the old one, not in it
        assert (await new.call("proc.list"))["processes"] == []
        assert alive(old.hello["pid"])  # the old one keeps its running process
        go.touch()
        assert await wait_gone(old.hello["pid"])  # and leaves once it has ended
        assert alive(new.hello["pid"])
        assert started["id"]
    finally:
        await daemon.stop()


async def test_a_cap_on_running_processes_holds_for_starts_at_once(daemon: Daemon) -> None:
    """``max_running`` counts an owner's processes being started too: of six started at
    the same moment with a cap of two, two run (another owner's are not counted)."""
    agent = await daemon.connect()

    async def start(owner: str) -> dict[str, object] | AgentCallError:
        try:
            started: dict[str, object] = await agent.call(
                "proc.start", command="sleep 60", owner=owner, max_running=2
            )
        except AgentCallError as exc:
            return exc
        return started

    answers = await asyncio.gather(*(start("user:a") for _ in range(6)))
    refused = [a for a in answers if isinstance(a, AgentCallError)]
    assert len(refused) == 4
    assert {exc.remote_code for exc in refused} == {"too_many_processes"}
    assert "You have 2 processes and terminals running here" in refused[0].message
    assert not isinstance(await start("user:b"), AgentCallError)


async def test_ports_and_socket_paths_for_apps(daemon: Daemon) -> None:
    agent = await daemon.connect()
    port = (await agent.call("net.free_port"))["port"]
    assert 1024 <= port <= 65535
    first = (await agent.call("net.socket_path", name="jupyter"))["path"]
    second = (await agent.call("net.socket_path", name="jupyter"))["path"]
    assert first != second
    assert Path(first).parent.parent == daemon.runtime / "run"
    assert not Path(first).exists()
    assert Path(first).parent.stat().st_mode & 0o777 == 0o700
    with pytest.raises(AgentCallError) as bad:
        await agent.call("net.socket_path", name="../escape")
    assert bad.value.remote_code == "bad_request"


# -- the oldest python the agent supports -------------------------------------------------


@functools.cache
def oldest_python() -> str | None:
    candidates = [
        shutil.which("python3.8"),
        *glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8")),
    ]
    for candidate in filter(None, candidates):
        result = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 8))"],
            capture_output=True,
            text=True,
        )
        if result.stdout.strip() == "True":
            return candidate
    return None


@pytest.mark.skipif(oldest_python() is None, reason="no Python 3.8 on this machine")
async def test_python_3_8_runs_processes_terminals_and_streams(
    daemon: Daemon, tmp_path: Path
) -> None:
    python = oldest_python()
    assert python is not None
    agent = await daemon.connect(python)
    assert agent.hello["python"][:2] == [3, 8]
    started = await agent.call("proc.start", pty=True, command="bash --norc -i", cols=90, rows=20)
    stream = await agent.attach(started["id"])
    screen = Screen(stream)
    await stream.write(b"echo size-$(stty size | tr ' ' x)\n")
    await screen.wait_for(b"size-20x90")
    await stream.write(b"exit 4\n")
    await collect(stream)
    assert stream.exit is not None
    assert stream.exit.exit_status == 4
    data = os.urandom(3 * 1024 * 1024)
    target = tmp_path / "blob"
    await agent.write_stream(
        str(target), [data[i : i + 100_000] for i in range(0, len(data), 100_000)]
    )
    assert target.read_bytes() == data
    async with await agent.read_stream(str(target)) as reading:
        assert b"".join([chunk async for chunk in reading]) == data
