"""Processes the tests start, as root or as the test account, and how they are ended.

``running_as(user, argv, log_path=...)`` starts a program as a local account (the
resource's user in the tests, ``labgate-test``), with that account's uid, gid, home and a
clean environment, and at exit stops it and everything it started by PID: SIGTERM to the
program (JupyterLab and TensorBoard shut down their kernels and loaders on it), then
SIGTERM and, after a grace period, SIGKILL to whatever is left of the processes that were
below it. ``run_as`` runs a short command the same way and returns its result.

``skip_unless_root(what)`` skips a test or fixture with a clear reason when the tests do
not run as root (the fixtures ``apps_env`` and ``slurm`` use it).

``user_directory(user)`` makes a scratch directory owned by the account in its home:
pytest's ``tmp_path`` lives in ``/tmp/pytest-of-root`` (mode 0700), which the account
cannot enter.

``processes_referencing(path)`` finds processes by what they hold: an argument, an open
file or a working directory under ``path``. Daemons that detach from their parent (SLURM's
``slurmstepd``) are found that way, by the files of the test that started them.

The process is identified by (PID, start time) from ``/proc``, so a PID reused by an
unrelated process after the test's one ended is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.eventually import within

if TYPE_CHECKING:  # sshd.py uses this module to stop sshd
    from tests.support.sshd import TestUser

__all__ = [
    "SHUTDOWN_GRACE",
    "Process",
    "alive",
    "descendants",
    "end_processes",
    "identify",
    "processes_referencing",
    "run_as",
    "running_as",
    "skip_unless_root",
    "stop_tree",
    "user_directory",
    "user_environment",
]

SHUTDOWN_GRACE = 10.0
"""Seconds a process has between SIGTERM and SIGKILL."""

Process = tuple[int, int]
"""(PID, start time in clock ticks since boot): one process, never a reused PID."""


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent PID, start time) of a running ``pid``; None when gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[19])


def _all_processes() -> dict[int, tuple[int, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                found[int(entry.name)] = stat
    return found


def identify(pid: int) -> Process | None:
    """``pid`` with its start time, or None when it is not running."""
    stat = _stat(pid)
    return None if stat is None else (pid, stat[1])


def alive(process: Process) -> bool:
    """True while this very process runs (a zombie has ended)."""
    stat = _stat(process[0])
    return stat is not None and stat[1] == process[1]


def descendants(pid: int) -> list[Process]:
    """Every running process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[Process]] = {}
    for other, (parent, start) in _all_processes().items():
        children.setdefault(parent, []).append((other, start))
    found: list[Process] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child[0])
    return found


def processes_referencing(path: Path) -> list[Process]:
    """Running processes (not this one) with an argument, an open file or a working
    directory at or under ``path``."""
    prefix = str(path).rstrip("/")

    def under(text: str) -> bool:
        return text == prefix or text.startswith(prefix + "/")

    found: list[Process] = []
    for pid, (_, start) in _all_processes().items():
        if pid == os.getpid():
            continue
        proc = Path(f"/proc/{pid}")
        try:
            arguments = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            paths = [os.readlink(proc / "cwd")]
            paths += [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:  # gone meanwhile, or a kernel thread
            continue
        if any(under(text) for text in [*arguments, *paths]):
            found.append((pid, start))
    return found


def _signal(process: Process, sig: signal.Signals) -> None:
    if alive(process):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process[0], sig)


def _wait_ended(processes: Sequence[Process], timeout: float) -> bool:
    return within(timeout, lambda: not any(alive(p) for p in processes))


def end_processes(processes: Sequence[Process], grace: float = SHUTDOWN_GRACE) -> None:
    """SIGTERM each process, SIGKILL those still running after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        running = [p for p in processes if alive(p)]
        if not running:
            return
        for process in running:
            _signal(process, sig)
        _wait_ended(running, wait)


def stop_tree(pid: int, grace: float = SHUTDOWN_GRACE) -> None:
    """Stop ``pid`` and everything below it: SIGTERM to ``pid`` first, so that it can end
    its own children; what is left of them afterwards is ended by PID."""
    root = identify(pid)
    if root is None:
        return
    below = descendants(pid)
    _signal(root, signal.SIGTERM)
    if not _wait_ended([root], grace):
        _signal(root, signal.SIGKILL)
        _wait_ended([root], 5.0)
    end_processes(below, grace)


# --- as the test account ------------------------------------------------------------------


def skip_unless_root(what: str) -> None:
    """Skip the calling test or fixture, saying why, when the tests do not run as root:
    only root can start programs as the test account."""
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root (it runs as the test account labgate-test)")


def user_environment(user: TestUser, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A login-like environment for ``user``: nothing of root's (HOME, XDG_*) leaks in."""
    return {
        "HOME": str(user.home),
        "USER": user.name,
        "LOGNAME": user.name,
        "SHELL": "/bin/bash",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **(extra or {}),
    }


def run_as(
    user: TestUser,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``user`` (environment: ``user_environment`` plus ``env``); the
    result with text output, whatever the exit status."""
    return subprocess.run(
        list(argv),
        env=user_environment(user, env),
        cwd=cwd or user.home,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        umask=0o022,
    )


@contextlib.contextmanager
def running_as(
    user: TestUser,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` as ``user`` for the duration of the block, output to ``log_path``;
    stop it and its descendants by PID at exit (also when the block failed)."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            env=user_environment(user, env),
            cwd=cwd or user.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to handle
            user=user.uid,
            group=user.gid,
            extra_groups=[],
            umask=0o022,
        )
    try:
        yield process
    finally:
        stop_tree(process.pid)
        process.wait()


@contextlib.contextmanager
def user_directory(user: TestUser, prefix: str = "labgate-test-") -> Iterator[Path]:
    """A new directory in ``user``'s home, owned by ``user`` (mode 0700); removed at exit."""
    path = user.home / f"{prefix}{secrets.token_hex(4)}"
    path.mkdir(mode=0o700)
    os.chown(path, user.uid, user.gid)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
