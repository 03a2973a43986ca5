"""The agent's methods about itself and its machine: ``ping``, ``system.info``,
``daemon.info``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labgate.agent.typed.base import AgentCall, Remote, agent_method


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_total: int
    memory_used: int
    utilization: float | None


@dataclass(frozen=True)
class SystemInfo:
    """The resource as the user's account sees it. ``memory`` and ``home_disk`` hold
    ``total`` and ``available``/``free`` bytes; ``load`` the 1, 5 and 15 minute loads."""

    hostname: str
    user: str
    home: str
    platform: str
    python: str
    cpus: int
    load: list[float]
    memory: dict[str, int]
    home_disk: dict[str, int]
    gpus: list[Gpu]

    @classmethod
    def of(cls, answer: Mapping[str, Any]) -> SystemInfo:
        return cls(
            hostname=str(answer["hostname"]),
            user=str(answer["user"]),
            home=str(answer["home"]),
            platform=str(answer["platform"]),
            python=str(answer["python"]),
            cpus=int(answer["cpus"]),
            load=[float(value) for value in answer["load"]],
            memory={key: int(value) for key, value in answer["memory"].items()},
            home_disk={key: int(value) for key, value in answer["home_disk"].items()},
            gpus=[Gpu(**gpu) for gpu in answer.get("gpus", [])],
        )


@dataclass(frozen=True)
class DaemonInfo:
    """The process answering: its version, pid, ``mode`` ("daemon" or "direct"), start
    time, running processes and connected clients, and its Python (major, minor, micro)."""

    agent_version: int
    pid: int
    mode: str
    started_at: float
    processes: int
    clients: int
    python: tuple[int, ...]


class RemoteSystem(Remote):
    """The agent itself and the machine it runs on."""

    @agent_method("ping")
    async def ping(self, call: AgentCall, payload: Any = None) -> Any:
        """``payload`` (any JSON), back from the agent."""
        return (await call(payload=payload))["pong"]

    @agent_method("system.info")
    async def info(self, call: AgentCall) -> SystemInfo:
        return SystemInfo.of(await call())

    @agent_method("daemon.info")
    async def daemon(self, call: AgentCall) -> DaemonInfo:
        answer = await call()
        return DaemonInfo(
            agent_version=int(answer["agent_version"]),
            pid=int(answer["pid"]),
            mode=str(answer["mode"]),
            started_at=float(answer["started_at"]),
            processes=int(answer["processes"]),
            clients=int(answer["clients"]),
            python=tuple(int(part) for part in answer["python"]),
        )
