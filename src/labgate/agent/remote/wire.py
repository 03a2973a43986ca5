"""The wire format between labgate's server and its agent: frames, channels, flow
control, errors. This is the one module of the agent that the server imports (the rest
run only on the resource), so both ends always agree.

Wire format
    Frames of ``>IIB`` (payload length, channel, kind) followed by the payload. Channel 0
    carries control messages as JSON: the agent's HELLO, the server's REQUESTs
    ``{"id", "method", "params"}`` and the agent's RESPONSEs, ``{"id", "result"}`` or
    ``{"id", "error": {"code", "message"}}``. A RESPONSE is written as ``{"id":N,"result":``
    (or ``"error":``) first, so that the server can take a result's JSON as it is
    (``split_response``) and hand it on without decoding it.

Channels
    Channels above 0 carry byte streams in DATA frames. The server picks the number, never
    reuses one on a connection, and opens the channel with the request that uses it (the
    ``channel`` parameter of the methods declared with ``@rpc(..., channel=True)``:
    ``proc.attach``, ``fs.read_stream``, ``fs.write_stream``, ``fs.upload_append`` and
    ``fs.archive``).
    A CLOSE frame (a JSON object: ``{}``, an exit status, ``{"error": {...}}``) from either
    end ends the channel both ways; frames for a channel that is not open are ignored. If
    the request that opens a channel fails, its error answer ends the channel instead.

Flow control
    Each end may have at most ``WINDOW`` bytes of DATA payload in flight per channel: sent,
    and not yet granted back by the receiver in a WINDOW frame (payload ``>I``: bytes it
    consumed since its last grant). A sender waits when its window is used up, so a reader
    that stops reading stops the writer at the far end, and no end ever holds more than a
    window per channel. DATA payloads are at most ``CHUNK`` bytes (plus a small header), so
    answers on channel 0 keep flowing between the frames of the biggest stream.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import json
import struct
from typing import Any, Deque, Dict, Optional, Protocol, Tuple

AGENT_VERSION = 4
MIN_PYTHON = (3, 8)

HEADER = struct.Struct(">IIB")
MAX_FRAME = 16 * 1024 * 1024

HELLO = 1
REQUEST = 2
RESPONSE = 3
DATA = 4
CLOSE = 5
WINDOW = 6

CONTROL = 0

# Flow control: unacknowledged DATA bytes allowed per channel and direction, the size of
# the pieces streams are cut into, and how much a receiver consumes before it grants.
WINDOW_BYTES = 4 * 1024 * 1024
CHUNK = 256 * 1024
GRANT_STEP = WINDOW_BYTES // 4
WINDOW_GRANT = struct.Struct(">I")

# Process output on an attached channel: each DATA payload starts with the stream and the
# offset of its first byte in the process's output, so a client that attaches again
# continues exactly where it was, and sees any part the ring dropped as a jump.
OUTPUT_HEADER = struct.Struct(">BQ")
STDOUT = 1
STDERR = 2
PTY = 3
STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr", PTY: "pty"}

# A resumable upload's hidden file beside its target is named this and the upload's id
# (``transfers._upload_paths``); the server names it the same way.
UPLOAD_PREFIX = b".labgate-upload-"

# A connection to a batch job's relay (relay.py) begins with this magic and the secret,
# which the job finds in its environment under RELAY_SECRET_VARIABLE.
RELAY_MAGIC = b"labgate-relay-1 "
RELAY_SECRET_VARIABLE = "LABGATE_RELAY_SECRET"  # noqa: S105 (a name, not a secret)


def relay_preamble(secret: str) -> bytes:
    """What a connection to a relay starts with: the magic, the secret, a newline."""
    return RELAY_MAGIC + secret.encode("ascii") + b"\n"


class ProtocolError(Exception):
    """The other end sent something that is not a valid frame."""


def encode_frame(kind: int, channel: int, payload: "bytes | memoryview") -> bytes:
    if len(payload) > MAX_FRAME:
        raise ProtocolError("frame of %d bytes exceeds the limit" % len(payload))
    return HEADER.pack(len(payload), channel, kind) + payload


def encode_json(kind: int, message: Dict[str, Any], channel: int = CONTROL) -> bytes:
    return encode_frame(kind, channel, json.dumps(message, separators=(",", ":")).encode())


def encode_response(request_id: Any, result: Any) -> bytes:
    """A RESPONSE frame with a result, its envelope in the order ``split_response`` reads."""
    return encode_frame(
        RESPONSE,
        CONTROL,
        b'{"id":%s,"result":%s}'
        % (json.dumps(request_id).encode(), json.dumps(result, separators=(",", ":")).encode()),
    )


_RESULT_PREFIX = b',"result":'


def split_response(payload: bytes) -> Tuple[Any, Optional[bytes], Optional[Dict[str, Any]]]:
    """A RESPONSE's (id, the result's JSON text, None) or (id, None, error): the result
    is not decoded, so a large one can be passed on as it came."""
    if payload.startswith(b'{"id":') and payload.endswith(b"}"):
        head, found, result = payload[6:-1].partition(_RESULT_PREFIX)
        if found and head.strip().isdigit():
            return int(head), result, None
    message = json.loads(payload.decode())
    if not isinstance(message, dict):
        raise ProtocolError("a RESPONSE must be a JSON object")
    if "error" in message:
        return message.get("id"), None, message["error"]
    return message.get("id"), json.dumps(message.get("result")).encode(), None


def decode_object(payload: bytes) -> Dict[str, Any]:
    """A CLOSE payload: a JSON object, or an empty one when there is none."""
    if not payload:
        return {}
    message = json.loads(payload.decode())
    if not isinstance(message, dict):
        raise ProtocolError("a CLOSE payload must be a JSON object")
    return message


class Reader(Protocol):
    async def readexactly(self, n: int) -> bytes: ...


async def read_frame(reader: Reader) -> Optional[Tuple[int, int, bytes]]:
    """The next (kind, channel, payload), or None at a clean end of stream."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("stream ended inside a frame header") from None
    length, channel, kind = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError("frame of %d bytes exceeds the limit" % length)
    try:
        payload = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ProtocolError("stream ended inside a frame") from None
    return kind, channel, payload


# -- errors ---------------------------------------------------------------------------

_OS_ERROR_CODES = {
    errno.ENOENT: "not_found",
    errno.EACCES: "permission_denied",
    errno.EPERM: "permission_denied",
    errno.ENOTDIR: "not_a_directory",
    errno.EISDIR: "is_a_directory",
    errno.EEXIST: "exists",
    errno.ENOTEMPTY: "not_empty",
    errno.ENOSPC: "no_space",
    errno.EDQUOT: "quota_exceeded",
    errno.EROFS: "read_only",
    errno.EXDEV: "cross_device",
    errno.ENAMETOOLONG: "name_too_long",
    errno.ESRCH: "not_running",
}


class RemoteError(Exception):
    """An error to report to the server as ``{"code", "message"}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_of(exc: BaseException) -> Dict[str, Any]:
    """How an exception is reported: in an error answer or a CLOSE frame."""
    if isinstance(exc, RemoteError):
        return {"code": exc.code, "message": exc.message}
    if isinstance(exc, OSError):
        return {
            "code": _OS_ERROR_CODES.get(exc.errno or 0, "os_error"),
            "message": exc.strerror or str(exc),
            "errno": exc.errno,
        }
    if isinstance(exc, (ValueError, TypeError)):  # malformed parameters: numbers, base64
        return {"code": "bad_request", "message": "Invalid parameters: %s" % exc}
    return {"code": "agent_error", "message": "%s: %s" % (type(exc).__name__, exc)}


CONNECTION_LOST = {"error": {"code": "connection_lost", "message": "The connection ended."}}


# -- channels and flow control ------------------------------------------------------------


class Link(Protocol):
    """What a channel needs from its connection: the agent's, or the server's client."""

    def send(self, frame: bytes) -> None: ...

    async def drain(self) -> None: ...

    def forget(self, number: int) -> None: ...


class Channel:
    """One byte stream and its flow control, the same at both ends of a connection.

    ``send`` waits for window; ``read`` returns what arrived (None at the end) and grants
    the window back as it is consumed. ``close`` ends the channel and tells the other end;
    ``peer_closed`` records that the other end did; ``abandon`` ends it without a frame
    (the connection is gone, or the request that opened it failed).
    """

    def __init__(self, number: int, link: Link) -> None:
        self.number = number
        self.link = link
        self.credit = WINDOW_BYTES  # DATA bytes this end may still send
        self.buffered = 0  # DATA bytes received and not yet read
        self.closed = False
        self.close_message: Optional[Dict[str, Any]] = None
        self._inbox: Deque[bytes] = collections.deque()
        self._ungranted = 0
        self._changed = asyncio.Event()

    async def _wait(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    async def room(self, wanted: int) -> int:
        """Wait until ``wanted`` bytes may be sent; how many may (0 if the channel ended)."""
        while not self.closed and self.credit < wanted:
            await self._wait()
        return 0 if self.closed else self.credit

    async def send(self, payload: "bytes | memoryview") -> bool:
        """Send one DATA frame once the window allows; False if the channel ended."""
        if len(payload) > WINDOW_BYTES:
            raise ValueError("a DATA payload must fit in the window")
        while not self.closed and self.credit < len(payload):
            await self._wait()
        if self.closed:
            return False
        self.credit -= len(payload)
        self.link.send(encode_frame(DATA, self.number, payload))
        await self.link.drain()
        return True

    async def read(self) -> Optional[bytes]:
        """The next DATA payload, or None once the channel ended and all was read."""
        while not self._inbox:
            if self.closed:
                return None
            await self._wait()
        payload = self._inbox.popleft()
        self.buffered -= len(payload)
        self._ungranted += len(payload)
        if self._ungranted >= GRANT_STEP and not self.closed:
            self.link.send(encode_frame(WINDOW, self.number, WINDOW_GRANT.pack(self._ungranted)))
            self._ungranted = 0
        return payload

    def feed(self, payload: bytes) -> None:
        """A DATA frame arrived for this channel."""
        if self.closed:
            return
        if self.buffered + self._ungranted + len(payload) > WINDOW_BYTES:
            raise ProtocolError("DATA beyond the window on channel %d" % self.number)
        self._inbox.append(payload)
        self.buffered += len(payload)
        self._changed.set()

    def grant(self, payload: bytes) -> None:
        """A WINDOW frame arrived: the other end consumed this many bytes."""
        if len(payload) != WINDOW_GRANT.size:
            raise ProtocolError("a WINDOW frame carries %d bytes" % WINDOW_GRANT.size)
        (count,) = WINDOW_GRANT.unpack(payload)
        self.credit += count
        if self.credit > WINDOW_BYTES:
            raise ProtocolError("window grant beyond the window on channel %d" % self.number)
        self._changed.set()

    def close(self, message: Optional[Dict[str, Any]] = None) -> None:
        if self.closed:
            return
        self._end(None)
        self.link.send(encode_json(CLOSE, message or {}, channel=self.number))

    def peer_closed(self, message: Dict[str, Any]) -> None:
        self._end(message)

    def abandon(self, message: Dict[str, Any]) -> None:
        if not self.closed:
            self._end(message)

    def _end(self, message: Optional[Dict[str, Any]]) -> None:
        self.closed = True
        self.close_message = message
        self.link.forget(self.number)
        self._changed.set()
