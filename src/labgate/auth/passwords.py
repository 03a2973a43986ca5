"""Password hashing with argon2id, off the event loop.

Hashing is deliberately slow (a quarter of a second and 64 MiB with the defaults); it
runs in worker threads of its own (argon2's C code releases the GIL) so that logins
never stall other requests. There are only half as many of those threads as CPUs: a
burst of logins then waits for its turn instead of taking every CPU from the event loop
(which every other request needs) and memory with it. The cost is set from settings by
:func:`configure`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
HASHING_THREADS = max(1, (os.cpu_count() or 1) // 2)
_hashing = ThreadPoolExecutor(HASHING_THREADS, thread_name_prefix="labgate-hashing")
T = TypeVar("T")


def configure(*, time_cost: int, memory_kib: int) -> None:
    """Choose the cost of new hashes; existing hashes are upgraded at the next login."""
    global _hasher
    if (_hasher.time_cost, _hasher.memory_cost) != (time_cost, memory_kib):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        _dummy_hash.cache_clear()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the account does not exist, so that a wrong user name costs
    # as much time as a wrong password and timing does not reveal which accounts exist.
    return _hasher.hash("labgate-timing-equaliser")


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def _in_hashing_thread(work: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hashing, work)


async def hash_password(password: str) -> str:
    return await _in_hashing_thread(lambda: _hasher.hash(password))


async def verify_password(password_hash: str | None, password: str) -> bool:
    return await _in_hashing_thread(lambda: _verify(password_hash, password))


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
