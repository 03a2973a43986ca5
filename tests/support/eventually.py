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


async def _wait(
    check: Callable[[], Any], what: str, pause: Callable[[float], Awaitable[None]]
) -> Any:
    """The loop of both waits: ``check`` until it is true, resting with ``pause``."""
    patience = PATIENCE_SECONDS  # read at each wait, so that a test of this module can shorten it
    deadline = time.monotonic() + patience
    rest = FIRST_PAUSE_SECONDS
    seen: object = None
    failure: AssertionError | None = None
    while True:
        try:
            found = check()
            if inspect.isawaitable(found):
                found = await found
        except AssertionError as error:
            failure = error
        else:
            if found:
                return found
            seen, failure = found, None
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await pause(min(rest, left))
        rest = min(rest * 2, LONGEST_PAUSE_SECONDS)
    message = f"{what}: not within {patience:g} s ({ENVIRONMENT_VARIABLE})"
    if failure is not None:
        message += f"; last assertion: {failure}"
    else:
        shown = repr(seen)
        if len(shown) > SHOWN_CHARACTERS:
            shown = shown[:SHOWN_CHARACTERS] + "..."
        message += f"; last seen: {shown}"
    raise NotEventually(message) from failure


@overload
async def eventually(check: Callable[[], Awaitable[T | None]], *, what: str) -> T: ...
@overload
async def eventually(check: Callable[[], T | None], *, what: str) -> T: ...
async def eventually(check: Callable[[], Any], *, what: str) -> Any:
    """What ``check()`` (a coroutine function or a plain one) returns once it is true,
    or once it does not raise an ``AssertionError``; see the module's docstring.

    When the check's value has ``Any`` in its type (``dict[str, Any]``), mypy cannot tell
    the two signatures apart and gives ``Any``: annotate the result."""
    return await _wait(check, what, asyncio.sleep)


async def _blocking_pause(seconds: float) -> None:
    time.sleep(seconds)


def eventually_sync(check: Callable[[], T | None], *, what: str) -> T:
    """:func:`eventually` for a test that is not async (it blocks the thread).

    It runs the same loop with a pause that blocks: as nothing in it suspends, one step
    of the coroutine runs it to its end, without an event loop."""
    waiting = _wait(check, what, _blocking_pause)
    try:
        waiting.send(None)
    except StopIteration as done:
        found: T = done.value
        return found
    waiting.close()
    raise TypeError(f"{what}: the check of eventually_sync awaited; wait with eventually")


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
