"""The direct send path for channel data (labgate/transport/aead_send.py) against a real
OpenSSH sshd: what arrives is what was sent, across rekeys, and anything it does not
handle goes through asyncssh's own path."""

from __future__ import annotations

import hashlib
import os

import asyncssh
import pytest

from labgate.transport import aead_send
from labgate.transport.ssh import SshTransport
from tests.support.hops import asyncssh_connect, key_hop
from tests.support.sshd import SshServer

MiB = 1024 * 1024


@pytest.fixture
def payload() -> bytes:
    return os.urandom(24 * MiB + 12345)  # not a whole number of packets


async def _hashed_remotely(connection: asyncssh.SSHClientConnection, data: bytes) -> str:
    """Send ``data`` to ``sha256sum`` on the server in uneven pieces; its answer."""
    process = await connection.create_process("sha256sum", encoding=None)
    view = memoryview(data)
    sizes = (1, 100, 32 * 1024, 32 * 1024 + 1, 300 * 1024, 2 * MiB)
    offset = index = 0
    while offset < len(view):
        size = sizes[index % len(sizes)]
        process.stdin.write(view[offset : offset + size])
        await process.stdin.drain()
        offset += size
        index += 1
    process.stdin.write_eof()
    output = await process.stdout.read()
    await process.wait()
    return str(output.split()[0].decode())


async def test_channel_data_arrives_intact_through_the_direct_path(
    sshd: SshServer, payload: bytes
) -> None:
    connection = await asyncssh_connect(sshd, encryption_algs=["aes128-gcm@openssh.com"])
    try:
        sender = aead_send.install(connection)
        assert sender is not None
        assert await _hashed_remotely(connection, payload) == hashlib.sha256(payload).hexdigest()
        # sshd's packets carry at most 32 KiB: the data took the direct route.
        assert sender.direct_packets >= len(payload) // (32 * 1024)
        # and the connection goes on: control messages through asyncssh's own path.
        result = await connection.run("echo still here", check=True)
        assert result.stdout == "still here\n"
    finally:
        connection.close()
        await connection.wait_closed()


async def test_rekeys_in_the_middle_of_a_stream_take_turns_with_the_direct_path(
    sshd: SshServer, payload: bytes
) -> None:
    # A new key every 2 MiB: a dozen key exchanges during one stream, the data waiting
    # through each (asyncssh's path) and the direct path picking up the new keys.
    connection = await asyncssh_connect(
        sshd, encryption_algs=["aes256-gcm@openssh.com"], rekey_bytes=2 * MiB
    )
    try:
        sender = aead_send.install(connection)
        assert sender is not None
        assert await _hashed_remotely(connection, payload) == hashlib.sha256(payload).hexdigest()
        assert sender.direct_packets > 0
        assert sender.rekeys >= 10
    finally:
        connection.close()
        await connection.wait_closed()


async def test_other_ciphers_go_through_asyncssh_as_before(sshd: SshServer, payload: bytes) -> None:
    connection = await asyncssh_connect(sshd, encryption_algs=["chacha20-poly1305@openssh.com"])
    try:
        sender = aead_send.install(connection)
        assert sender is not None
        assert await _hashed_remotely(connection, payload) == hashlib.sha256(payload).hexdigest()
        assert sender.direct_packets == 0
    finally:
        connection.close()
        await connection.wait_closed()


async def test_an_unknown_asyncssh_is_left_alone(
    sshd: SshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asyncssh, "__version__", "99.0")
    connection = await asyncssh_connect(sshd)
    try:
        stock = connection.send_packet
        assert aead_send.install(connection) is None
        assert connection.send_packet == stock
    finally:
        connection.close()
        await connection.wait_closed()


async def test_labgates_ssh_transport_sends_the_direct_way(sshd: SshServer) -> None:
    transport = SshTransport([key_hop(sshd)])
    try:
        process = await transport.start(["sha256sum"])
        data = os.urandom(4 * MiB)
        process.stdin.write(data)
        await process.stdin.drain()
        process.stdin.close()  # an end of file
        output = await process.stdout.read(1024)
        assert output.split()[0].decode() == hashlib.sha256(data).hexdigest()
        sender = transport._connections[-1].send_packet
        assert isinstance(sender, aead_send.AeadSender)
        assert sender.direct_packets >= 4 * MiB // (32 * 1024)
    finally:
        await transport.close()
