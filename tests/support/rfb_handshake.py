"""The RFB (VNC) handshake alone, for tests that check a VNC server's door
(``tests/support/rfb.py`` is the full client): RFC 6143 up to the server's ServerInit,
with VNC authentication, over any stream pair (asyncio's, or labgate's transport streams
to a session's endpoint).

    reader, writer = await asyncio.open_unix_connection(path)
    offered = await security_types(reader, writer)          # [2]: VNC authentication
    desktop = await authenticate(reader, writer, password)  # raises RfbRefused if wrong
    desktop.width, desktop.height, desktop.name

VNC authentication (RFC 6143, 7.2.2): the server sends 16 random bytes, the client
answers them encrypted with DES, the key being the password (at most 8 bytes, padded
with zeros) with each byte's bits in reverse order. DES is TripleDES with the key three
times (``cryptography``'s decrepit ciphers).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from labgate.transport.base import ByteReader, ByteWriter

VERSION = b"RFB 003.008\n"
NONE = 1
VNC_AUTH = 2


class RfbRefused(Exception):
    """The server refused the connection or the authentication; the message is its reason."""


@dataclass(frozen=True)
class Desktop:
    """What the server's ServerInit says of its screen."""

    width: int
    height: int
    name: str


def _reversed_bits(byte: int) -> int:
    return int(f"{byte:08b}"[::-1], 2)


def vnc_response(password: str, challenge: bytes) -> bytes:
    """The answer to a VNC authentication challenge with ``password``."""
    key = bytes(_reversed_bits(b) for b in password.encode()[:8].ljust(8, b"\0"))
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # ECB: as RFB says
    return encryptor.update(challenge) + encryptor.finalize()


async def _reason(reader: ByteReader) -> str:
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    return (await reader.readexactly(length)).decode("utf-8", "replace")


async def greeting(reader: ByteReader) -> bytes:
    """The server's first 12 bytes: its protocol version (``RFB 003.008\\n``)."""
    return await reader.readexactly(12)


async def security_types(reader: ByteReader, writer: ByteWriter) -> list[int]:
    """The security types the server offers, after the version exchange (3.8)."""
    said = await greeting(reader)
    assert said.startswith(b"RFB "), said
    writer.write(VERSION)
    await writer.drain()
    (count,) = await reader.readexactly(1)
    if count == 0:
        raise RfbRefused(await _reason(reader))
    return list(await reader.readexactly(count))


async def authenticate(
    reader: ByteReader, writer: ByteWriter, password: str, *, shared: bool = True
) -> Desktop:
    """VNC authentication with ``password`` (after :func:`security_types`), then
    ClientInit and the server's ServerInit; RfbRefused when the server refuses."""
    writer.write(bytes([VNC_AUTH]))
    await writer.drain()
    challenge = await reader.readexactly(16)
    writer.write(vnc_response(password, challenge))
    await writer.drain()
    (result,) = struct.unpack(">I", await reader.readexactly(4))
    if result != 0:
        raise RfbRefused(await _reason(reader))
    writer.write(bytes([1 if shared else 0]))
    await writer.drain()
    width, height = struct.unpack(">HH", await reader.readexactly(4))
    await reader.readexactly(16)  # the pixel format
    return Desktop(width, height, await _reason(reader))
