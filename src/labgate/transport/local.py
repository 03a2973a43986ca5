"""The ``local`` transport: the server's own machine, through a subprocess. It gives
``make run`` its quick-start resource with exactly the agent a remote host gets.

The agent runs as the server's own account, or, when the server runs as root, as the
OS account it is given (started through ``runuser``). It, the user's daemon and
everything they start get an environment built here for that account, never the
server's own: that holds ``LABGATE_*`` settings, the server secret and the database's
URL with its password (docs/admin-guide.md, "The local resource").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from labgate.transport.base import (
    ByteReader,
    ByteWriter,
    RemoteProcess,
    StreamOpenFailed,
    StreamWriter,
)
from labgate.transport.os_accounts import OsAccount, server_account

# Read buffer of streams to apps: large enough for a proxied response's chunks.
STREAM_LIMIT = 1 << 20

# What a login shell would find, when the server has no PATH of its own.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# What another account gets: the server's PATH may name directories of root's.
ACCOUNT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
RUNUSER = "/usr/sbin/runuser"


def minimal_environment() -> dict[str, str]:
    """What a process of the server's account needs, as a login would set it: the
    account's home, names and shell, the server's PATH and language (which say nothing
    secret), and nothing else of the server's environment."""
    env = _login_environment(server_account(), os.environ.get("PATH") or DEFAULT_PATH)
    # Where the account's daemon has its socket (the agent looks there).
    if os.environ.get("XDG_RUNTIME_DIR"):
        env["XDG_RUNTIME_DIR"] = os.environ["XDG_RUNTIME_DIR"]
    return env


def account_environment(account: OsAccount) -> dict[str, str]:
    """What a process of another ``account`` gets, as a login would set it: nothing of
    the server's environment but its language and zone. Its runtime directory is its
    own ``/run/user/UID`` when the system made one, else one the server makes for it
    (:func:`runtime_directory_of`)."""
    env = _login_environment(account, ACCOUNT_PATH)
    login_runtime = f"/run/user/{account.uid}"
    try:
        own = os.lstat(login_runtime).st_uid == account.uid
    except OSError:
        own = False
    runtime = login_runtime if own else runtime_directory_of(account)
    if runtime is not None:
        env["XDG_RUNTIME_DIR"] = runtime
    return env


# Where the server makes an account's runtime directory when the system made none
# (runuser opens no login session, so there is no /run/user/UID): under /run, where
# only root creates names. Left to the agent, it would be /tmp/labgate-UID, a name any
# local user can take first and so keep that account's agent from ever starting.
RUNTIME_ROOT = "/run/labgate"


def runtime_directory_of(account: OsAccount, root: str = RUNTIME_ROOT) -> str | None:
    """``root``/UID, a directory of the account's own (0700), made by the server (which
    runs as root); None when that cannot be done safely (no /run, a name in the way that
    is not the account's directory), and the agent then picks one itself."""
    try:
        os.makedirs(root, mode=0o755, exist_ok=True)
        info = os.lstat(root)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
            return None
        path = os.path.join(root, str(account.uid))
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
            os.chown(path, account.uid, account.gid)
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != account.uid:
        return None
    return path


def _login_environment(account: OsAccount, path: str) -> dict[str, str]:
    env = {
        "HOME": account.home,
        "USER": account.name,
        "LOGNAME": account.name,
        "SHELL": account.shell or "/bin/sh",
        "PATH": path,
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }
    if os.environ.get("TZ"):
        env["TZ"] = os.environ["TZ"]
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


# Decides, when the transport is opened, which account its processes run as (None:
# the server's own); it may create the account, or refuse with a LabgateError.
AccountResolver = Callable[[], Awaitable[OsAccount | None]]


class LocalTransport:
    name = "local"

    def __init__(
        self,
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        account: OsAccount | None = None,
        account_from: AccountResolver | None = None,
    ) -> None:
        """``account``: run as this account (through ``runuser``; the server must run as
        root), with :func:`account_environment`; none: as the server's own account.
        ``account_from``: decide the account when :meth:`open` is awaited instead.
        ``env``, ``cwd``: the processes' whole environment and directory instead of the
        account's."""
        self._given_env, self._given_cwd = env, cwd
        self._account_from = account_from
        self._use(account)

    def _use(self, account: OsAccount | None) -> None:
        self.account = account if account is not None and account.uid != os.getuid() else None
        env = self._given_env
        if env is None:
            env = (
                minimal_environment() if self.account is None else account_environment(self.account)
            )
        self.env = env
        self.cwd = self._given_cwd or self.env.get("HOME") or os.path.expanduser("~")
        if not os.path.isdir(self.cwd):
            self.cwd = "/"  # an account without a home still gets its agent

    async def open(self) -> None:
        """Decide the account (``account_from``) before anything is started."""
        if self._account_from is not None:
            self._use(await self._account_from())

    async def start(self, argv: list[str]) -> RemoteProcess:
        if self.account is not None:
            # runuser opens a PAM session for the account (limits) and drops root's
            # powers; it keeps the environment given here, which is the account's.
            argv = [RUNUSER, "-u", self.account.name, "--", *argv]
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
        if self.account is not None:
            return await self._open_accounts_socket(path, self.account)
        try:
            return await asyncio.open_unix_connection(path, limit=STREAM_LIMIT)
        except OSError as exc:
            raise StreamOpenFailed(f"Nothing answers at {path} ({exc.strerror}).") from exc

    async def _open_accounts_socket(
        self, path: str, account: OsAccount
    ) -> tuple[ByteReader, StreamWriter]:
        """Connect to a socket of ``account``'s and no other: the server connects with
        root's powers, and a socket's server may trust its callers by their uid (Docker's,
        PostgreSQL's peer login), so a path the account controls (its runtime directory)
        must not lead root to someone else's socket through a symlink or a swap. The
        final name is opened without following a link, the inode is checked to be a
        socket the account owns, and the connection goes to that very inode."""
        try:
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise StreamOpenFailed(f"Nothing answers at {path} ({exc.strerror}).") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISSOCK(info.st_mode) or info.st_uid != account.uid:
                raise StreamOpenFailed(
                    f"{path} is not a socket of {account.name}'s; labgate connects only "
                    "to the account's own."
                )
            try:
                return await asyncio.open_unix_connection(f"/proc/self/fd/{fd}", limit=STREAM_LIMIT)
            except OSError as exc:
                raise StreamOpenFailed(f"Nothing answers at {path} ({exc.strerror}).") from exc
        finally:
            os.close(fd)

    async def close(self) -> None:
        return None
