"""Resources: reaching a computer over SSH with labgate, side by side with OpenSSH and SFTP
in the same run (issue 3).

Everything runs on this machine. The "resource" is the local test account
``labgate-test`` behind a private OpenSSH sshd on 127.0.0.1 (``tests/support/sshd.py``:
its own host key, client key and authorized keys file). In that account's home go a
directory of many small files and one large file. Then, side by side:

1. **Listing the directory with full stat information**, on warm connections: labgate's
   API (``GET /api/v1/resources/{id}/files``, paging through every entry, through a
   running ``labgate serve`` that keeps its SSH connection and agent), the same listing
   one level down (``AgentConnection.call("fs.list")`` in this process, without HTTP),
   OpenSSH ``ssh host ls -la <dir>`` through a ControlMaster connection, and SFTP
   ``readdir`` on an open asyncssh SFTP session.
2. **Connecting to ready**, the daemon already running: labgate's own path
   (``SshTransport`` + ``AgentConnection.start`` + a ``ping``, as the server does it), the
   API path (``POST .../disconnect``, untimed, then ``GET .../system``) and a bare
   ``ssh host true`` on a fresh connection, with OpenSSH's default key exchange and with
   the one asyncssh negotiates.
3. **Reading the large file**: ``AgentConnection.read_stream`` over a warm connection (the
   server's code path) and, when the server has it, the download API
   (``GET .../files/content`` with ``curl``), against ``ssh host cat <file> > /dev/null``
   on a fresh and on the ControlMaster connection.

Each comparison first runs every contender once untimed, then ``rounds`` times with the
contenders taking turns, a different one first each round, so that drift on the machine
affects all of them alike. Every process started here is stopped by its PID: sshd and the
sessions it forked, the ControlMaster, the server, and (through a runtime directory of
their own) every agent and daemon started on the "resource"; the files are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib.metadata
import logging
import os
import re
import resource as pyresource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import asyncssh
import httpx
from tests.support.daemons import daemon_runtime_dir, processes_using
from tests.support.hops import asyncssh_connect, key_hop
from tests.support.processes import descendants
from tests.support.sshd import (
    SshdNotAvailable,
    SshServer,
    TestUser,
    ensure_test_user,
    running_sshd,
)

from benchmarks.load import percentile
from benchmarks.machine import describe
from benchmarks.peers.labgate import (
    HOST,
    clean_environment,
    labgate_executable,
    labgate_version,
    prepare_user,
)
from benchmarks.process import BenchmarkError, ManagedProcess, free_port
from benchmarks.report import TIMES
from labgate.agent.client import AgentConnection
from labgate.transport.ssh import SshTransport

MIB = 1024 * 1024
GIB = 1024 * MIB
# The large file is made smaller (halved until it fits) when the disk has less room than
# its size plus this much; never below MIN_READ_BYTES.
DISK_MARGIN = 2 * GIB
MIN_READ_BYTES = 16 * MIB
RANDOM_BLOCK = 16 * MIB
DAEMON_IDLE_SECONDS = 3600
READY_TIMEOUT = 20.0
COMMAND_TIMEOUT = 600.0
# The key exchange asyncssh (labgate's SSH library) negotiates with OpenSSH 9: OpenSSH's own
# default, sntrup761x25519-sha512, is a post-quantum hybrid that costs more CPU.
SAME_KEX = "curve25519-sha256"

T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    """How big and how often: the full run and ``--quick``."""

    files: int
    """Entries in the listed directory."""
    page: int
    """``limit`` of each ``/files`` and ``fs.list`` page (the API allows 5000 at most)."""
    read_bytes: int
    """Size of the file read (may be made smaller, with a note, if the disk is short)."""
    list_rounds: int
    connect_rounds: int
    read_rounds: int


FULL = Sizes(
    files=10_000, page=5_000, read_bytes=GIB, list_rounds=20, connect_rounds=20, read_rounds=7
)
QUICK = Sizes(
    files=1_000, page=500, read_bytes=32 * MIB, list_rounds=3, connect_rounds=3, read_rounds=2
)


# -- what is compared ---------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """One way of doing the operation. ``run`` does it once and returns (seconds, bytes
    received or None)."""

    key: str
    label: str
    side: Literal["labgate", "peer"]
    command: str
    """What exactly is timed, for the report."""
    run: Callable[[], tuple[float, int | None]] = field(repr=False, compare=False)
    resource_cpu_counted: bool = True
    """False where the resource's CPU time cannot be counted: the sshd processes of a
    fresh connection end within the run, and sshd does not reap them so that their time
    reaches the listener's count."""


@dataclass(frozen=True)
class Goal:
    """A target from the issue: labgate's ``ours`` against ``theirs`` at the median.
    ``measure`` "time": ours ÷ theirs of the p50 time must be at most ``limit``;
    "throughput": ours ÷ theirs of the throughput at least ``limit``."""

    ours: str
    theirs: str
    measure: Literal["time", "throughput"]
    limit: float
    text: str


@dataclass(frozen=True)
class Comparison:
    key: str
    title: str
    contenders: list[Contender]
    rounds: int
    goals: list[Goal]
    payload_bytes: int | None = None
    """Bytes each run moves (the file size): throughput is reported when set."""


# -- the machine's side: account, files, sshd, ControlMaster, server ------------------------


@dataclass(frozen=True)
class BenchFiles:
    base: Path
    directory: Path
    big_file: Path
    files: int
    read_bytes: int


def _size_text(size: int) -> str:
    if size >= GIB and size % GIB == 0:
        return f"{size // GIB} GiB"
    return f"{size / MIB:.0f} MiB"


def read_size(home: Path, wanted: int) -> tuple[int, str | None]:
    """The size of the large file that fits on ``home``'s disk with room to spare, and a
    note when that is less than ``wanted``."""
    free = shutil.disk_usage(home).free
    size = wanted
    while size > MIN_READ_BYTES and size + DISK_MARGIN > free:
        size //= 2
    if size + DISK_MARGIN > free:
        raise BenchmarkError(
            f"only {free / GIB:.1f} GiB free on {home}: not enough for the file to read"
        )
    if size == wanted:
        return size, None
    return size, (
        f"WARNING: only {free / GIB:.1f} GiB free on the disk of {home}, so the file read "
        f"is {_size_text(size)} instead of {_size_text(wanted)}"
    )


@contextlib.contextmanager
def bench_files(user: TestUser, files: int, read_bytes: int) -> Iterator[BenchFiles]:
    """A directory of ``files`` small files and one file of ``read_bytes`` random bytes,
    in a new directory (0755) of ``user``'s home, owned by ``user``; removed at exit.
    The large file is written just before, so it is in the page cache: the disk's speed
    is not measured, the path from the file to the reader is."""
    base = Path(tempfile.mkdtemp(prefix="labgate-bench-", dir=user.home))
    try:
        base.chmod(0o755)
        os.chown(base, user.uid, user.gid)
        directory = base / f"dir-{files}"
        directory.mkdir(mode=0o755)
        os.chown(directory, user.uid, user.gid)
        for number in range(files):
            path = directory / f"file-{number:05d}.dat"
            path.write_bytes(b"x" * (number % 4096))  # sizes 0 to 4095
            os.chown(path, user.uid, user.gid)
        big_file = base / "read.bin"
        block = os.urandom(RANDOM_BLOCK)  # SSH does not compress here; random anyway
        with big_file.open("wb") as out:
            written = 0
            while written < read_bytes:
                piece = block[: read_bytes - written]
                out.write(piece)
                written += len(piece)
        os.chown(big_file, user.uid, user.gid)
        yield BenchFiles(base, directory, big_file, files, read_bytes)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _ssh_program() -> str:
    program = shutil.which("ssh")
    if program is None:
        raise BenchmarkError("the OpenSSH client `ssh` is not installed (openssh-client)")
    return program


def ssh_argv(sshd: SshServer, *remote: str, options: tuple[str, ...] = ()) -> list[str]:
    """``ssh`` with the test server's strict, prompt-free options, ``options`` added."""
    argv = sshd.ssh_command(*remote)
    return [_ssh_program(), *options, *argv[1:]]


def fresh_connection() -> tuple[str, ...]:
    return ("-o", "ControlMaster=no", "-o", "ControlPath=none")


def through_master(control_path: Path) -> tuple[str, ...]:
    return ("-o", "ControlMaster=no", "-o", f"ControlPath={control_path}")


@contextlib.contextmanager
def control_master(
    sshd: SshServer, workdir: Path, cpus: frozenset[int] | None
) -> Iterator[tuple[Path, int]]:
    """An OpenSSH ControlMaster connection (``ssh -M -N``, our child, stopped by PID);
    yields its control socket, which ``ssh -S`` clients share (OpenSSH's warm
    connection), and its PID."""
    # Unix socket paths are short (108 bytes): a directory of its own under /tmp.
    directory = Path(tempfile.mkdtemp(prefix="lgb-cm-"))
    control_path = directory / "cm"
    master = ManagedProcess(
        "ssh-controlmaster",
        ssh_argv(
            sshd,
            options=(
                "-M",
                "-N",
                "-o",
                f"ControlPath={control_path}",
                "-o",
                "ControlPersist=no",
            ),
        ),
        env=dict(os.environ),
        cwd=workdir,
        cpus=cpus,
    )
    try:
        master.start()
        deadline = time.monotonic() + READY_TIMEOUT
        check = ssh_argv(sshd, options=("-o", f"ControlPath={control_path}", "-O", "check"))
        while True:
            if not master.running:
                raise BenchmarkError(f"the ssh ControlMaster exited:\n{master.log_tail()}")
            done = subprocess.run(check, capture_output=True, check=False)  # noqa: S603
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise BenchmarkError(f"the ssh ControlMaster did not start:\n{master.log_tail()}")
            time.sleep(0.05)
        yield control_path, master.pid
    finally:
        master.stop()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class LabgateServer:
    url: str
    token: str
    resource_id: int
    pid: int


def _created(answer: httpx.Response, what: str, status: int = 201) -> dict[str, Any]:
    if answer.status_code != status:
        raise BenchmarkError(f"labgate could not {what}: {answer.status_code} {answer.text}")
    body: dict[str, Any] = answer.json()
    return body


def add_resource(
    url: str,
    token: str,
    sshd: SshServer,
    *,
    name: str = "benchmark",
    setup_lines: list[str] | None = None,
) -> int:
    """The user's resource ``name`` for the test sshd, its host key trusted and the client
    key remembered, so that the server connects without asking anyone; with
    ``setup_lines`` (shell lines its logins run first) if given."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, trust_env=False, timeout=30.0) as http:
        resource = _created(
            http.post(
                "/api/v1/resources",
                json={
                    "name": name,
                    "host": sshd.host,
                    "port": sshd.port,
                    "username": sshd.user.name,
                    "auth_method": "key",
                },
            ),
            "add the resource",
        )
        rid: int = resource["id"]
        _created(
            http.post(
                f"/api/v1/resources/{rid}/host-keys",
                json={"host": sshd.host, "port": sshd.port, "public_key": sshd.host_public_key},
            ),
            "trust the host key",
        )
        _created(
            http.put(
                f"/api/v1/resources/{rid}/remembered-keys/target",
                json={"private_key": sshd.client_key_path.read_text()},
            ),
            "remember the key",
            status=200,
        )
        if setup_lines:
            _created(
                http.patch(f"/api/v1/resources/{rid}", json={"setup_lines": setup_lines}),
                "set the set-up lines",
                status=200,
            )
    return rid


@contextlib.contextmanager
def labgate_server(
    workdir: Path, sshd: SshServer, runtime_dir: str, cpus: frozenset[int] | None
) -> Iterator[LabgateServer]:
    """``labgate serve`` with default settings, except that agents use ``runtime_dir``;
    user ``alice`` with an API token and a resource for ``sshd``."""
    shutil.rmtree(workdir / "data", ignore_errors=True)  # the admin is made on a first start
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port(HOST)
    admin_password = secrets.token_urlsafe(18)
    server = ManagedProcess(
        "labgate",
        [
            str(labgate_executable()),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--data-dir",
            str(workdir / "data"),
        ],
        env=clean_environment(
            {
                "LABGATE_ADMIN_PASSWORD": admin_password,
                "LABGATE_AGENT_RUNTIME_DIR": runtime_dir,
                # The benchmark's user reaches the private sshd on loopback, which users'
                # resources may not by default (resource_hosts_denied); and connects as
                # often as the rounds need.
                "LABGATE_RESOURCE_HOSTS_DENIED": '["link-local"]',
                "LABGATE_RESOURCE_CONNECT_ATTEMPTS_PER_MINUTE": "10000",
            }
        ),
        cwd=workdir,
        cpus=cpus,
    )
    url = f"http://{HOST}:{port}"
    try:
        server.start()
        server.wait_until_answers(f"{url}/healthz")
        token, _cookie = prepare_user(url, admin_password)
        yield LabgateServer(url, token, add_resource(url, token, sshd), server.pid)
    finally:
        server.stop()


# -- the connections this process holds (asyncssh, as the server opens them) ----------------


class _KexLog(logging.Handler):
    """Picks asyncssh's "Key exchange alg: ..." debug line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.kex: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"Key exchange alg: (\S+)", record.getMessage())
        if found:
            self.kex = found.group(1)


async def open_sftp(
    sshd: SshServer,
) -> tuple[asyncssh.SSHClientConnection, asyncssh.SFTPClient, dict[str, str]]:
    """An asyncssh connection with asyncssh's default algorithms (chacha20-poly1305 first;
    labgate's SshTransport prefers AES-GCM), an SFTP session on it, and what was
    negotiated."""
    logger = logging.getLogger("asyncssh")
    handler, level = _KexLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    asyncssh.set_debug_level(2)
    try:
        connection = await asyncssh_connect(sshd)
    finally:
        asyncssh.set_debug_level(1)
        logger.setLevel(level)
        logger.removeHandler(handler)
    sftp = await connection.start_sftp_client()
    algorithms = {
        "kex": handler.kex or "unknown",
        "cipher": str(connection.get_extra_info("recv_cipher")),
        "mac": str(connection.get_extra_info("recv_mac")),
        "compression": str(connection.get_extra_info("recv_compression")),
    }
    return connection, sftp, algorithms


def openssh_algorithms(sshd: SshServer) -> dict[str, str]:
    """What the OpenSSH client negotiates with the test sshd (from ``ssh -v``)."""
    done = subprocess.run(  # noqa: S603
        ssh_argv(sshd, "true", options=("-v", *fresh_connection())),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    text = done.stderr
    kex = re.search(r"kex: algorithm: (\S+)", text)
    cipher = re.search(r"kex: server->client cipher: (\S+) MAC: (\S+) compression: (\S+)", text)
    return {
        "kex": kex.group(1) if kex else "unknown",
        "cipher": cipher.group(1) if cipher else "unknown",
        "mac": cipher.group(2) if cipher else "unknown",
        "compression": cipher.group(3) if cipher else "unknown",
    }


def openssh_version() -> str:
    done = subprocess.run(  # noqa: S603
        [_ssh_program(), "-V"], capture_output=True, text=True, check=False
    )
    return (done.stderr or done.stdout).strip().split(",")[0]


# -- the measurements -----------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# How long a CPU count waits for the processes a run started on the resource to be reaped.
REAPED_TIMEOUT = 10.0


def _cpu_of(pid: int) -> float:
    """CPU seconds (user and system) of ``pid`` and of the children it reaped; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of proc(5), after pid and (comm).
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


class Bench:
    """Everything set up, and one method per contender that does the operation once."""

    def __init__(
        self,
        runner: asyncio.Runner,
        sshd: SshServer,
        files: BenchFiles,
        sizes: Sizes,
        server: LabgateServer,
        master: tuple[Path, int],
        runtime_dir: str,
    ) -> None:
        self.runner = runner
        self.sshd = sshd
        self.files = files
        self.sizes = sizes
        self.server = server
        self.control_path, self.master_pid = master
        self.runtime_dir = runtime_dir
        self.agent_args = ["--idle-seconds", str(DAEMON_IDLE_SECONDS), "--runtime-dir", runtime_dir]
        self.hop = key_hop(sshd)
        # Opened by open(), closed by close().
        self.http: httpx.AsyncClient | None = None
        self.transport: SshTransport | None = None
        self.agent: AgentConnection | None = None
        self.ssh_connection: asyncssh.SSHClientConnection | None = None
        self.sftp: asyncssh.SFTPClient | None = None
        self.asyncssh_algorithms: dict[str, str] = {}
        self.labgate_cipher = "unknown"
        self.agent_python = "unknown"
        self.download_status = 0
        self._content_url = f"/api/v1/resources/{server.resource_id}/files/content"

    @property
    def has_download_api(self) -> bool:
        return self.download_status == 200

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(work)

    async def _open(self) -> None:
        self.http = httpx.AsyncClient(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {self.server.token}"},
            trust_env=False,
            timeout=COMMAND_TIMEOUT,
        )
        self.transport = SshTransport([self.hop])
        await self.transport.connect()
        self.agent = await AgentConnection.start(
            self.transport, python="python3", agent_args=self.agent_args
        )
        self.agent_python = ".".join(str(n) for n in self.agent.hello.get("python", []))
        self.labgate_cipher = self.transport.cipher or "unknown"
        self.ssh_connection, self.sftp, self.asyncssh_algorithms = await open_sftp(self.sshd)
        # The download API is newer than this benchmark: measured when the server has it.
        small = self.files.directory / "file-00001.dat"  # one byte
        probe = await self.http.get(self._content_url, params={"path": str(small)})
        self.download_status = probe.status_code

    def open(self) -> None:
        self._run(self._open())

    async def _close(self) -> None:
        if self.sftp is not None:
            self.sftp.exit()
        if self.ssh_connection is not None:
            self.ssh_connection.close()
            await self.ssh_connection.wait_closed()
        if self.agent is not None:
            await self.agent.close()
        if self.transport is not None:
            await self.transport.close()
        if self.http is not None:
            await self.http.aclose()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self._close())

    # -- helpers

    def cpu_meter(self) -> Callable[[], tuple[float, float]]:
        """Start counting CPU seconds; the function returned stops and gives those each
        side used since: the resource's (sshd with everything below it, and the daemons)
        and the client's (this process and the commands it ran, ``labgate serve``, the
        ControlMaster). A process that ended was reaped by its parent, which counts it
        among its children's time: the count waits for the resource's processes that
        started meanwhile (an sshd session, a ``cat``) to be reaped."""
        processes = self._resource_processes()
        before = self._cpu_seconds(processes)

        def stop() -> tuple[float, float]:
            deadline = time.monotonic() + REAPED_TIMEOUT
            while self._resource_processes() - processes and time.monotonic() < deadline:
                time.sleep(0.01)
            after = self._cpu_seconds(self._resource_processes())
            return after[0] - before[0], after[1] - before[1]

        return stop

    def _resource_processes(self) -> set[int]:
        found = {self.sshd.pid, *(pid for pid, _ in descendants(self.sshd.pid))}
        return found | set(processes_using(self.runtime_dir))

    def _cpu_seconds(self, resource: set[int]) -> tuple[float, float]:
        ours = sum(
            usage.ru_utime + usage.ru_stime
            for usage in (
                pyresource.getrusage(pyresource.RUSAGE_SELF),
                pyresource.getrusage(pyresource.RUSAGE_CHILDREN),
            )
        )
        client = ours + sum(_cpu_of(pid) for pid in (self.server.pid, self.master_pid))
        return sum(_cpu_of(pid) for pid in resource), client

    def _ssh(self, *remote: str, options: tuple[str, ...], output: bool) -> tuple[float, int]:
        """Run ``ssh``; (seconds from start to exit, bytes of standard output)."""
        argv = ssh_argv(self.sshd, *remote, options=options)
        stdout = subprocess.PIPE if output else subprocess.DEVNULL
        start = time.perf_counter()
        done = subprocess.run(  # noqa: S603 (our fixed command line)
            argv, stdout=stdout, stderr=subprocess.PIPE, check=False, timeout=COMMAND_TIMEOUT
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise BenchmarkError(
                f"{' '.join(remote)} over ssh failed ({done.returncode}): {done.stderr!r}"
            )
        return elapsed, len(done.stdout or b"")

    def _need(self, value: T | None) -> T:
        if value is None:
            raise BenchmarkError("the benchmark's connections are not open")
        return value

    # -- 1. listing

    def list_api(self) -> tuple[float, int | None]:
        http, files, page = self._need(self.http), self.files, self.sizes.page
        url = f"/api/v1/resources/{self.server.resource_id}/files"

        async def pages() -> tuple[float, list[httpx.Response]]:
            start = time.perf_counter()
            answers = [
                await http.get(
                    url, params={"path": str(files.directory), "offset": offset, "limit": page}
                )
                for offset in range(0, files.files, page)
            ]
            return time.perf_counter() - start, answers

        elapsed, answers = self._run(pages())
        # Checked after the clock stopped: a browser's JSON.parse is not the server's time.
        entries = 0
        for answer in answers:
            body = _created(answer, "list the directory", status=200)
            if body["total"] != files.files:
                raise BenchmarkError(f"the API listed {body['total']} entries, not {files.files}")
            entries += len(body["entries"])
        if entries != files.files:
            raise BenchmarkError(f"the API returned {entries} entries, not {files.files}")
        return elapsed, sum(len(answer.content) for answer in answers)

    def list_agent(self) -> tuple[float, int | None]:
        agent, files, page = self._need(self.agent), self.files, self.sizes.page

        async def pages() -> tuple[float, int]:
            start = time.perf_counter()
            entries, offset, total = 0, 0, files.files
            while offset < total:
                answer = await agent.call(
                    "fs.list", path=str(files.directory), offset=offset, limit=page, hidden=True
                )
                total = answer["total"]
                entries += len(answer["entries"])
                offset += page
            return time.perf_counter() - start, entries

        elapsed, entries = self._run(pages())
        if entries != files.files:
            raise BenchmarkError(f"fs.list returned {entries} entries, not {files.files}")
        return elapsed, None

    def list_openssh(self) -> tuple[float, int | None]:
        argv_options = through_master(self.control_path)
        elapsed, size = self._ssh(
            "ls", "-la", str(self.files.directory), options=argv_options, output=True
        )
        return elapsed, size

    def list_sftp(self) -> tuple[float, int | None]:
        sftp, files = self._need(self.sftp), self.files

        async def readdir() -> tuple[float, int]:
            start = time.perf_counter()
            names = await sftp.readdir(str(files.directory))
            return time.perf_counter() - start, len(names)

        elapsed, count = self._run(readdir())
        if count < files.files:
            raise BenchmarkError(f"SFTP readdir returned {count} names, not {files.files}")
        return elapsed, None

    # -- 2. connecting

    def connect_agent(self) -> tuple[float, int | None]:
        async def connect() -> float:
            start = time.perf_counter()
            transport = SshTransport([self.hop])
            try:
                await transport.connect()
                agent = await AgentConnection.start(
                    transport, python="python3", agent_args=self.agent_args
                )
                try:
                    answer = await agent.call("ping", payload="ready?")
                    elapsed = time.perf_counter() - start
                    if answer != {"pong": "ready?"}:
                        raise BenchmarkError(f"the agent answered the ping with {answer!r}")
                finally:
                    await agent.close()
            finally:
                await transport.close()
            return elapsed

        return self._run(connect()), None

    def connect_api(self) -> tuple[float, int | None]:
        http, rid = self._need(self.http), self.server.resource_id

        async def reconnect() -> float:
            dropped = await http.post(f"/api/v1/resources/{rid}/disconnect")
            if dropped.status_code != 204:
                raise BenchmarkError(f"disconnect failed: {dropped.status_code} {dropped.text}")
            start = time.perf_counter()
            answer = await http.get(f"/api/v1/resources/{rid}/system")
            elapsed = time.perf_counter() - start
            _created(answer, "connect (GET /system)", status=200)
            return elapsed

        return self._run(reconnect()), None

    def connect_openssh(self) -> tuple[float, int | None]:
        elapsed, _ = self._ssh("true", options=fresh_connection(), output=False)
        return elapsed, None

    def connect_openssh_same_kex(self) -> tuple[float, int | None]:
        options = (*fresh_connection(), "-o", f"KexAlgorithms={SAME_KEX}")
        elapsed, _ = self._ssh("true", options=options, output=False)
        return elapsed, None

    # -- 3. reading

    def read_agent(self) -> tuple[float, int | None]:
        agent, files = self._need(self.agent), self.files

        async def read() -> tuple[float, int]:
            start = time.perf_counter()
            stream = await agent.read_stream(str(files.big_file))
            received = 0
            async for chunk in stream:
                received += len(chunk)
            return time.perf_counter() - start, received

        elapsed, received = self._run(read())
        if received != files.read_bytes:
            raise BenchmarkError(f"read_stream gave {received} bytes, not {files.read_bytes}")
        return elapsed, received

    def read_api(self) -> tuple[float, int | None]:
        """``curl`` (C, output to /dev/null, as ``ssh`` is measured) downloads the file
        through ``labgate serve``; the token goes in on standard input, not the argv."""
        curl = shutil.which("curl")
        if curl is None:
            raise BenchmarkError("curl is not installed")
        url = httpx.URL(
            self.server.url + self._content_url, params={"path": str(self.files.big_file)}
        )
        start = time.perf_counter()
        done = subprocess.run(  # noqa: S603 (our fixed command line)
            [curl, "--config", "-", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}"],
            input=f'url = "{url}"\nheader = "Authorization: Bearer {self.server.token}"\n',
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0 or done.stdout.strip() != str(self.files.read_bytes):
            raise BenchmarkError(
                f"the download failed ({done.returncode}, {done.stdout!r} bytes): {done.stderr}"
            )
        return elapsed, None

    def read_openssh(self) -> tuple[float, int | None]:
        elapsed, _ = self._ssh(
            "cat", str(self.files.big_file), options=fresh_connection(), output=False
        )
        return elapsed, None

    def read_openssh_warm(self) -> tuple[float, int | None]:
        options = through_master(self.control_path)
        elapsed, _ = self._ssh("cat", str(self.files.big_file), options=options, output=False)
        return elapsed, None


def comparisons(bench: Bench) -> list[Comparison]:
    files, sizes = bench.files, bench.sizes
    pages = -(-files.files // sizes.page)
    directory = "<dir>"
    return [
        Comparison(
            key="listing",
            title=f"Listing a directory of {files.files:,} files with full stat, warm connection",
            contenders=[
                Contender(
                    "labgate_api",
                    "labgate API",
                    "labgate",
                    f"GET /api/v1/resources/{{id}}/files?path={directory}&offset=…"
                    f"&limit={sizes.page} ({pages} pages), Bearer token, through labgate serve",
                    bench.list_api,
                ),
                Contender(
                    "labgate_agent",
                    "labgate agent, no HTTP",
                    "labgate",
                    f'AgentConnection.call("fs.list", limit={sizes.page}) {pages} times, '
                    "in the benchmark process over SshTransport",
                    bench.list_agent,
                ),
                Contender(
                    "openssh",
                    "OpenSSH ls -la",
                    "peer",
                    f"ssh -o ControlPath=<master> host ls -la {directory} (output read)",
                    bench.list_openssh,
                ),
                Contender(
                    "sftp",
                    "SFTP readdir",
                    "peer",
                    f"asyncssh SFTPClient.readdir({directory}) on an open SFTP session",
                    bench.list_sftp,
                ),
            ],
            rounds=sizes.list_rounds,
            goals=[
                Goal("labgate_api", "openssh", "time", 1.0, "no slower than OpenSSH `ls -la`"),
                Goal("labgate_api", "sftp", "time", 0.5, f"at least 2{TIMES} faster than SFTP"),
            ],
        ),
        Comparison(
            key="connect",
            title="Connecting and starting the agent, to ready (daemon already running)",
            contenders=[
                Contender(
                    "labgate_agent",
                    "labgate SSH + agent",
                    "labgate",
                    'SshTransport.connect + AgentConnection.start + call("ping"), '
                    "in the benchmark process (the server's code path)",
                    bench.connect_agent,
                ),
                Contender(
                    "labgate_api",
                    "labgate API",
                    "labgate",
                    "GET /api/v1/resources/{id}/system after POST …/disconnect (untimed), "
                    "through labgate serve",
                    bench.connect_api,
                ),
                Contender(
                    "openssh",
                    "OpenSSH ssh host true",
                    "peer",
                    "ssh -o ControlPath=none host true (a fresh connection, default key exchange)",
                    bench.connect_openssh,
                ),
                Contender(
                    "openssh_same_kex",
                    "OpenSSH, asyncssh's key exchange",
                    "peer",
                    f"ssh -o ControlPath=none -o KexAlgorithms={SAME_KEX} host true (the key "
                    "exchange asyncssh negotiates)",
                    bench.connect_openssh_same_kex,
                ),
            ],
            rounds=sizes.connect_rounds,
            goals=[
                Goal(
                    "labgate_agent", "openssh", "time", 1.5, f"at most 1.5{TIMES} `ssh host true`"
                ),
                Goal(
                    "labgate_agent",
                    "openssh_same_kex",
                    "time",
                    1.5,
                    f"at most 1.5{TIMES} `ssh host true` with the same key exchange",
                ),
            ],
        ),
        Comparison(
            key="read",
            title=f"Reading a {_size_text(files.read_bytes)} file",
            contenders=[
                Contender(
                    "labgate_agent",
                    "labgate agent",
                    "labgate",
                    "AgentConnection.read_stream(<file>) on a warm connection, in the "
                    "benchmark process (the server's code path, without HTTP)",
                    bench.read_agent,
                ),
                *(
                    [
                        Contender(
                            "labgate_api",
                            "labgate API download",
                            "labgate",
                            "curl -o /dev/null …/api/v1/resources/{id}/files/content?path=<file> "
                            "(Bearer token), through labgate serve on its warm connection",
                            bench.read_api,
                        )
                    ]
                    if bench.has_download_api
                    else []
                ),
                Contender(
                    "openssh",
                    "OpenSSH cat",
                    "peer",
                    "ssh -o ControlPath=none host cat <file> > /dev/null (a fresh connection)",
                    bench.read_openssh,
                    resource_cpu_counted=False,
                ),
                Contender(
                    "openssh_warm",
                    "OpenSSH cat, warm",
                    "peer",
                    "ssh -o ControlPath=<master> host cat <file> > /dev/null (through the "
                    "ControlMaster connection)",
                    bench.read_openssh_warm,
                ),
            ],
            rounds=sizes.read_rounds,
            goals=[
                Goal(
                    "labgate_agent",
                    "openssh",
                    "throughput",
                    0.8,
                    f"at least 0.8{TIMES} the throughput of `ssh host cat`",
                ),
                Goal(
                    "labgate_agent",
                    "openssh_warm",
                    "throughput",
                    0.8,
                    f"at least 0.8{TIMES} the throughput of `ssh host cat` on a warm connection",
                ),
                *(
                    [
                        Goal(
                            "labgate_api",
                            "openssh",
                            "throughput",
                            0.8,
                            f"at least 0.8{TIMES} the throughput of `ssh host cat`, "
                            "downloading through the API",
                        )
                    ]
                    if bench.has_download_api
                    else []
                ),
            ],
            payload_bytes=files.read_bytes,
        ),
    ]


def run_comparison(
    comparison: Comparison,
    cpu_meter: Callable[[], Callable[[], tuple[float, float]]] | None = None,
) -> list[dict[str, Any]]:
    """One untimed run of each contender, then ``rounds`` rounds taking turns; for a
    comparison that moves a payload, the CPU seconds each side used in each run too
    (when there is a ``cpu_meter``)."""
    contenders = comparison.contenders
    for contender in contenders:
        contender.run()
    rows: list[dict[str, Any]] = []
    for round_ in range(comparison.rounds):
        shift = round_ % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            counting = cpu_meter() if cpu_meter and comparison.payload_bytes else None
            seconds, size = contender.run()
            row = {
                "comparison": comparison.key,
                "round": round_,
                "contender": contender.key,
                "seconds": seconds,
                "response_bytes": size,
            }
            if counting is not None:
                resource, row["cpu_client_s"] = counting()
                if contender.resource_cpu_counted:
                    row["cpu_resource_s"] = resource
            rows.append(row)
    return rows


def summarise(comparison: Comparison, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per contender: p50, p90, mean, min, max seconds (nearest rank), and for a
    comparison that moves a payload the throughput at the p50 and p90 times."""
    summary = []
    for contender in comparison.contenders:
        runs = [r for r in rows if r["contender"] == contender.key]
        times = sorted(r["seconds"] for r in runs)
        entry: dict[str, Any] = {
            "comparison": comparison.key,
            "contender": contender.key,
            "runs": len(times),
            "p50_s": percentile(times, 50),
            "p90_s": percentile(times, 90),
            "mean_s": statistics.fmean(times),
            "min_s": times[0],
            "max_s": times[-1],
        }
        sizes = [r["response_bytes"] for r in runs if r["response_bytes"] is not None]
        if sizes and comparison.payload_bytes is None:
            entry["response_bytes"] = sizes[-1]
        if comparison.payload_bytes:
            entry["mb_per_s_p50"] = comparison.payload_bytes / 1e6 / entry["p50_s"]
            entry["mb_per_s_p90"] = comparison.payload_bytes / 1e6 / entry["p90_s"]
            gib = comparison.payload_bytes / GIB
            for side in ("resource", "client"):
                used = [r[f"cpu_{side}_s"] for r in runs if f"cpu_{side}_s" in r]
                if used:
                    entry[f"cpu_{side}_s_per_gib"] = statistics.median(used) / gib
        summary.append(entry)
    return summary


def judge(goal: Goal, summary: list[dict[str, Any]], comparison: str) -> dict[str, Any]:
    cells = {s["contender"]: s for s in summary if s["comparison"] == comparison}
    ours, theirs = cells[goal.ours], cells[goal.theirs]
    if goal.measure == "time":
        ratio = ours["p50_s"] / theirs["p50_s"]
        met = ratio <= goal.limit
    else:
        ratio = ours["mb_per_s_p50"] / theirs["mb_per_s_p50"]
        met = ratio >= goal.limit
    return {
        "comparison": comparison,
        "ours": goal.ours,
        "theirs": goal.theirs,
        "measure": goal.measure,
        "limit": goal.limit,
        "text": goal.text,
        "ratio": ratio,
        "met": met,
    }


def _placement(remote: frozenset[int] | None, local: frozenset[int] | None) -> str:
    if not remote or not local:
        return "not pinned: the OS schedules every process freely"
    return (
        f"the resource's side (sshd and all it starts: agents, the daemon, ls, cat, the SFTP "
        f"server) pinned to CPU {min(remote)}; the client's side (labgate serve, this "
        f"benchmark's asyncssh connections, the ssh client and its ControlMaster, curl) to "
        f"CPU {min(local)}"
    )


def run_resources(
    workdir: Path,
    *,
    quick: bool,
    remote_cpus: frozenset[int] | None,
    local_cpus: frozenset[int] | None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None,
) -> dict[str, Any]:
    """Set everything up, run the three comparisons, tear everything down; the record."""
    started = time.monotonic()
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sizes = QUICK if quick else FULL
    placement = _placement(remote_cpus, local_cpus)
    workdir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    try:
        user = ensure_test_user()
        read_bytes, note = read_size(user.home, sizes.read_bytes)
        if note:
            notes.append(note)
        with contextlib.ExitStack() as stack:
            runtime_dir = stack.enter_context(daemon_runtime_dir("labgate-bench-daemons-"))
            files = stack.enter_context(bench_files(user, sizes.files, read_bytes))
            sshd = stack.enter_context(running_sshd(workdir, user))
            if remote_cpus:
                os.sched_setaffinity(sshd.pid, remote_cpus)  # its sessions inherit it
            runner = stack.enter_context(asyncio.Runner(loop_factory=loop_factory))
            control_path, master_pid = stack.enter_context(
                control_master(sshd, workdir, local_cpus)
            )
            server = stack.enter_context(
                labgate_server(workdir / "labgate", sshd, runtime_dir, local_cpus)
            )
            bench = Bench(
                runner, sshd, files, sizes, server, (control_path, master_pid), runtime_dir
            )
            stack.callback(bench.close)
            bench.open()
            setup = {
                "openssh": openssh_version(),
                "openssh_algorithms": openssh_algorithms(sshd),
                "asyncssh_algorithms": bench.asyncssh_algorithms,
                # labgate's SshTransport prefers AES-GCM; the rest as asyncssh negotiates.
                "labgate_algorithms": {
                    **bench.asyncssh_algorithms,
                    "cipher": bench.labgate_cipher,
                    "mac": "<implicit>" if "gcm" in bench.labgate_cipher else "unknown",
                },
            }
            if not bench.has_download_api:
                notes.append(
                    "This labgate has no download API (GET /api/v1/resources/{id}/files/content "
                    f"answered {bench.download_status}): reading is measured on the agent path "
                    "only"
                )
            print(
                f"Resources: set up after {time.monotonic() - started:.0f} s "
                f"({files.files} files, {_size_text(read_bytes)} file; {placement}).",
                file=sys.stderr,
                flush=True,
            )
            plan = comparisons(bench)
            rows: list[dict[str, Any]] = []
            summary: list[dict[str, Any]] = []
            for comparison in plan:
                measured = run_comparison(comparison, bench.cpu_meter)
                rows += measured
                part = summarise(comparison, measured)
                summary += part
                for cell in part:
                    extra = f"  {cell['mb_per_s_p50']:7.0f} MB/s" if "mb_per_s_p50" in cell else ""
                    print(
                        f"{comparison.key:<8} {cell['contender']:<14} "
                        f"p50 {cell['p50_s'] * 1000:9.1f} ms  p90 {cell['p90_s'] * 1000:9.1f} ms"
                        f"{extra}",
                        file=sys.stderr,
                        flush=True,
                    )
            agent_python = bench.agent_python
    except SshdNotAvailable as exc:
        raise BenchmarkError(f"the resources benchmark needs a private sshd: {exc}") from None
    goals = [judge(goal, summary, c.key) for c in plan for goal in c.goals]
    return {
        "date": date,
        "quick": quick,
        "duration_seconds": time.monotonic() - started,
        "machine": describe(placement),
        "versions": {
            "labgate": labgate_version(),
            "OpenSSH (client and sshd)": setup["openssh"],
            "asyncssh": importlib.metadata.version("asyncssh"),
            "python (agent on the resource)": agent_python,
            "python (labgate, benchmark)": describe(placement)["python"],
        },
        "settings": {
            "files": files.files,
            "page": sizes.page,
            "read_bytes": read_bytes,
            "rounds": {c.key: c.rounds for c in plan},
        },
        "algorithms": {
            "OpenSSH client": setup["openssh_algorithms"],
            "labgate's SshTransport (asyncssh, AES-GCM preferred)": setup["labgate_algorithms"],
            "asyncssh with its defaults (SFTP)": setup["asyncssh_algorithms"],
        },
        "comparisons": [
            {
                "key": c.key,
                "title": c.title,
                "payload_bytes": c.payload_bytes,
                "contenders": [
                    {"key": x.key, "label": x.label, "side": x.side, "command": x.command}
                    for x in c.contenders
                ],
            }
            for c in plan
        ],
        "goals": goals,
        "notes": notes,
        "summary": summary,
        "runs": rows,
    }
