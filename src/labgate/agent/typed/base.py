"""What every typed client of the agent shares: the decorator that names the agent
method a client method calls, and the call it hands that method.

A client method is written as ``async def stat(self, call: AgentCall, path) -> ...``
under ``@agent_method("fs.stat")``: the name is written once, in the decorator, and the
method's callers do not pass ``call`` (the decorator does). ``tests/test_agent_client_api.py``
reads the names from :func:`client_methods` and checks them against the agent's methods.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from labgate.agent.client import AgentConnection

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound="Remote")

# A path on the resource: text (``~`` expanded there), or the exact bytes of a name that
# is not UTF-8.
RemotePath = str | bytes


class AgentCall:
    """One agent method on one connection, as a client method calls it."""

    def __init__(self, agent: AgentConnection, method: str) -> None:
        self.agent = agent
        self.method = method

    async def __call__(self, **params: Any) -> Any:
        """The answer, decoded, within the method's usual time."""
        return await self.within(None, **params)

    async def within(self, seconds: float | None, **params: Any) -> Any:
        """The answer within ``seconds`` (None: the method's usual time)."""
        if seconds is None:
            return await self.agent.call(self.method, **params)
        return await self.agent.call_within(seconds, self.method, **params)

    async def json(self, **params: Any) -> bytes:
        """The answer as the agent encoded it (JSON), for passing on unread."""
        return await self.agent.call_json(self.method, **params)


class Remote:
    """A typed client of one group of agent methods, on one connection."""

    def __init__(self, agent: AgentConnection) -> None:
        self.agent = agent


def agent_method(
    name: str,
) -> Callable[
    [Callable[Concatenate[C, AgentCall, P], Awaitable[R]]],
    Callable[Concatenate[C, P], Awaitable[R]],
]:
    """Mark a client method as the one that calls agent method ``name``, and hand it
    the :class:`AgentCall` for it."""

    def mark(
        function: Callable[Concatenate[C, AgentCall, P], Awaitable[R]],
    ) -> Callable[Concatenate[C, P], Awaitable[R]]:
        async def client_method(self: C, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return await function(self, AgentCall(self.agent, name), *args, **kwargs)

        client_method.__name__ = function.__name__
        client_method.__qualname__ = function.__qualname__
        client_method.__doc__ = function.__doc__
        client_method.__module__ = function.__module__
        client_method.agent_method = name  # type: ignore[attr-defined]
        return client_method

    return mark


def client_methods(*classes: type[Remote]) -> dict[str, list[str]]:
    """Which client methods (``Class.method``) call each agent method."""
    found: dict[str, list[str]] = {}
    for cls in classes:
        for attribute, value in vars(cls).items():
            name = getattr(value, "agent_method", None)
            if isinstance(name, str):
                found.setdefault(name, []).append(f"{cls.__name__}.{attribute}")
    return found


def given(**params: Any) -> dict[str, Any]:
    """The ``params`` that are not None: the agent takes its defaults for the others."""
    return {key: value for key, value in params.items() if value is not None}


def raw_bytes(value: Any) -> bytes | None:
    """A ``*_raw`` field of an answer, decoded (None when absent)."""
    return None if value is None else base64.b64decode(value)
