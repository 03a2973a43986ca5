"""Waiting in tests, one way: :func:`eventually` (and :func:`eventually_sync` for tests
that are not async) calls ``check`` until it returns something true without raising an
``AssertionError``, and gives back what it returned.

- A check that returns a false value (``None``, ``False``, an empty list) or raises an
  ``AssertionError`` is tried again after a short pause (20 ms, doubling up to 200 ms).
  A check in the assert style ends with ``return True``.
- Any other exception ends the wait at once: raise one (``pytest.fail(...)``) when what is
  seen means it can never come (the session failed, the process exited).
- After :data:`PATIENCE_SECONDS` the wait fails with :class:`NotEventually`, an
  ``AssertionError`` naming ``what`` and the last value or assertion seen.

There is one patience for the whole suite: ``LABGATE_TEST_PATIENCE`` in the environment,
in seconds (default 180, for a loaded two-core CI machine: the longest a test waits is
for a JupyterLab starting as a SLURM job or behind two jump hosts). It guards against a
hang in the code under test and is never a measure of speed: a test passes as soon as
its condition holds, so a large patience costs only the time to report a failure. The
same value bounds the tests' other waits (``asyncio.timeout(PATIENCE_SECONDS)`` around a
read, for one).

A sleep that is part of what is tested (nothing may happen within some seconds, letting
an expiry pass, a rate limit) stays a sleep with a comment saying why; a loop around a
sleep is refused by ``tests/test_support_eventually.py`` unless its line says why with
``# not a wait:``. A grace that is part of what is done (SIGTERM, then SIGKILL if the
process is still there after a few seconds) is :func:`within`, never a patience.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

ENVIRONMENT_VARIABLE = "LABGATE_TEST_PATIENCE"
DEFAULT_PATIENCE_SECONDS = 180.0
FIRST_PAUSE_SECONDS = 0.02
LONGEST_PAUSE_SECONDS = 0.2
# A value seen last is shown in the failure up to this many characters.
SHOWN_CHARACTERS = 4000


def _patience() -> float:
    configured = os.environ.get(ENVIRONMENT_VARIABLE, "")
    if not configured:
        return DEFAULT_PATIENCE_SECONDS
    try:
        seconds = float(configured)
    except ValueError:
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must be seconds, not {configured!r}") from None
    if not seconds > 0:
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must be more than 0 seconds, not {configured}")
    return seconds


PATIENCE_SECONDS = _patience()


class NotEventually(AssertionError):
    """What a test waited for did not come within the patience."""


class _Tries:
    """The bookkeeping shared by both waits: the deadline, the pauses, what was seen."""

    def __init__(self, what: str) -> None:
        self.what = what
        # Read at each wait (not bound at import) so that a test of this module can
        # shorten it.
        self.patience = PATIENCE_SECONDS
        self.deadline = time.monotonic() + self.patience
        self.pause = FIRST_PAUSE_SECONDS
        self.seen: object = None
        self.failure: AssertionError | None = None

    def next_pause(self) -> float | None:
        """Seconds to rest before the next try, or ``None`` once the patience is spent."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            return None
        pause = min(self.pause, left)
        self.pause = min(self.pause * 2, LONGEST_PAUSE_SECONDS)
        return pause

    def give_up(self) -> NotEventually:
        message = f"{self.what}: not within {self.patience:g} s ({ENVIRONMENT_VARIABLE})"
        if self.failure is not None:
            message += f"; last assertion: {self.failure}"
        else:
            shown = repr(self.seen)
            if len(shown) > SHOWN_CHARACTERS:
                shown = shown[:SHOWN_CHARACTERS] + "..."
            message += f"; last seen: {shown}"
        error = NotEventually(message)
        error.__cause__ = self.failure
        return error


@overload
async def eventually(check: Callable[[], Awaitable[T | None]], *, what: str) -> T: ...
@overload
async def eventually(check: Callable[[], T | None], *, what: str) -> T: ...
async def eventually(check: Callable[[], Any], *, what: str) -> Any:
    """What ``check()`` (a coroutine function or a plain one) returns once it is true,
    or once it does not raise an ``AssertionError``; see the module's docstring.

    When the check's value has ``Any`` in its type (``dict[str, Any]``), mypy cannot tell
    the two signatures apart and gives ``Any``: annotate the result."""
    tries = _Tries(what)
    while True:
        try:
            found = check()
            if inspect.isawaitable(found):
                found = await found
        except AssertionError as failure:
            tries.failure = failure
        else:
            if found:
                return found
            tries.seen, tries.failure = found, None
        pause = tries.next_pause()
        if pause is None:
            raise tries.give_up()
        await asyncio.sleep(pause)


def eventually_sync(check: Callable[[], T | None], *, what: str) -> T:
    """:func:`eventually` for a test that is not async (it blocks the thread)."""
    tries = _Tries(what)
    while True:
        try:
            found = check()
        except AssertionError as failure:
            tries.failure = failure
        else:
            if found:
                return found
            tries.seen, tries.failure = found, None
        pause = tries.next_pause()
        if pause is None:
            raise tries.give_up()
        time.sleep(pause)


def within(seconds: float, check: Callable[[], object]) -> bool:
    """Whether ``check()`` turns true within ``seconds``, for a grace that is part of what
    is done (a process has that long after SIGTERM before SIGKILL); never for what a test
    waits to see, which is :func:`eventually`'s."""
    deadline = time.monotonic() + seconds
    pause = FIRST_PAUSE_SECONDS
    while not check():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
    return True
