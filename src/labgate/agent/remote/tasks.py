"""Work in threads and waits on the event loop, as every part of the agent does them."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    # File system work runs in threads: a hung network file system must not stall the
    # agent's other calls and streams.
    return await asyncio.get_event_loop().run_in_executor(None, function, *args)


async def _settle(pending: "Optional[asyncio.Future[Any]]") -> None:
    """Wait for thread work to end, even in a task being cancelled, and cancelled again
    while it waits: a file must never be closed while a thread still reads or writes it
    (its number could be reused), and the clean-up that follows must run. A cancellation
    that arrives meanwhile is passed on once the work has ended (at the task's next
    wait), so it is never lost."""
    if pending is None:
        return
    cancelled = False
    while not pending.done():
        try:
            await asyncio.wait([pending])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        task = asyncio.current_task()
        if task is not None:
            task.cancel()


def _resolve(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)
