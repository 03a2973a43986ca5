"""Sign-ins waiting for the answer to a further prompt (a second factor PAM asks for).

A provider's conversation (PAM's, in a thread of its own) cannot be written down and
resumed elsewhere: it waits in this replica's memory, under a random step id the login
page sends back with the answers, for at most ``login_step_seconds``; then it is
cancelled. With several replicas, the load balancer must send a login's steps to the
replica that began it (docs/admin-guide.md, *Sign-in*); one that lands elsewhere is told
to start again. The step id is a secret: only the browser that began the sign-in has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from labgate.auth.providers import MoreNeeded
from labgate.auth.secrets import digest, new_secret
from labgate.errors import LabgateError

log = logging.getLogger(__name__)

#: At most this many sign-ins wait at once on one replica (each holds a thread).
MAX_WAITING = 200


class LoginStepExpired(LabgateError):
    code = "login_step_expired"
    status = 409


class TooManyWaiting(LabgateError):
    code = "too_many_sign_ins"
    status = 503


@dataclass
class Waiting:
    """One sign-in waiting for answers."""

    more: MoreNeeded
    provider: str
    username: str
    attempt: int  # its login_attempt audit event (labgate.auth.ratelimit)
    deadline: float


class LoginSteps:
    """This replica's waiting sign-ins, by the digest of their step id."""

    def __init__(self, seconds: float, most: int = MAX_WAITING) -> None:
        self.seconds = seconds
        self.most = most
        self._waiting: dict[str, Waiting] = {}

    def hold(self, more: MoreNeeded, *, provider: str, username: str, attempt: int) -> str:
        """Keep a sign-in until its answers come; returns the step id for the browser."""
        if len(self._waiting) >= self.most:
            raise TooManyWaiting("Too many sign-ins are waiting for an answer: try again soon.")
        step = new_secret(24)
        key = digest(step)
        self._waiting[key] = Waiting(
            more, provider, username, attempt, time.monotonic() + self.seconds
        )
        # Not left waiting (a thread blocked in PAM) until somebody else signs in.
        asyncio.get_running_loop().call_later(self.seconds + 1, self._expire, key)
        return step

    def _expire(self, key: str) -> None:
        waiting = self._waiting.get(key)
        if waiting is not None and waiting.deadline < time.monotonic():
            _cancel_later(self._waiting.pop(key))

    def take(self, step: str) -> Waiting:
        """The sign-in waiting under ``step``, no longer held (answering it either ends
        it or holds the next step under a new id)."""
        waiting = self._waiting.pop(digest(step), None)
        if waiting is None or waiting.deadline < time.monotonic():
            if waiting is not None:
                _cancel_later(waiting)
            raise LoginStepExpired(
                "This sign-in waited too long for an answer (or began on another "
                "server): start again."
            )
        return waiting

    def expire(self) -> int:
        """Cancel the sign-ins past their deadline; returns how many (each is also
        cancelled by itself a second after its deadline)."""
        now = time.monotonic()
        late = [key for key, waiting in self._waiting.items() if waiting.deadline < now]
        for key in late:
            _cancel_later(self._waiting.pop(key))
        return len(late)

    async def close(self) -> None:
        """Cancel every waiting sign-in (the server stops)."""
        waiting, self._waiting = list(self._waiting.values()), {}
        for one in waiting:
            with contextlib.suppress(Exception):
                await one.more.cancel()

    def __len__(self) -> int:
        return len(self._waiting)


_cancelling: set[asyncio.Task[None]] = set()


def _cancel_later(waiting: Waiting) -> None:
    async def cancel() -> None:
        try:
            await waiting.more.cancel()
        except Exception:
            log.exception("Cancelling a waiting sign-in (%s) failed", waiting.provider)

    task = asyncio.get_running_loop().create_task(cancel())
    _cancelling.add(task)
    task.add_done_callback(_cancelling.discard)
