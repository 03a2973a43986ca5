"""labgate's ``Hop`` to a private sshd (``tests.support.sshd``): its client key and its
host key, confirmed, for tests and benchmarks that connect with ``SshTransport``; and a
plain asyncssh connection to it, for those that compare with asyncssh's own ways."""

from __future__ import annotations

from typing import Any

import asyncssh

from labgate.credentials.kinds import KeyCredential
from labgate.transport.ssh import Hop
from tests.support.sshd import SshServer


def key_hop(server: SshServer, **changes: Any) -> Hop:
    """A hop to ``server`` with its client key and its confirmed host key; ``changes``
    replace any field (another user, no known key, another credential)."""
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": server.user.name,
        "credential": KeyCredential(server.client_key_path.read_bytes()),
        "known_host_key": server.host_public_key,
    }
    values.update(changes)
    return Hop(**values)


async def asyncssh_connect(server: SshServer, **options: Any) -> asyncssh.SSHClientConnection:
    """An asyncssh connection to ``server`` with its client key, checking its host key,
    and asyncssh's defaults for everything ``options`` does not set."""
    return await asyncssh.connect(
        server.host,
        server.port,
        username=server.user.name,
        client_keys=[str(server.client_key_path)],
        known_hosts=str(server.known_hosts_path),
        agent_path=None,
        config=None,
        **options,
    )
