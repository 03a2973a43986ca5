"""A resource reachable only through a jump host, with real OpenSSH servers in network
namespaces (``tests/support/netns.py``), and agent start-up failures over plain SSH.

The network: the tests (root namespace) reach the jump host at 10.201.X.2; the target at
10.201.Y.2 is reachable from the jump namespace only. Each namespace runs its own sshd with
its own host key, logging in to the real local account ``labgate-test``.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import tempfile
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path

import pytest

from labgate.agent.client import AgentConnection, AgentError
from labgate.credentials.kinds import PasswordCredential
from labgate.transport.ssh import (
    Hop,
    HostKeyChanged,
    HostKeyUnknown,
    SshError,
    SshTransport,
)
from tests.support.hops import key_hop
from tests.support.netns import (
    GUARD_RANGE,
    JumpNetwork,
    connect_from,
    ensure_guard_route,
    jump_network,
    namespace_pids,
    netns_exec,
    remove_leftovers,
)
from tests.support.sshd import SshServer, TestUser, ensure_test_user, running_sshd

# The agent answers in the SSH session's own process: nothing is left on the target.
NO_DAEMON = ["--no-daemon"]
# Failures inside the test network are immediate (refused, unreachable); do not wait 20 s.
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def test_user() -> TestUser:
    return ensure_test_user()


@pytest.fixture(scope="module")
def loopback_sshd(
    tmp_path_factory: pytest.TempPathFactory, test_user: TestUser
) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("loopback-sshd"), test_user) as server:
        yield server


def password_hop(server: SshServer, **changes: object) -> Hop:
    return key_hop(server, **{"credential": PasswordCredential(server.user.password), **changes})


async def read_text(agent: AgentConnection, path: str) -> str:
    answer = await agent.call("fs.read", path=path)
    return b64decode(answer["data"]).decode()


def local_addresses(fib_trie: str) -> set[str]:
    """The IPv4 addresses of a network namespace, from its ``/proc/self/net/fib_trie``:
    each ``|-- ADDRESS`` leaf followed by ``/32 host LOCAL``."""
    found: set[str] = set()
    leaf = ""
    for line in fib_trie.splitlines():
        words = line.split()
        if words[:1] == ["|--"]:
            leaf = words[1]
        elif words == ["/32", "host", "LOCAL"]:
            found.add(leaf)
    return found


def interfaces(net_dev: str) -> set[str]:
    """Interface names from ``/proc/self/net/dev`` (two header lines, then ``name: ...``)."""
    return {line.split(":", 1)[0].strip() for line in net_dev.splitlines()[2:]}


# -- the network itself ----------------------------------------------------------------------


def test_the_network_keeps_the_target_out_of_reach(
    network: JumpNetwork, target_sshd: SshServer
) -> None:
    # The guard routes the whole test range nowhere; only the jump host's link is closer.
    guard = subprocess.run(
        ["ip", "-4", "route", "show", "exact", GUARD_RANGE], capture_output=True, text=True
    )
    assert guard.stdout.startswith("unreachable")
    # The jump host does not forward packets.
    forwarding = subprocess.run(
        [*netns_exec(network.jump), "cat", "/proc/sys/net/ipv4/ip_forward"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert forwarding.stdout.strip() == "0"
    # From the jump host the target's sshd answers ...
    banner = connect_from(network.jump, target_sshd.host, target_sshd.port)
    assert banner is not None
    assert banner.startswith(b"SSH-2.0-")
    # ... from here (the root namespace) there is no way to it: not even a TCP connection.
    with pytest.raises(OSError, match=r"No route to host|Network is unreachable") as unreachable:
        socket.create_connection((target_sshd.host, target_sshd.port), timeout=TIMEOUT)
    assert unreachable.value.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH)


async def test_ssh_straight_to_the_target_fails_at_the_first_hop(target_sshd: SshServer) -> None:
    hop = key_hop(target_sshd)
    transport = SshTransport([hop], connect_timeout=TIMEOUT)
    with pytest.raises(SshError) as failed:
        await transport.connect()
    assert failed.value.hop == 0
    assert failed.value.hop_label == hop.label
    assert failed.value.message.startswith(f"{hop.label}: ")
    assert "No route to host" in failed.value.message


# -- through the jump host -------------------------------------------------------------------


async def test_the_agent_runs_on_the_target_through_the_jump_host(
    network: JumpNetwork, jump_sshd: SshServer, target_sshd: SshServer
) -> None:
    assert jump_sshd.host_key_fingerprint != target_sshd.host_key_fingerprint
    transport = SshTransport([key_hop(jump_sshd), password_hop(target_sshd)])
    agent = await AgentConnection.start(transport, agent_args=NO_DAEMON)
    try:
        info = await agent.call("system.info")
        assert info["user"] == target_sshd.user.name
        assert info["home"] == str(target_sshd.user.home)
        # /proc/self/net shows the network namespace of the process reading it: the
        # agent's addresses and links are the target's, not the jump host's or ours.
        assert local_addresses(await read_text(agent, "/proc/self/net/fib_trie")) == {
            "127.0.0.1",
            network.target_address,
        }
        assert interfaces(await read_text(agent, "/proc/self/net/dev")) == {
            "lo",
            network.target_link,
        }
    finally:
        await agent.close()
        await transport.close()
    ours = local_addresses(Path("/proc/self/net/fib_trie").read_text())
    assert network.root_address in ours
    assert network.target_address not in ours
    # The target saw the connection come from the jump host's inner address.
    assert f"Connection from {network.jump_inner_address} port" in target_sshd.log
    assert f"Connection from {network.root_address} port" in jump_sshd.log


async def test_a_wrong_password_on_the_second_hop_names_it(
    jump_sshd: SshServer, target_sshd: SshServer
) -> None:
    target = password_hop(target_sshd, credential=PasswordCredential("wrong password"))
    transport = SshTransport([key_hop(jump_sshd), target], connect_timeout=TIMEOUT)
    with pytest.raises(SshError) as failed:
        await transport.connect()
    assert failed.value.hop == 1
    assert failed.value.hop_label == target.label
    message = failed.value.message
    assert message.startswith(f"{target.label} (hop 2, via {key_hop(jump_sshd).label})")
    assert "authentication failed (tried: password)" in message


async def test_an_unknown_host_key_on_the_second_hop_shows_its_fingerprint(
    jump_sshd: SshServer, target_sshd: SshServer
) -> None:
    target = password_hop(target_sshd, known_host_key=None)
    transport = SshTransport([key_hop(jump_sshd), target], connect_timeout=TIMEOUT)
    with pytest.raises(HostKeyUnknown) as unknown:
        await transport.connect()
    assert unknown.value.hop == 1
    assert unknown.value.hop_label == target.label
    assert unknown.value.fingerprint == target_sshd.host_key_fingerprint
    assert target_sshd.host_key_fingerprint in unknown.value.message
    assert target.label in unknown.value.message
    # The jump host's key stored for the target is a changed key, not a pass.
    swapped = password_hop(target_sshd, known_host_key=jump_sshd.host_public_key)
    transport = SshTransport([key_hop(jump_sshd), swapped], connect_timeout=TIMEOUT)
    with pytest.raises(HostKeyChanged) as changed:
        await transport.connect()
    assert changed.value.hop == 1
    assert changed.value.expected == jump_sshd.host_key_fingerprint


async def test_a_jump_host_that_is_down_is_named(
    tmp_path: Path, test_user: TestUser, network: JumpNetwork, target_sshd: SshServer
) -> None:
    with running_sshd(
        tmp_path, test_user, netns=network.jump, listen_address=network.jump_address
    ) as doomed:
        jump = key_hop(doomed)
        working = SshTransport([jump, password_hop(target_sshd)], connect_timeout=TIMEOUT)
        await working.connect()  # the chain works while it runs
        await working.close()
    assert doomed.pid not in namespace_pids(network.jump)
    transport = SshTransport([jump, password_hop(target_sshd)], connect_timeout=TIMEOUT)
    with pytest.raises(SshError) as failed:
        await transport.connect()
    assert failed.value.hop == 0
    assert failed.value.hop_label == jump.label
    assert failed.value.message.startswith(f"{jump.label}: connection refused")


# -- the helper's own clean-up ---------------------------------------------------------------


def _names(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def test_a_network_is_gone_after_its_block() -> None:
    with jump_network() as built:
        assert built.jump in _names(["ip", "netns", "list"]).split()
        assert built.root_link in _names(["ip", "-o", "link", "show"])
    assert built.jump not in _names(["ip", "netns", "list"]).split()
    assert built.target not in _names(["ip", "netns", "list"]).split()
    assert built.root_link not in _names(["ip", "-o", "link", "show"])


def test_leftovers_of_a_dead_run_are_removed() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"lgt-{dead.pid}-0-jump"  # as a run with that (now gone) PID would name it
    ensure_guard_route()  # the test network rule: the guard before any namespace
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        remove_leftovers()
        assert name not in _names(["ip", "netns", "list"]).split()
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


# -- the resource's python, over plain SSH ---------------------------------------------------


async def test_a_missing_python_is_named_over_ssh(loopback_sshd: SshServer) -> None:
    transport = SshTransport([key_hop(loopback_sshd)])
    try:
        with pytest.raises(
            AgentError, match="There is no '/nonexistent/python3' on the resource"
        ) as missing:
            await AgentConnection.start(transport, python="/nonexistent/python3")
    finally:
        await transport.close()
    assert missing.value.code == "python_missing"


@pytest.fixture
def old_python() -> Iterator[Path]:
    """An interpreter that claims to be 3.6, where the test account can run it: the real
    ``python3`` of the account's PATH with ``sys.version_info`` replaced before the loader
    runs (as in tests/test_agent_local.py). pytest's tmp_path is private to root, so it
    lives in a 0755 directory of its own under /tmp, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="labgate-old-python-", dir="/tmp"))
    try:
        directory.chmod(0o755)
        old = directory / "python3.6"
        old.write_text(
            "#!/bin/sh\n"
            'exec python3 -c "import sys; sys.version_info = (3, 6, 9); '
            'sys.version = \'3.6.9 (fake)\'; exec(sys.argv[-1])" "$@"\n'
        )
        old.chmod(0o755)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
        yield old
    finally:
        for leftover in directory.iterdir():
            leftover.unlink()
        directory.rmdir()


# Over SSH the loader's message must be read before waiting for the exit status:
# asyncssh's ``SSHClientProcess.wait()`` consumes what is left of stdout and stderr.
async def test_a_too_old_python_is_named_over_ssh(
    loopback_sshd: SshServer, old_python: Path
) -> None:
    transport = SshTransport([key_hop(loopback_sshd)])
    try:
        with pytest.raises(
            AgentError, match=r"^Python 3\.6\.9 is too old; 3\.8 or newer is needed\.$"
        ) as too_old:
            await AgentConnection.start(transport, python=str(old_python))
    finally:
        await transport.close()
    assert too_old.value.code == "python_too_old"
