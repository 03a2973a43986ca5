"""The typed client of the agent (labgate.agent.typed) matches the agent: every agent
method has exactly one client method, every client method calls an agent method that
exists, and nothing else in labgate calls the agent by a method's name."""

from __future__ import annotations

import ast
from pathlib import Path

import labgate.agent.remote.main  # noqa: F401 -- imports every module that declares methods
from labgate.agent.remote.methods import METHODS
from labgate.agent.typed import CLIENTS, client_methods

SOURCE = Path(__file__).resolve().parents[1] / "src" / "labgate"
# The agent itself, its connection (which carries the calls) and the typed client.
CLIENT_MODULES = ("agent/remote/", "agent/client.py", "agent/typed/")
# AgentConnection's ways of calling a method by its name, and the name's position.
CALLS_BY_NAME = {"call": 0, "call_json": 0, "call_within": 1, "_call_on": 1}


def agent_methods() -> set[str]:
    """Every method the agent answers, from its own registry (``@rpc``)."""
    return set(METHODS)


def test_every_agent_method_has_exactly_one_client_method() -> None:
    found = client_methods(*CLIENTS)
    missing = sorted(agent_methods() - set(found))
    assert not missing, f"agent methods without a client method: {missing}"
    twice = {name: where for name, where in found.items() if len(where) > 1}
    assert not twice, f"agent methods with more than one client method: {twice}"


def test_every_client_method_calls_an_agent_method() -> None:
    unknown = {
        name: where
        for name, where in client_methods(*CLIENTS).items()
        if name not in agent_methods()
    }
    assert not unknown, f"client methods naming no agent method: {unknown}"


def test_the_registry_and_the_client_are_not_both_empty() -> None:
    # The checks above would pass on two empty sets.
    assert "fs.read" in agent_methods()
    assert client_methods(*CLIENTS)["fs.read"] == ["RemoteFs.read"]


def calls_by_name(source: str) -> list[tuple[int, str]]:
    """(line, method) of every call of an agent method by a string literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        position = CALLS_BY_NAME.get(node.func.attr)
        if position is None or len(node.args) <= position:
            continue
        name = node.args[position]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            found.append((node.lineno, name.value))
    return found


def test_calls_by_name_are_found() -> None:
    source = """
async def f(agent, connection):
    await agent.call("fs.read", path="x")
    await (await connection()).call_within(5, "fs.delete", path="y")
    await agent.call_json("fs.list", path="~")
    await agent.call(method)  # a name in a variable is not a literal
    await files.read("x")
"""
    assert calls_by_name(source) == [(3, "fs.read"), (4, "fs.delete"), (5, "fs.list")]


def test_nothing_outside_the_client_calls_the_agent_by_name() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        module = path.relative_to(SOURCE).as_posix()
        if module.startswith(CLIENT_MODULES):
            continue
        offenders += [f"{module}:{line} {name}" for line, name in calls_by_name(path.read_text())]
    assert not offenders, f"use labgate.agent.typed instead: {offenders}"
