"""The SSH transport against a real OpenSSH sshd: the agent started over it, host keys
checked, credentials tried, failures explained."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from labgate.agent.client import AgentConnection, AgentError
from labgate.credentials.kinds import KeyCredential, PasswordCredential
from labgate.transport.ssh import (
    HostKeyChanged,
    HostKeyUnknown,
    SshError,
    SshTransport,
    _Reader,
    _Writer,
    fingerprint,
)
from tests.support.daemons import processes_using
from tests.support.eventually import eventually
from tests.support.hops import key_hop
from tests.support.sshd import SshServer

# Daemons on the test account live in a directory of the test's and leave soon after
# their last connection; the fixture kills any that remain.
DAEMON_ARGS = ["--runtime-dir", "/tmp/labgate-transport-test", "--idle-seconds", "2"]


async def start_agent(transport: SshTransport) -> AgentConnection:
    agent = await AgentConnection.start(transport, agent_args=DAEMON_ARGS)
    STARTED_DAEMONS.add(agent.hello["pid"])
    return agent


STARTED_DAEMONS: set[int] = set()


@pytest.fixture(autouse=True, scope="module")
def _kill_daemons() -> Iterator[None]:
    yield
    for pid in STARTED_DAEMONS:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree("/tmp/labgate-transport-test", ignore_errors=True)


async def test_the_agent_runs_over_ssh_with_a_key(sshd: SshServer) -> None:
    transport = SshTransport([key_hop(sshd)])
    agent = await start_agent(transport)
    try:
        info = await agent.call("system.info")
        assert info["user"] == sshd.user.name
        assert info["home"] == str(sshd.user.home)
        assert await agent.call("ping", payload="über ssh") == {"pong": "über ssh"}
    finally:
        await agent.close()
        await transport.close()


async def test_password_login(sshd: SshServer) -> None:
    transport = SshTransport([key_hop(sshd, credential=PasswordCredential(sshd.user.password))])
    agent = await start_agent(transport)
    try:
        assert (await agent.call("system.info"))["user"] == sshd.user.name
    finally:
        await agent.close()
        await transport.close()


async def test_wrong_password_says_which_method_failed(sshd: SshServer) -> None:
    transport = SshTransport([key_hop(sshd, credential=PasswordCredential("wrong password"))])
    with pytest.raises(SshError, match=r"authentication failed \(tried: password\)"):
        await transport.connect()


async def test_wrong_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(stranger)], check=True)
    transport = SshTransport([key_hop(sshd, credential=KeyCredential(stranger.read_bytes()))])
    with pytest.raises(SshError, match=r"authentication failed \(tried: key\)"):
        await transport.connect()


async def test_unknown_host_key_shows_its_fingerprint(sshd: SshServer) -> None:
    transport = SshTransport([key_hop(sshd, known_host_key=None)])
    with pytest.raises(HostKeyUnknown) as unknown:
        await transport.connect()
    assert unknown.value.fingerprint == sshd.host_key_fingerprint
    assert fingerprint(unknown.value.public_key) == sshd.host_key_fingerprint
    assert sshd.host_key_fingerprint in unknown.value.message
    # Confirming the key it showed lets the connection through.
    confirmed = SshTransport([key_hop(sshd, known_host_key=unknown.value.public_key)])
    await confirmed.connect()
    await confirmed.close()


async def test_changed_host_key_is_a_hard_stop(sshd: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(other)], check=True)
    stale = (tmp_path / "other_host_key.pub").read_text().strip()
    transport = SshTransport([key_hop(sshd, known_host_key=stale)])
    with pytest.raises(HostKeyChanged) as changed:
        await transport.connect()
    assert changed.value.fingerprint == sshd.host_key_fingerprint
    assert changed.value.expected == fingerprint(stale)
    assert "CHANGED" in changed.value.message


async def test_refused_and_unknown_names_are_explained(sshd: SshServer) -> None:
    closed_port = SshTransport([key_hop(sshd, port=1)])
    with pytest.raises(SshError, match="connection refused"):
        await closed_port.connect()
    no_such_name = SshTransport([key_hop(sshd, host="no-such-host.invalid")])
    with pytest.raises(SshError, match="was not found"):
        await no_such_name.connect()


async def test_a_chain_through_a_jump_host_names_the_failing_hop(sshd: SshServer) -> None:
    # Loopback stands in for both hops here; the network-namespace chain test comes
    # with the resources issue's jump-host work.
    jump = key_hop(sshd)
    good = SshTransport([jump, key_hop(sshd)])
    agent = await start_agent(good)
    try:
        assert (await agent.call("system.info"))["user"] == sshd.user.name
    finally:
        await agent.close()
        await good.close()
    bad = SshTransport([jump, key_hop(sshd, credential=PasswordCredential("nope, wrong"))])
    with pytest.raises(SshError) as failed:
        await bad.connect()
    assert failed.value.hop == 1
    assert "hop 2" in failed.value.message


async def test_the_daemon_survives_a_dropped_ssh_connection(sshd: SshServer) -> None:
    first = SshTransport([key_hop(sshd)])
    agent = await start_agent(first)
    daemon = agent.hello["pid"]
    await first.close()  # the SSH connection drops, without a goodbye to the agent
    second = SshTransport([key_hop(sshd, credential=PasswordCredential(sshd.user.password))])
    again = await start_agent(second)
    try:
        assert again.hello["pid"] == daemon
        assert (await again.call("ping", payload="still here")) == {"pong": "still here"}
    finally:
        await again.close()
        await second.close()
    await agent.close()


async def test_a_killed_ssh_session_ends_only_its_connection_in_the_daemon(
    sshd: SshServer,
) -> None:
    # The daemon holds the session's pipes itself: it must see them end when the sshd
    # serving them dies mid-stream, and let go of that connection only.
    kept_transport = SshTransport([key_hop(sshd)])
    kept = await start_agent(kept_transport)
    before = set(sshd.session_processes())
    doomed_transport = SshTransport([key_hop(sshd)])
    doomed = await start_agent(doomed_transport)
    doomed_sessions = set(sshd.session_processes()) - before
    big = sshd.user.home / "transport-killed-session.bin"
    big.write_bytes(os.urandom(32 * 1024 * 1024))
    os.chown(big, sshd.user.uid, sshd.user.gid)
    daemon = kept.hello["pid"]
    try:
        assert doomed.hello["pid"] == daemon
        sleeper = await doomed.call("proc.start", command="sleep 60")
        stream = await doomed.read_stream(str(big))
        await anext(stream)  # the stream runs, and waits for this reader
        assert (await kept.call("daemon.info"))["clients"] == 2
        assert len(_agents(daemon)) == 2
        assert doomed_sessions
        for pid in doomed_sessions:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(AgentError):
            async for _ in stream:
                pass

        async def one_client() -> bool:
            return bool((await kept.call("daemon.info"))["clients"] == 1)

        await eventually(one_client, what="the daemon with one client left")
        assert not _holds_open(daemon, big)  # the stream's file is closed
        # And the lost connection's agent left with it.
        await eventually(lambda: len(_agents(daemon)) == 1, what="one agent left")
        # What the lost connection started runs on; the other connection works.
        listed = {p["id"]: p for p in (await kept.call("proc.list"))["processes"]}
        assert listed[sleeper["id"]]["running"]
        assert (await kept.call("ping", payload="kept")) == {"pong": "kept"}
        await kept.call("proc.signal", id=sleeper["id"], signal="KILL")
    finally:
        await doomed.close()
        await doomed_transport.close()
        await kept.close()
        await kept_transport.close()
        big.unlink(missing_ok=True)


def _agents(daemon: int) -> set[int]:
    """The agents sshd started (each waits while the daemon serves its connection)."""
    return set(processes_using(DAEMON_ARGS[1])) - {daemon}


def _holds_open(pid: int, path: Path) -> bool:
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
    return False


async def test_a_connection_that_ended_reads_as_a_connection_error() -> None:
    # asyncssh reports a connection the server closed (a clean FIN, not a reset) with its
    # own ConnectionLost; whoever reads a transport's stream sees a ConnectionError.
    class Ended:
        async def read(self, n: int = -1) -> bytes:
            raise asyncssh.ConnectionLost("Connection lost")

        async def readexactly(self, n: int) -> bytes:
            raise asyncssh.ConnectionLost("Connection lost")

        async def drain(self) -> None:
            raise asyncssh.ConnectionLost("Connection lost")

    reader = _Reader(Ended())  # type: ignore[arg-type]
    with pytest.raises(ConnectionError, match="the SSH connection ended: Connection lost"):
        await reader.read(10)
    with pytest.raises(ConnectionError, match="the SSH connection ended"):
        await reader.readexactly(9)
    with pytest.raises(ConnectionError, match="the SSH connection ended"):
        await _Writer(Ended()).drain()  # type: ignore[arg-type]
