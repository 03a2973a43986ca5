"""Kinds of transport: how the connection manager reaches a resource of each kind.

A resource's ``kind`` names its :class:`TransportKind`, provided by a plug-in
(``register_transports``). labgate's own, in this module, are ``local`` (a subprocess of
the server, with none of the server's environment, as the user's own OS account when
the server runs as root: :mod:`labgate.resources.local_accounts`) and ``ssh`` (asyncssh through the
resource's jump hosts, each hop's credential from the login).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from labgate.destinations import HostRules
from labgate.plugins import hookimpl
from labgate.resources.local_accounts import local_account
from labgate.resources.login import Login
from labgate.resources.plan import ConnectionPlan
from labgate.settings import Settings
from labgate.transport.base import Transport
from labgate.transport.local import LocalTransport
from labgate.transport.os_accounts import OsAccount
from labgate.transport.ssh import Hop, SshTransport


async def _nothing_to_open(transport: Transport) -> None:
    return None


@dataclass(frozen=True)
class TransportKind:
    """``make`` builds the transport of one connection from the resource's plan, the
    login (each hop's credential, host keys to confirm) and the settings; ``open`` then
    opens it, before the agent is started there (SSH: the chain of hops). The connection
    manager closes a transport whose ``open`` failed."""

    name: str
    make: Callable[[ConnectionPlan, Login, Settings], Transport]
    open: Callable[[Transport], Awaitable[None]] = _nothing_to_open


def _local(plan: ConnectionPlan, login: Login, settings: Settings) -> Transport:
    # Never the server's environment (its secrets): the account's basics only, for the
    # server's own account or (the server being root) the user's own.
    async def account() -> OsAccount | None:
        return await local_account(plan.account, plan.username, settings)

    return LocalTransport(account_from=account)


async def _open_local(transport: Transport) -> None:
    assert isinstance(transport, LocalTransport)
    await transport.open()


def _ssh(plan: ConnectionPlan, login: Login, settings: Settings) -> Transport:
    hops = [
        Hop(
            host=hop.host,
            username=hop.username,
            credential=login.credential_for(hop),
            port=hop.port,
            known_host_key=hop.known_host_key,
        )
        for hop in plan.hops
    ]
    return SshTransport(
        hops,
        connect_timeout=settings.ssh_connect_timeout_seconds,
        keepalive_interval=settings.ssh_keepalive_seconds,
        confirm_host_key=login.confirm_host_key,
        host_rules=HostRules.of(settings) if plan.hosts_restricted else None,
    )


async def _connect(transport: Transport) -> None:
    assert isinstance(transport, SshTransport)
    await transport.connect()


LOCAL = TransportKind("local", _local, _open_local)
SSH = TransportKind("ssh", _ssh, _connect)


@hookimpl
def register_transports() -> list[TransportKind]:
    return [LOCAL, SSH]
