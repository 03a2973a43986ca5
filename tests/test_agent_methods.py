"""The agent's RPC methods are declared where they are implemented (``@rpc``) into one
registry: every handler is in it once, and the methods that open a channel are marked so."""

from __future__ import annotations

import ast
import inspect
import sys
from typing import Any

import pytest

import labgate.agent.remote.main  # noqa: F401 -- imports every module that declares methods
from labgate.agent.bootstrap import MODULE_SOURCES
from labgate.agent.client import AgentCallError, AgentConnection
from labgate.agent.remote import wire
from labgate.agent.remote.methods import METHODS, rpc
from labgate.transport.local import LocalTransport

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _is_rpc(decorator: ast.expr) -> bool:
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Name)
        and decorator.func.id == "rpc"
    )


def functions() -> list[tuple[str, Function]]:
    """(module, function) of every function in the modules sent to the resource."""
    return [
        (module, node)
        for module, source in MODULE_SOURCES.items()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def declarations() -> dict[str, list[Function]]:
    """Each method name given to ``@rpc`` in the modules' sources, with the functions
    declared under it."""
    found: dict[str, list[Function]] = {}
    for _, function in functions():
        for decorator in function.decorator_list:
            if _is_rpc(decorator):
                assert isinstance(decorator, ast.Call)
                found.setdefault(ast.literal_eval(decorator.args[0]), []).append(function)
    return found


def test_every_handler_is_in_the_registry_exactly_once() -> None:
    declared = declarations()
    assert {name: len(found) for name, found in declared.items() if len(found) > 1} == {}
    # main imports every module that declares a method, so the agent knows them all.
    assert set(METHODS) == set(declared)
    handlers = [method.handler for method in METHODS.values()]
    assert len({id(handler) for handler in handlers}) == len(handlers)
    for name, method in METHODS.items():
        assert method.name == name
    # A function named as a handler without @rpc would never be called.
    undeclared = [
        f"{module}.{function.name}"
        for module, function in functions()
        if function.name.startswith("rpc_") and not any(map(_is_rpc, function.decorator_list))
    ]
    assert undeclared == []


def test_a_method_cannot_be_declared_twice() -> None:
    before = dict(METHODS)

    async def another(params: dict[str, Any]) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="ping is declared twice"):
        rpc("ping")(another)
    assert dict(METHODS) == before


def test_a_method_that_opens_a_channel_is_marked_so() -> None:
    declared = declarations()
    for name, method in METHODS.items():
        (function,) = declared[name]
        # A handler that needs the channel its request opened says so first.
        needs_channel = any(
            isinstance(node, ast.Assert) and ast.unparse(node.test) == "channel is not None"
            for node in ast.walk(function)
        )
        assert method.channel == needs_channel, name
        parameters = list(inspect.signature(method.handler).parameters)
        if method.connection:
            assert parameters == ["agent", "params", "channel"], name
        else:
            assert parameters == ["params"], name
    opening = {name for name, method in METHODS.items() if method.channel}
    assert opening == {
        "proc.attach",
        "fs.read_stream",
        "fs.write_stream",
        "fs.upload_append",
        "fs.archive",
    }
    # The wire format's description names them.
    assert wire.__doc__ is not None
    for name in opening:
        assert f"``{name}``" in wire.__doc__


async def test_the_agent_opens_channels_for_the_methods_marked_so() -> None:
    agent = await AgentConnection.start(
        LocalTransport(), python=sys.executable, agent_args=["--no-daemon"]
    )
    try:
        for name, method in sorted(METHODS.items()):
            if method.channel:
                with pytest.raises(AgentCallError) as refused:
                    await agent.call(name, path="/nonexistent", channel=0)
                assert refused.value.remote_code == "bad_request", name
                assert "channel must be" in str(refused.value), name
        # A method that needs only the connection is answered without a channel.
        assert await agent.call("proc.detach", channel=12345) == {"detached": False}
    finally:
        await agent.close()
