"""A real PostgreSQL server for the tests.

``find_or_start_postgres()`` yields the DSN of a superuser connection: the server named by
``LABGATE_TEST_POSTGRES_URL`` (or the local default on 127.0.0.1:5432) when it answers,
otherwise a private throw-away cluster started from the PostgreSQL binaries installed
under ``/usr/lib/postgresql/*/bin`` (``scripts/install-test-deps.sh`` installs them).
``fresh_database(admin_dsn)`` yields the DSN of a newly created, empty database and drops
it afterwards.

The DSNs are plain ``postgresql://`` URLs; whoever needs SQLAlchemy's
``postgresql+asyncpg://`` form converts them.

PostgreSQL refuses to run as root. When the tests run as root, the private cluster's files
belong to the ``postgres`` system user and its binaries run through
``runuser -u postgres --``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from tests.support.eventually import NotEventually, eventually_sync, within

__all__ = [
    "DEFAULT_ADMIN_DSN",
    "ENV_ADMIN_DSN",
    "PostgresCluster",
    "PostgresNotAvailable",
    "can_connect",
    "database_dsn",
    "execute",
    "fetchval",
    "find_or_start_postgres",
    "find_postgres_bindir",
    "fresh_database",
    "start_private_postgres",
]

ENV_ADMIN_DSN = "LABGATE_TEST_POSTGRES_URL"
DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

# How long to wait for an existing server before starting our own.
CONNECT_TIMEOUT = 2.0
SHUTDOWN_TIMEOUT = 30.0

log = logging.getLogger("labgate.tests.postgres")

T = TypeVar("T")


class PostgresNotAvailable(RuntimeError):
    """No PostgreSQL server answered and no private cluster could be started."""


@dataclass(frozen=True)
class PostgresCluster:
    """A private cluster started by ``start_private_postgres``."""

    dsn: str
    """Superuser DSN over TCP on 127.0.0.1."""
    pid: int
    """PID of the postmaster (the ``postgres`` server process)."""
    directory: Path
    """Temporary directory holding the data directory, the Unix socket and the log."""

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"


# --- small synchronous wrappers around asyncpg ------------------------------------------


def _run(make_coro: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    Works whether or not an event loop is already running in this thread (for example
    when called from inside an async test): then the coroutine runs in a worker thread.
    """

    async def main() -> T:
        return await make_coro()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _normalise_dsn(dsn: str) -> str:
    """Accept SQLAlchemy's ``postgresql+asyncpg://`` spelling too."""
    parts = urlsplit(dsn)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {dsn!r}")
    return urlunsplit(parts._replace(scheme="postgresql"))


def _redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def database_dsn(dsn: str, database: str) -> str:
    """``dsn`` with its database name replaced by ``database``."""
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))


def can_connect(dsn: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """True when a connection to ``dsn`` can be opened (and closed) within ``timeout`` s."""

    async def attempt() -> None:
        conn = await asyncpg.connect(dsn, timeout=timeout)
        await conn.close()

    try:
        _run(lambda: asyncio.wait_for(attempt(), timeout + 1.0))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        log.debug("cannot connect to %s: %s", _redact(dsn), exc)
        return False
    return True


def fetchval(dsn: str, query: str, *args: object) -> object:
    """Run ``query`` on a new connection and return the first column of its first row."""

    async def run() -> object:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT * 5)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return _run(run)


def execute(dsn: str, *statements: str) -> None:
    """Run ``statements`` one after the other on a new connection to ``dsn``."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT * 5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    _run(run)


# --- the admin server -------------------------------------------------------------------


@contextlib.contextmanager
def find_or_start_postgres() -> Iterator[str]:
    """Yield a superuser DSN of a running PostgreSQL server.

    Tries ``$LABGATE_TEST_POSTGRES_URL`` (or ``DEFAULT_ADMIN_DSN`` when unset) for about
    two seconds; when that fails, starts a private cluster for the duration of the block.
    """
    configured = os.environ.get(ENV_ADMIN_DSN, "").strip()
    dsn = _normalise_dsn(configured or DEFAULT_ADMIN_DSN)
    if can_connect(dsn):
        log.info("using the PostgreSQL server at %s", _redact(dsn))
        yield dsn
        return
    log.warning(
        "no PostgreSQL server answered at %s%s; starting a private cluster",
        _redact(dsn),
        f" (from ${ENV_ADMIN_DSN})" if configured else "",
    )
    with start_private_postgres() as cluster:
        yield cluster.dsn


@contextlib.contextmanager
def fresh_database(admin_dsn: str) -> Iterator[str]:
    """Create an empty database ``labgate_test_<hex>``, yield its DSN, drop it at exit."""
    admin_dsn = _normalise_dsn(admin_dsn)
    name = f"labgate_test_{secrets.token_hex(6)}"
    execute(admin_dsn, f'CREATE DATABASE "{name}"')
    log.info("created database %s", name)
    try:
        yield database_dsn(admin_dsn, name)
    finally:
        _drop_database(admin_dsn, name)


def _drop_database(admin_dsn: str, name: str) -> None:
    version = fetchval(admin_dsn, "SELECT current_setting('server_version_num')::int")
    assert isinstance(version, int)
    # A test that leaked a connection (or a server under test still running) must not
    # keep the database alive: end those sessions first.
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    force = " WITH (FORCE)" if version >= 130000 else ""
    execute(admin_dsn, terminate, f'DROP DATABASE IF EXISTS "{name}"{force}')
    log.info("dropped database %s", name)


# --- a private cluster ------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_postgres_bindir() -> Path:
    """The directory holding ``initdb`` and ``postgres``, highest installed version first."""
    candidates = [
        path
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if (path / "initdb").is_file() and (path / "postgres").is_file()
    ]
    if candidates:
        return max(candidates, key=_version_key)
    # Not Debian's layout: take whatever is on PATH.
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("postgres") is not None:
        return Path(initdb).resolve().parent
    raise PostgresNotAvailable(
        "no PostgreSQL server answered and no PostgreSQL binaries were found under "
        "/usr/lib/postgresql/*/bin: run scripts/install-test-deps.sh (installs Debian's "
        f"postgresql) or point ${ENV_ADMIN_DSN} at a server"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _reachable_by_others(path: Path) -> bool:
    """True when every directory from / down to ``path`` can be entered by any user."""
    return all(os.stat(directory).st_mode & stat.S_IXOTH for directory in [path, *path.parents])


class _Runner:
    """Runs PostgreSQL binaries, as the ``postgres`` system user when we are root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.owner: pwd.struct_passwd | None = None
        if self.as_root:
            try:
                self.owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresNotAvailable(
                    "PostgreSQL refuses to run as root and there is no 'postgres' system "
                    "user to run it as: install Debian's postgresql package "
                    "(scripts/install-test-deps.sh)"
                ) from None
            if shutil.which("runuser") is None:
                raise PostgresNotAvailable("running as root but 'runuser' is not installed")

    def make_tempdir(self) -> Path:
        parent = Path(tempfile.gettempdir())
        if self.as_root and not _reachable_by_others(parent):
            parent = Path("/tmp")  # the postgres user must be able to enter it
        directory = Path(tempfile.mkdtemp(prefix="labgate-pg-", dir=parent))
        if self.owner is not None:
            os.chown(directory, self.owner.pw_uid, self.owner.pw_gid)
        return directory

    def command(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bindir / program), *args]
        return ["runuser", "-u", "postgres", "--", *argv] if self.as_root else argv

    @staticmethod
    def environment() -> dict[str, str]:
        # PG* variables of the caller (PGHOST, PGDATA, ...) must not leak into our cluster.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env


def _read_postmaster_pid(datadir: Path) -> int | None:
    try:
        first_line = (datadir / "postmaster.pid").read_text().split("\n", 1)[0]
    except (FileNotFoundError, PermissionError):
        return None
    return int(first_line) if first_line.strip().isdigit() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_tail(log_file: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@contextlib.contextmanager
def start_private_postgres() -> Iterator[PostgresCluster]:
    """Start a throw-away cluster on 127.0.0.1 at a free port; stop and delete it at exit.

    The cluster uses trust authentication for the superuser ``postgres``, keeps its Unix
    socket in its own temporary directory and runs with ``fsync=off``: it is for tests only.
    """
    bindir = find_postgres_bindir()
    runner = _Runner(bindir)
    directory = runner.make_tempdir()
    datadir = directory / "data"
    log_file = directory / "postgres.log"
    env = runner.environment()
    process: subprocess.Popen[bytes] | None = None
    pid: int | None = None
    log.info("starting a private PostgreSQL cluster from %s in %s", bindir, directory)
    try:
        with log_file.open("ab") as log_out:
            initdb = subprocess.run(
                runner.command(
                    "initdb",
                    f"--pgdata={datadir}",
                    "--username=postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ),
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if initdb.returncode != 0:
            raise PostgresNotAvailable(
                f"initdb failed (exit {initdb.returncode}):\n{_log_tail(log_file)}"
            )

        port = _free_port()
        with log_file.open("ab") as log_out:
            process = subprocess.Popen(
                runner.command(
                    "postgres",
                    "-D",
                    str(datadir),
                    "-p",
                    str(port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={directory}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ),
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle
            )

        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        started = process

        def accepting() -> int | None:
            """The postmaster's PID once it accepts connections."""
            if started.poll() is not None:
                raise PostgresNotAvailable(
                    f"postgres exited with status {started.returncode} while starting:\n"
                    f"{_log_tail(log_file)}"
                )
            found = _read_postmaster_pid(datadir)
            return found if found is not None and can_connect(dsn, timeout=1.0) else None

        try:
            pid = eventually_sync(accepting, what="postgres accepting connections")
        except NotEventually as exc:
            raise PostgresNotAvailable(f"{exc}:\n{_log_tail(log_file)}") from None

        log.info("private PostgreSQL cluster (pid %d) listening at %s", pid, dsn)
        yield PostgresCluster(dsn=dsn, pid=pid, directory=directory)
    finally:
        _stop(process, pid, datadir)
        shutil.rmtree(directory, ignore_errors=True)
        log.info("removed %s", directory)


def _stop(process: subprocess.Popen[bytes] | None, pid: int | None, datadir: Path) -> None:
    """Stop the postmaster: SIGINT (fast shutdown), then SIGKILL if it lingers."""
    if process is None:
        return
    pid = pid or _read_postmaster_pid(datadir)
    # As root, `process` is runuser, which waits for postgres: signal postgres itself.
    target = pid if pid is not None else process.pid
    for sig, grace in ((signal.SIGINT, SHUTDOWN_TIMEOUT), (signal.SIGKILL, 10.0)):
        if process.poll() is not None and (pid is None or not _pid_alive(pid)):
            break
        log.info("stopping private PostgreSQL cluster (pid %d) with %s", target, sig.name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, sig)
        within(grace, lambda: process.poll() is not None and (pid is None or not _pid_alive(pid)))
    if process.poll() is None:
        # postgres is gone but its runuser parent is not (or never had a postmaster.pid).
        process.kill()
    process.wait()
