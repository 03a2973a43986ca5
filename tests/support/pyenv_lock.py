"""A guard against one quirk of the test machines: root's ``~/.bashrc`` runs
``pyenv init -``, which runs ``pyenv rehash``, and that takes a lock file
(``~/.pyenv/shims/.pyenv-shim``). A login shell killed while it holds the lock (tests
end processes by signal, and apps run under ``bash -l``) leaves the file behind, and from
then on every login shell of root waits ``PYENV_REHASH_TIMEOUT`` (60 s) for it: every
later test that starts something on the ``local`` resource as root times out.

Nothing of labgate is involved; the guard removes a lock file that has been there longer
than any rehash takes, and says so in the test log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

LOCK = Path(os.path.expanduser("~")) / ".pyenv" / "shims" / ".pyenv-shim"
# A rehash writes a few hundred shims in well under a second.
STALE_AFTER_SECONDS = 10.0
CHECK_EVERY_SECONDS = 2.0


def remove_stale_lock(lock: Path = LOCK, *, now: float | None = None) -> bool:
    """Remove ``lock`` if it is older than STALE_AFTER_SECONDS; True if it was."""
    try:
        age = (time.time() if now is None else now) - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if age < STALE_AFTER_SECONDS:
        return False
    lock.unlink(missing_ok=True)
    log.warning("removed pyenv's stale rehash lock %s (%.0f s old)", lock, age)
    return True


@contextmanager
def stale_lock_guard(lock: Path = LOCK) -> Iterator[None]:
    """Check for a stale lock every CHECK_EVERY_SECONDS while the block runs."""
    if not lock.parent.is_dir():
        yield  # no pyenv for this account: nothing to guard
        return
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(CHECK_EVERY_SECONDS):
            remove_stale_lock(lock)

    thread = threading.Thread(target=watch, name="pyenv-lock-guard", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
