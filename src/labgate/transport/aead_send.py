"""A cheaper way for asyncssh to send channel data on an AES-GCM connection.

asyncssh's ``send_packet`` is written for every cipher and every stage of a connection,
and pays for that on each packet:

- an ``SSH_MSG_IGNORE`` packet before every packet that carries data, a defence of the
  CBC ciphers against chosen-plaintext attacks on their chained IVs. AES-GCM has no
  chained IV (each packet's nonce is its own counter), and OpenSSH sends no such
  packets; labgate's connections offer AES-GCM first (``ENCRYPTION_ALGS``);
- a new AES-GCM context (its key schedule) for every packet;
- the packet copied five times on its way to the socket (payload, padding, the
  encrypted packet split into body and tag, and joined again);
- a debug line formatted for every packet, whether packet logging is on or not.

For a 1 GiB upload in sshd's 32 KiB packets that is 65,536 packets, and the server's
event loop spent most of its time there. ``install`` gives one connection a
``send_packet`` that takes the direct route for channel data (``SSH_MSG_CHANNEL_DATA``
and ``SSH_MSG_CHANNEL_EXTENDED_DATA``) once the connection is established: one join,
one encryption with a context kept for the key, the header and the encrypted packet
handed to the (batched) transport as they are. Everything else (key exchange,
authentication, control messages, a due rekey, packet logging at debug level 3, any
other cipher) goes through asyncssh's own ``send_packet``, untouched.

It reads and updates the same connection and cipher state asyncssh does (sequence
number, rekey byte count, the GCM invocation counter), so the two paths can take
turns packet by packet. That state is asyncssh's private business: ``install`` checks
the asyncssh version it was written and tested against (``TESTED_ASYNCSSH``) and
leaves any other version alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import asyncssh
from asyncssh.constants import MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA
from asyncssh.encryption import GCMEncryption
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# The asyncssh releases whose connection internals this module was checked against.
TESTED_ASYNCSSH = frozenset({"2.24.1"})

_DATA_TYPES = frozenset({MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA})
_PACKET_LOGGING = 3  # asyncssh logs packets' contents from this debug level on


class AeadSender:
    """The ``send_packet`` of one connection: channel data the direct way, everything
    else through asyncssh's own method (``stock``)."""

    def __init__(self, connection: Any, stock: Callable[..., None]) -> None:
        self.connection = connection
        self.stock = stock
        # How many packets took the direct route, and how many new keys it took up.
        self.direct_packets = 0
        self.rekeys = 0
        self._key: bytes | None = None
        self._aead: AESGCM | None = None

    def __call__(self, pkttype: int, *args: bytes, handler: Any = None) -> None:
        conn = self.connection
        encryption = conn._send_encryption
        if (
            pkttype not in _DATA_TYPES
            or type(encryption) is not GCMEncryption
            or not (conn._kex_complete and conn._auth_complete)
            or conn._compressor is not None
            or conn._rekey_bytes_sent >= conn._rekey_bytes
            or (conn._rekey_seconds and time.monotonic() >= conn._rekey_time)
            or conn.logger._debug_level >= _PACKET_LOGGING
        ):
            self.stock(pkttype, *args, handler=handler)
            return
        cipher = encryption._cipher
        if cipher._key is not self._key:  # the first packet, or new keys after a rekey
            self.rekeys += self._key is not None
            self._key = cipher._key
            self._aead = AESGCM(cipher._key)
        assert self._aead is not None
        blocksize = conn._send_blocksize
        padlen = -(conn._send_enchdrlen + 1 + sum(map(len, args))) % blocksize
        if padlen < 4:
            padlen += blocksize
        packet = b"".join((bytes((padlen, pkttype)), *args, os.urandom(padlen)))
        header = len(packet).to_bytes(4, "big")
        sealed = self._aead.encrypt(cipher._iv, packet, header)
        cipher._update_iv()
        conn._send(header)
        conn._send(sealed)  # the encrypted packet with its tag, as it came
        conn._send_seq = (conn._send_seq + 1) & 0xFFFFFFFF
        conn._rekey_bytes_sent += len(packet)
        self.direct_packets += 1


def install(connection: asyncssh.SSHClientConnection) -> AeadSender | None:
    """Give ``connection`` the direct route for channel data; ``None`` (and nothing
    changed) with an asyncssh this module was not checked against."""
    if asyncssh.__version__ not in TESTED_ASYNCSSH:
        return None
    sender = AeadSender(connection, connection.send_packet)
    # An attribute of the instance comes before the class's method: the channels call
    # ``self._conn.send_packet``.
    connection.send_packet = sender  # type: ignore[method-assign]
    return sender
