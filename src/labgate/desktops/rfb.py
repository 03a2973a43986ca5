"""The few parts of RFB (the VNC protocol, RFC 6143 and its community extensions) that
the desktop bridge needs, as pure functions and one parser, without any I/O.

- The handshake steps: protocol versions, security types, the VNC authentication's
  DES response, the security result, ClientInit.
- :class:`ClientMessages`: the boundaries of the messages a viewer sends, found in the
  bytes as they arrive (a message may be split over WebSocket frames, or several may
  share one). It drops the input messages of a view-only viewer, tells whether input
  passed (for idle detection) and refuses what it does not know. What the server sends
  is never parsed: it passes through as it comes.

Message sizes follow RFC 6143 section 7.5 and noVNC's ``core/rfb.js``
(``RFB.messages``), which sends the extensions listed in :data:`FIXED_SIZES` and below.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

#: What labgate speaks on both sides: RFB 3.8.
VERSION_3_8 = b"RFB 003.008\n"
VERSION_LENGTH = 12
SECURITY_NONE = 1
SECURITY_VNC_AUTH = 2
SECURITY_OK = 0
CHALLENGE_LENGTH = 16
#: The one ClientInit labgate sends: shared, so that several viewers (the owner in two
#: tabs, colleagues) watch one desktop instead of each one pushing the others off.
CLIENT_INIT_SHARED = b"\x01"
#: ServerInit's fixed part: width, height (u16 each), the 16-byte pixel format and the
#: name's length (u32); the name follows.
SERVER_INIT = struct.Struct(">HH16sI")
#: The longest clipboard text a viewer may send (ClientCutText): more closes the socket.
MAX_CLIPBOARD_BYTES = 1024 * 1024

# Client-to-server message types.
SET_PIXEL_FORMAT = 0
SET_ENCODINGS = 2
FRAMEBUFFER_UPDATE_REQUEST = 3
KEY_EVENT = 4
POINTER_EVENT = 5
CLIENT_CUT_TEXT = 6
ENABLE_CONTINUOUS_UPDATES = 150
CLIENT_FENCE = 248
XVP = 250
SET_DESKTOP_SIZE = 251
QEMU = 255
QEMU_EXTENDED_KEY_EVENT = 0

#: Messages of one size, type byte included.
FIXED_SIZES = {
    SET_PIXEL_FORMAT: 20,
    FRAMEBUFFER_UPDATE_REQUEST: 10,
    KEY_EVENT: 8,
    ENABLE_CONTINUOUS_UPDATES: 10,
    XVP: 4,
}
#: What a person does: counts as activity, and a view-only viewer's are dropped.
INPUT = frozenset({KEY_EVENT, POINTER_EVENT, CLIENT_CUT_TEXT, QEMU})
#: What a view-only viewer may not send: input, and changing the desktop's size or
#: asking the server to reboot or shut the machine down (xvp).
NOT_FOR_VIEWERS = INPUT | {SET_DESKTOP_SIZE, XVP}
#: The pseudo-encoding with which a viewer says it may send 7-byte PointerEvents (the
#: marker bit 0x80 in the button mask, then one more byte of buttons).
EXTENDED_MOUSE_BUTTONS = -316
_POINTER_SIZE = 6
_EXTENDED_POINTER_SIZE = 7
_QEMU_KEY_SIZE = 12
_CUT_TEXT_HEADER = 8
_FENCE_HEADER = 9
_DESKTOP_SIZE_HEADER = 8
_SCREEN_SIZE = 16
_U32 = struct.Struct(">I")


class RfbError(Exception):
    """A peer broke the protocol, or asked for what labgate does not allow. ``code`` is
    the close reason (an error code), ``status`` the HTTP status of its 4xxx close code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def protocol_error(message: str) -> RfbError:
    return RfbError(400, "rfb_protocol", message)


# -- the handshake ------------------------------------------------------------------------


def parse_version(data: bytes) -> tuple[int, int]:
    """``RFB xxx.yyy\\n`` -> (major, minor)."""
    if len(data) != VERSION_LENGTH or not data.startswith(b"RFB ") or data[7:8] != b".":
        raise protocol_error(f"Not an RFB protocol version: {data[:VERSION_LENGTH]!r}.")
    try:
        return int(data[4:7]), int(data[8:11])
    except ValueError:
        raise protocol_error(f"Not an RFB protocol version: {data!r}.") from None


def speaks_3_8(version: tuple[int, int]) -> bool:
    """Whether a server offering ``version`` can be spoken to in RFB 3.8 (it answers the
    highest version both know, and every 3.x from 3.8 on is 3.8 to a 3.8 client)."""
    return version >= (3, 8)


def choose_security(offered: bytes) -> int:
    """What labgate picks from a server's security types: VNC authentication (the
    session's own password), else None; anything else is refused."""
    if SECURITY_VNC_AUTH in offered:
        return SECURITY_VNC_AUTH
    if SECURITY_NONE in offered:
        return SECURITY_NONE
    raise RfbError(
        502,
        "desktop_security",
        f"The desktop offers only security types labgate does not speak: {list(offered)}.",
    )


def vnc_auth_response(password: str, challenge: bytes) -> bytes:
    """The answer to VNC authentication's challenge: the 16 bytes DES-encrypted with the
    password's first 8 bytes (zero-padded) as the key, each byte's bits reversed, as
    VNC's DES has always taken its key."""
    if len(challenge) != CHALLENGE_LENGTH:
        raise protocol_error("The VNC challenge must be 16 bytes.")
    key = bytes(_reversed_bits(b) for b in password.encode("latin-1")[:8].ljust(8, b"\0"))
    # Triple DES with the same key three times is DES.
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # noqa: S305 -- the protocol's
    return encryptor.update(challenge) + encryptor.finalize()


def _reversed_bits(byte: int) -> int:
    return int(f"{byte:08b}"[::-1], 2)


def security_result(ok: bool, reason: str = "") -> bytes:
    """RFB 3.8's SecurityResult: 0, or 1 with the reason."""
    if ok:
        return _U32.pack(SECURITY_OK)
    text = reason.encode()
    return _U32.pack(1) + _U32.pack(len(text)) + text


def u32(data: bytes) -> int:
    value: int = _U32.unpack(data)[0]
    return value


# -- what the viewer sends ----------------------------------------------------------------


class Passed(NamedTuple):
    """What :meth:`ClientMessages.feed` found in one piece of bytes: what goes on to the
    server, and whether a person's input was among it (forwarded, not dropped). A named
    tuple: one is made for every message a viewer sends, and a tuple is made fastest."""

    data: bytes
    input: bool


class ClientMessages:
    """The viewer's messages, found in the bytes as they come.

    ``feed`` takes any piece of the stream and answers what to send on: every complete
    message but those a view-only viewer may not send, and the text of a long clipboard
    message as it arrives (its length is checked from its header, so no more than a
    message header is ever held back, or one SetEncodings, fence or desktop-size message,
    whose lengths are bounded by their format). An unknown message type ends the stream:
    labgate cannot know where the next message starts.
    """

    def __init__(self, *, view_only: bool, max_clipboard_bytes: int = MAX_CLIPBOARD_BYTES) -> None:
        self.view_only = view_only
        self.max_clipboard_bytes = max_clipboard_bytes
        #: The viewer announced extended mouse buttons (7-byte PointerEvents).
        self.extended_pointer = False
        self._partial = b""  # the start of a message whose length is not known yet
        self._rest = 0  # bytes of a clipboard message's text still to come
        self._rest_kept = True

    def feed(self, data: bytes) -> Passed:
        if (
            len(data) == _POINTER_SIZE
            and data[0] == POINTER_EVENT
            and not self._partial
            and not self._rest
            and not (self.extended_pointer and data[1] & 0x80)
        ):  # the common case, a PointerEvent in its own WebSocket message, made short
            return Passed(b"", False) if self.view_only else Passed(data, True)
        if self._partial:
            data = self._partial + data
            self._partial = b""
        end = len(data)
        pos = 0
        kept: list[tuple[int, int]] = []  # ranges of ``data`` that go on
        dropped = False
        seen_input = False
        if self._rest:
            pos = min(self._rest, end)
            self._rest -= pos
            if self._rest_kept:
                kept.append((0, pos))
            else:
                dropped = True
        while pos < end:
            kind = data[pos]
            size = FIXED_SIZES.get(kind)
            if size is None:
                size = self._size(data, pos, end)
                if size == 0:  # its length is not known yet
                    self._partial = data[pos:]
                    break
            keep = not (self.view_only and kind in NOT_FOR_VIEWERS)
            if kind in INPUT and keep:
                seen_input = True
            stop = pos + size
            if stop > end:
                if kind != CLIENT_CUT_TEXT:
                    self._partial = data[pos:]
                    break
                # A long clipboard text: what came goes on now, the rest as it comes.
                self._rest = stop - end
                self._rest_kept = keep
                stop = end
            if keep:
                if kept and kept[-1][1] == pos:
                    kept[-1] = (kept[-1][0], stop)
                else:
                    kept.append((pos, stop))
            else:
                dropped = True
            if kind == SET_ENCODINGS:
                self._read_encodings(data, pos, stop)
            pos = stop
        if not dropped and len(kept) == 1 and kept[0] == (0, len(data)):
            return Passed(data, seen_input)  # the common case: all of it, not copied
        return Passed(b"".join(data[a:b] for a, b in kept), seen_input)

    def _size(self, data: bytes, pos: int, end: int) -> int:
        """The whole length of the variable message at ``pos``; 0 until enough of its
        header has come to tell."""
        kind = data[pos]
        have = end - pos
        if kind == POINTER_EVENT:
            if have < 2:
                return 0
            extended = self.extended_pointer and data[pos + 1] & 0x80
            return _EXTENDED_POINTER_SIZE if extended else _POINTER_SIZE
        if kind == CLIENT_CUT_TEXT:
            if have < _CUT_TEXT_HEADER:
                return 0
            length = u32(data[pos + 4 : pos + 8])
            if length & 0x80000000:  # extended clipboard: the length is negated
                length = 0x100000000 - length
            if length > self.max_clipboard_bytes:
                raise RfbError(
                    413,
                    "clipboard_too_big",
                    f"Clipboard text of {length} bytes; a desktop takes at most "
                    f"{self.max_clipboard_bytes}.",
                )
            return _CUT_TEXT_HEADER + length
        if kind == SET_ENCODINGS:
            if have < 4:
                return 0
            return 4 + 4 * int.from_bytes(data[pos + 2 : pos + 4], "big")
        if kind == CLIENT_FENCE:
            if have < _FENCE_HEADER:
                return 0
            return _FENCE_HEADER + data[pos + 8]
        if kind == SET_DESKTOP_SIZE:
            if have < _DESKTOP_SIZE_HEADER:
                return 0
            return _DESKTOP_SIZE_HEADER + _SCREEN_SIZE * data[pos + 6]
        if kind == QEMU:
            if have < 2:
                return 0
            if data[pos + 1] != QEMU_EXTENDED_KEY_EVENT:
                raise RfbError(
                    400,
                    "rfb_unknown_message",
                    f"QEMU client message {data[pos + 1]} is not one labgate passes on.",
                )
            return _QEMU_KEY_SIZE
        raise RfbError(
            400,
            "rfb_unknown_message",
            f"Client message type {kind} is not one labgate knows; the desktop closed.",
        )

    def _read_encodings(self, data: bytes, pos: int, stop: int) -> None:
        encodings = struct.unpack(f">{(stop - pos - 4) // 4}i", data[pos + 4 : stop])
        self.extended_pointer = EXTENDED_MOUSE_BUTTONS in encodings
