"""The agent over the local transport: started from memory, greeting, calls, failures."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import pwd
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labgate.agent import bootstrap
from labgate.agent.bootstrap import BOOT_SOURCE, MODULE_SOURCES
from labgate.agent.client import AgentCallError, AgentConnection, AgentError
from labgate.agent.remote import runtime
from labgate.agent.remote.runtime import _SOCKET_PATH_MAX, Options, socket_path
from labgate.agent.remote.wire import AGENT_VERSION
from labgate.transport.local import LocalTransport
from tests.support.eventually import eventually

AGENT_SOURCES = {"boot": BOOT_SOURCE, **MODULE_SOURCES}


@pytest.mark.parametrize("module", sorted(AGENT_SOURCES))
def test_the_agent_is_valid_python_3_8(module: str) -> None:
    # The resource may have an old python: every module sent there must parse with 3.8's
    # grammar.
    ast.parse(AGENT_SOURCES[module], feature_version=(3, 8))


@pytest.mark.parametrize("module", sorted(AGENT_SOURCES))
def test_the_agent_imports_only_the_standard_library_and_itself(module: str) -> None:
    imported = set()
    for node in ast.walk(ast.parse(AGENT_SOURCES[module])):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):  # relative: a module of the agent's own
            assert node.level == 1, "the agent's modules import each other as .name"
            for name in [node.module] if node.module else [a.name for a in node.names]:
                assert name in MODULE_SOURCES, f"{name} is not sent to the resource"
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_every_module_of_the_package_is_sent() -> None:
    package = Path(bootstrap.__file__).with_name("remote")
    assert {p.stem for p in package.glob("*.py")} == set(MODULE_SOURCES) | {"boot"}
    assert "__init__" in MODULE_SOURCES
    assert "boot" not in MODULE_SOURCES


def test_the_server_imports_only_the_wire_format_of_the_agent() -> None:
    # The rest of the package runs on the resource (files.py, for one, sets the umask as
    # it is imported); importing labgate.agent imports none of it.
    code = (
        "import sys, labgate.agent, labgate.app, labgate.cli.main, labgate.launchers.slurm\n"
        "print(sorted(m for m in sys.modules if m.startswith('labgate.agent.remote')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "['labgate.agent.remote', 'labgate.agent.remote.wire']"


async def test_greeting_and_calls() -> None:
    agent = await AgentConnection.start(
        LocalTransport(), python=sys.executable, agent_args=["--no-daemon"]
    )
    try:
        assert agent.hello["agent_version"] == AGENT_VERSION
        assert agent.hello["python"][:2] == list(sys.version_info[:2])
        assert await agent.call("ping", payload={"x": [1, "é"]}) == {"pong": {"x": [1, "é"]}}
        info = await agent.call("system.info")
        assert info["cpus"] == os.cpu_count()
        assert info["home"] == os.path.expanduser("~")
        assert info["memory"]["total"] > 0
        assert info["home_disk"]["total"] >= info["home_disk"]["free"] > 0
        # Calls run side by side and each answer finds its caller.
        answers = await asyncio.gather(*(agent.call("ping", payload=i) for i in range(50)))
        assert [a["pong"] for a in answers] == list(range(50))
    finally:
        await agent.close()
    assert agent.closed


async def test_errors_come_back_as_errors_and_the_agent_carries_on() -> None:
    agent = await AgentConnection.start(
        LocalTransport(), python=sys.executable, agent_args=["--no-daemon"]
    )
    try:
        with pytest.raises(AgentCallError) as unknown:
            await agent.call("no.such.method")
        assert unknown.value.remote_code == "unknown_method"
        assert (await agent.call("ping", payload=1)) == {"pong": 1}
    finally:
        await agent.close()


async def test_a_dead_agent_fails_pending_and_later_calls() -> None:
    agent = await AgentConnection.start(
        LocalTransport(), python=sys.executable, agent_args=["--no-daemon"]
    )
    agent.process.terminate()
    await agent.process.wait()
    # The reader notices the end of the stream shortly.
    await eventually(lambda: agent.closed, what="the agent's connection closed")
    with pytest.raises(AgentError, match="closed"):
        await agent.call("ping")
    await agent.close()


async def test_missing_python_is_named() -> None:
    with pytest.raises(AgentError, match="There is no '/nonexistent/python3'") as missing:
        await AgentConnection.start(LocalTransport(), python="/nonexistent/python3")
    assert missing.value.code == "python_missing"


async def test_too_old_python_is_named(tmp_path: Path) -> None:
    # An interpreter that claims to be 3.6: the loader refuses before reading the agent.
    old = tmp_path / "python3.6"
    old.write_text(
        "#!/bin/sh\n"
        f'exec {sys.executable} -c "import sys; sys.version_info = (3, 6, 9); '
        f'sys.version = \'3.6.9 (fake)\'; exec(sys.argv[-1])" "$@"\n'
    )
    old.chmod(0o755)
    with pytest.raises(
        AgentError, match=r"Python 3\.6\.9 is too old; 3\.8 or newer is needed"
    ) as too_old:
        await AgentConnection.start(LocalTransport(), python=str(old))
    assert too_old.value.code == "python_too_old"


async def test_system_info_names_the_user_and_reads_gpus_from_nvidia_smi(tmp_path: Path) -> None:
    # No GPU here: a stand-in nvidia-smi on PATH answers the query the agent makes, in
    # nvidia-smi's documented CSV format, so the parsing is tested at that boundary.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--query-gpu=index,name,memory.total,memory.used,utilization.gpu*) ;;\n'
        "  *) exit 2 ;; esac\n"
        "echo '0, NVIDIA A100-SXM4-40GB, 40960, 1024, 37'\n"
        "echo '1, NVIDIA A100-SXM4-40GB, 40960, 0, [N/A]'\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    agent = await AgentConnection.start(LocalTransport(env=env), agent_args=["--no-daemon"])
    try:
        info = await agent.call("system.info")
    finally:
        await agent.close()
    assert info["user"] == pwd.getpwuid(os.getuid()).pw_name
    assert info["gpus"] == [
        {
            "index": 0,
            "name": "NVIDIA A100-SXM4-40GB",
            "memory_total": 40960 * 1024 * 1024,
            "memory_used": 1024 * 1024 * 1024,
            "utilization": 37.0,
        },
        {
            "index": 1,
            "name": "NVIDIA A100-SXM4-40GB",
            "memory_total": 40960 * 1024 * 1024,
            "memory_used": 0,
            "utilization": None,
        },
    ]
    # Without nvidia-smi: no GPUs, and no error.
    plain = await AgentConnection.start(LocalTransport(), agent_args=["--no-daemon"])
    try:
        assert (await plain.call("system.info"))["gpus"] == []
    finally:
        await plain.close()


# -- the per-user daemon ----------------------------------------------------------------


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # An exited child that nobody reaped yet counts as gone; so does one reaped between
    # the signal and the read (/proc says so with ENOENT or ESRCH).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


async def wait_gone(pid: int) -> bool:
    return await eventually(lambda: not alive(pid), what=f"process {pid} gone")


@pytest.fixture
def daemon_args(tmp_path: Path) -> Iterator[list[str]]:
    args = ["--runtime-dir", str(tmp_path / "run"), "--idle-seconds", "1"]
    yield args
    for sock in (tmp_path / "run").glob("daemon-*.sock"):
        sock.unlink()


async def start(args: list[str]) -> AgentConnection:
    return await AgentConnection.start(LocalTransport(), python=sys.executable, agent_args=args)


async def test_connections_share_one_daemon_that_outlives_them(
    daemon_args: list[str], tmp_path: Path
) -> None:
    first = await start(daemon_args)
    daemon = first.hello["pid"]
    assert daemon != first.process.process.pid  # type: ignore[attr-defined]
    await first.close()
    # The connection is gone; the daemon is not, and the next connection finds it.
    assert alive(daemon)
    second = await start(daemon_args)
    assert second.hello["pid"] == daemon
    assert (await second.call("ping", payload=2)) == {"pong": 2}
    run = tmp_path / "run"
    assert run.stat().st_mode & 0o777 == 0o700
    (sock,) = run.glob("daemon-v*.sock")
    assert sock.stat().st_mode & 0o777 == 0o600
    await second.close()
    # With nobody connected it leaves after its idle time, removing its socket.
    assert await wait_gone(daemon)
    assert not sock.exists()


def test_the_daemon_socket_names_the_network_and_fits_a_socket_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two network namespaces sharing /tmp and a host name get a daemon each (see
    tests/e2e/test_daemons_per_network.py); a long runtime directory and host name still
    give a path a socket can have."""
    path = socket_path(Options(["--runtime-dir", str(tmp_path / "run")]))
    network = os.stat("/proc/self/ns/net").st_ino
    assert os.path.basename(path).endswith(f"-n{network:x}.sock")
    monkeypatch.setattr(runtime, "machine_identity", lambda: "h" * 40 + f"-n{network:x}")
    # Room for a digest-named socket, not for the host and network names.
    deep = tmp_path / ("d" * (_SOCKET_PATH_MAX - len(str(tmp_path)) - 34))
    long = socket_path(Options(["--runtime-dir", str(deep)]))
    assert len(os.fsencode(long)) <= _SOCKET_PATH_MAX
    assert long.startswith(f"{deep}/daemon-v{AGENT_VERSION}-")
    assert "h" * 40 not in long


async def test_agents_starting_together_start_one_daemon(daemon_args: list[str]) -> None:
    agents = await asyncio.gather(*(start(daemon_args) for _ in range(5)))
    assert len({agent.hello["pid"] for agent in agents}) == 1
    for agent in agents:
        await agent.close()
    assert await wait_gone(agents[0].hello["pid"])


async def test_a_dead_daemon_is_replaced(daemon_args: list[str]) -> None:
    first = await start(daemon_args)
    old = first.hello["pid"]
    await first.close()
    os.kill(old, signal.SIGKILL)  # leaves its socket file behind
    assert await wait_gone(old)
    second = await start(daemon_args)
    try:
        assert second.hello["pid"] != old
        assert (await second.call("ping", payload=3)) == {"pong": 3}
    finally:
        await second.close()
    assert await wait_gone(second.hello["pid"])


def _pipes_of(pid: int | str, fds: list[int] | None = None) -> set[str]:
    where = f"/proc/{pid}/fd"
    links = {os.readlink(f"{where}/{fd}") for fd in (fds if fds is not None else os.listdir(where))}
    return {link for link in links if link.startswith("pipe:")}


async def test_the_agent_hands_its_connection_to_the_daemon(daemon_args: list[str]) -> None:
    agent = await start(daemon_args)
    try:
        server_end = agent.process.process  # type: ignore[attr-defined]
        ours = _pipes_of(
            "self",
            [
                server_end.stdin.transport.get_extra_info("pipe").fileno(),
                server_end.stdout._transport.get_extra_info("pipe").fileno(),
            ],
        )
        assert len(ours) == 2
        # The daemon holds the very pipes the server writes and reads; the agent none.
        assert ours <= _pipes_of(agent.hello["pid"])
        assert not _pipes_of(server_end.pid, [0, 1])
        assert os.readlink(f"/proc/{server_end.pid}/fd/0") == os.devnull
        assert (await agent.call("ping", payload="direct")) == {"pong": "direct"}
    finally:
        await agent.close()
    # Closing the connection ends the agent too: it waits only while the daemon serves.
    assert await wait_gone(server_end.pid)


async def test_a_killed_agent_ends_only_its_own_connection(daemon_args: list[str]) -> None:
    doomed = await start(daemon_args)
    kept = await start(daemon_args)
    try:
        assert (await kept.call("daemon.info"))["clients"] == 2
        os.kill(doomed.process.process.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        # The daemon closed what the agent had handed over: the server saw the end.
        await eventually(lambda: doomed.closed, what="the killed agent's connection closed")
        with pytest.raises(AgentError):
            await doomed.call("ping")
        assert (await kept.call("daemon.info"))["clients"] == 1
        assert (await kept.call("ping", payload="kept")) == {"pong": "kept"}
    finally:
        await doomed.close()
        await kept.close()


async def test_a_connection_that_hands_over_nothing_is_dropped(daemon_args: list[str]) -> None:
    agent = await start(daemon_args)
    try:
        (path,) = Path(daemon_args[1]).glob("daemon-v*.sock")
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"LGFD, but no descriptors")
        with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
            assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        assert (await agent.call("daemon.info"))["clients"] == 1
    finally:
        await agent.close()


async def test_a_runtime_directory_others_can_enter_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(AgentError, match="not a private directory"):
        await start(["--runtime-dir", str(shared)])
