"""The agent's network methods (``net.*``): where an app can listen on the resource."""

from __future__ import annotations

from labgate.agent.typed.base import AgentCall, Remote, agent_method


class RemoteNet(Remote):
    """Ports and socket paths on the resource, for apps."""

    @agent_method("net.free_port")
    async def free_port(self, call: AgentCall) -> int:
        """A TCP port free on the resource's 127.0.0.1 now (the app that takes it may
        race another)."""
        return int((await call())["port"])

    @agent_method("net.listening")
    async def listening(self, call: AgentCall, port: int) -> list[str]:
        """The addresses where something listens at TCP ``port`` in the daemon's network
        (none where that cannot be read)."""
        return [str(address) for address in (await call(port=port))["addresses"]]

    @agent_method("net.socket_path")
    async def socket_path(self, call: AgentCall, name: str) -> str:
        """A fresh path for a Unix socket in the daemon's private 0700 directory."""
        return str((await call(name=name))["path"])
