"""The agent's RPC methods: each is declared where it is implemented, by ``@rpc``, which
fills ``METHODS``, the one table a connection answers from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, NamedTuple, Optional, TypeVar

from .tasks import _in_thread
from .wire import Channel

if TYPE_CHECKING:
    from .connection import Agent

Handler = Callable[[Dict[str, Any]], Awaitable[Dict[str, Any]]]
SessionHandler = Callable[["Agent", Dict[str, Any], Optional[Channel]], Awaitable[Dict[str, Any]]]


class Method(NamedTuple):
    """One RPC method. Its handler is ``handler(params)``, or ``handler(agent, params,
    channel)`` when it needs the ``connection`` it was called on; a method that opens a
    ``channel`` opens the one named by its ``channel`` parameter and is given it."""

    name: str
    handler: Callable[..., Awaitable[Dict[str, Any]]]
    connection: bool
    channel: bool


METHODS: Dict[str, Method] = {}

F = TypeVar("F", bound=Callable[..., Any])


def rpc(
    name: str, channel: bool = False, connection: bool = False, thread: bool = False
) -> Callable[[F], F]:
    """Declare the function below as the method ``name``. ``channel``: its request opens a
    channel (and so needs the connection); ``connection``: it needs the connection it was
    called on; ``thread``: a plain function, run in a worker thread."""

    def register(function: F) -> F:
        if name in METHODS:
            raise ValueError("the method %s is declared twice" % name)
        handler = _in_thread_rpc(function) if thread else function
        METHODS[name] = Method(name, handler, connection or channel, channel)
        return function

    return register


def _in_thread_rpc(function: Callable[[Dict[str, Any]], Dict[str, Any]]) -> "Handler":
    async def rpc(params: Dict[str, Any]) -> Dict[str, Any]:
        return await _in_thread(function, params)

    rpc.__doc__ = function.__doc__
    return rpc
