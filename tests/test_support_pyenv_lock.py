"""The guard against pyenv's stale rehash lock (tests/support/pyenv_lock.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.support.eventually import eventually_sync
from tests.support.pyenv_lock import STALE_AFTER_SECONDS, remove_stale_lock, stale_lock_guard


def test_a_fresh_lock_is_left_to_its_rehash(tmp_path: Path) -> None:
    lock = tmp_path / ".pyenv-shim"
    lock.write_text("#!/bin/sh\n")
    assert not remove_stale_lock(lock)
    assert lock.exists()


def test_a_stale_lock_is_removed(tmp_path: Path) -> None:
    lock = tmp_path / ".pyenv-shim"
    lock.write_text("#!/bin/sh\n")
    old = time.time() - STALE_AFTER_SECONDS - 1
    os.utime(lock, (old, old))
    assert remove_stale_lock(lock)
    assert not lock.exists()
    assert not remove_stale_lock(lock)  # gone: nothing to do


def test_the_guard_removes_a_stale_lock_while_it_runs(tmp_path: Path) -> None:
    lock = tmp_path / ".pyenv-shim"
    with stale_lock_guard(lock):
        lock.write_text("#!/bin/sh\n")
        old = time.time() - STALE_AFTER_SECONDS - 1
        os.utime(lock, (old, old))
        eventually_sync(lambda: not lock.exists(), what="the stale lock removed")
    assert not lock.exists()
