"""Finding and ending the labgate daemons (and agents) a test started on a resource.

Every agent and daemon keeps the command line it was started with, which names its
runtime directory: a directory per test finds exactly that test's processes.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


def processes_using(runtime_dir: str) -> list[int]:
    """PIDs whose command line mentions ``runtime_dir``, as an argument or inside one
    (an app the daemon started names its socket there: ``--ServerApp.sock=<dir>/...``)."""
    needle = runtime_dir.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(needle in argument for argument in arguments):
            found.append(int(entry.name))
    return found


@contextmanager
def daemon_runtime_dir(
    prefix: str = "labgate-daemons-", *, per_user: bool = False
) -> Iterator[str]:
    """A fresh runtime directory path (not created: the agent creates it 0700 as the
    resource's user); afterwards every process using it is killed and it is removed.
    ``per_user``: the setting ends in ``-{uid}``, a directory per account (a server that
    reaches two accounts on this one machine, e.g. the local resource and an SSH one)."""
    path = os.path.join(tempfile.gettempdir(), prefix + os.urandom(4).hex())
    setting = path + "-{uid}" if per_user else path
    try:
        yield setting
    finally:
        for pid in processes_using(setting):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for directory in glob.glob(glob.escape(path) + "*"):
            shutil.rmtree(directory, ignore_errors=True)
