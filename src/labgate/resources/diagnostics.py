"""Turn whatever stopped a connection into a :class:`Problem` a person can act on."""

from __future__ import annotations

from labgate.errors import LabgateError
from labgate.resources.status import Problem
from labgate.transport.ssh import SshError


def problem_of(exc: BaseException) -> Problem:
    if isinstance(exc, SshError):
        return Problem(exc.code, exc.message, exc.hop, exc.hop_label)
    if isinstance(exc, LabgateError):  # the agent's, logging in, not found ...
        return Problem(exc.code, exc.message)
    if isinstance(exc, TimeoutError):
        return Problem("timed_out", "The resource did not answer in time.")
    return Problem("agent_failed", f"Connecting failed: {type(exc).__name__}: {exc}")
