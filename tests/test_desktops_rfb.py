"""The RFB pieces of the desktop bridge (labgate.desktops.rfb): every client message type
noVNC sends, found whole at every cut of the stream (two pieces, and one byte at a time),
a view-only viewer's input dropped, input told apart from update requests, clipboard
limits, unknown messages refused; the handshake's parts, and VNC authentication's DES
checked against TigerVNC's own vncpasswd."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from labgate.desktops import rfb


def set_pixel_format() -> bytes:
    return (
        bytes([0, 0, 0, 0, 32, 24, 0, 1])
        + struct.pack(">HHHBBB", 255, 255, 255, 0, 8, 16)
        + b"\0" * 3
    )


def set_encodings(*encodings: int) -> bytes:
    return struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings)


def update_request(incremental: int = 1) -> bytes:
    return struct.pack(">BBHHHH", 3, incremental, 0, 0, 800, 600)


def key(keysym: int = 0x61, down: int = 1) -> bytes:
    return struct.pack(">BBxxI", 4, down, keysym)


def pointer(x: int = 10, y: int = 20, mask: int = 1) -> bytes:
    return struct.pack(">BBHH", 5, mask, x, y)


def extended_pointer(x: int = 10, y: int = 20) -> bytes:
    return struct.pack(">BBHHB", 5, 0x80 | 1, x, y, 1)


def cut_text(text: bytes) -> bytes:
    return struct.pack(">BxxxI", 6, len(text)) + text


def extended_cut_text(payload: bytes) -> bytes:
    return struct.pack(">BxxxI", 6, 0x100000000 - len(payload)) + payload


def continuous_updates() -> bytes:
    return struct.pack(">BBHHHH", 150, 1, 0, 0, 800, 600)


def fence(payload: bytes = b"abc") -> bytes:
    return struct.pack(">BxxxIB", 248, 0x80000001, len(payload)) + payload


def xvp() -> bytes:
    return bytes([250, 0, 1, 2])


def set_desktop_size(screens: int = 1) -> bytes:
    head = struct.pack(">BxHHBx", 251, 1024, 768, screens)
    return head + b"".join(struct.pack(">IHHHHI", n, 0, 0, 1024, 768, 0) for n in range(screens))


def qemu_key() -> bytes:
    return struct.pack(">BBHII", 255, 0, 1, 0x61, 0x1E)


# Every message, in the order a viewer might send them; input and what view-only drops.
MESSAGES: list[tuple[str, bytes, bool, bool]] = [
    # name, bytes, is input, dropped for a viewer
    ("SetPixelFormat", set_pixel_format(), False, False),
    ("SetEncodings", set_encodings(0, 1, 7, -223, -308, -312, -313, -316), False, False),
    ("FramebufferUpdateRequest", update_request(), False, False),
    ("KeyEvent", key(), True, True),
    ("PointerEvent", pointer(), True, True),
    ("extended PointerEvent", extended_pointer(), True, True),
    ("ClientCutText", cut_text(b"hello, desktop"), True, True),
    ("extended ClientCutText", extended_cut_text(b"\x10\0\0\x01" + b"z" * 40), True, True),
    ("EnableContinuousUpdates", continuous_updates(), False, False),
    ("ClientFence", fence(), False, False),
    ("xvp", xvp(), False, True),
    ("SetDesktopSize", set_desktop_size(2), False, True),
    ("QEMU extended key", qemu_key(), True, True),
    ("empty ClientFence", fence(b""), False, False),
    ("empty ClientCutText", cut_text(b""), True, True),
]
STREAM = b"".join(m for _, m, _, _ in MESSAGES)
FOR_VIEWERS = b"".join(m for _, m, _, dropped in MESSAGES if not dropped)


def test_the_sizes_are_noVNCs() -> None:
    sizes = {name: len(message) for name, message, _, _ in MESSAGES}
    assert sizes["SetPixelFormat"] == 20
    assert sizes["FramebufferUpdateRequest"] == 10
    assert sizes["KeyEvent"] == 8
    assert sizes["PointerEvent"] == 6
    assert sizes["extended PointerEvent"] == 7
    assert sizes["EnableContinuousUpdates"] == 10
    assert sizes["xvp"] == 4
    assert sizes["QEMU extended key"] == 12
    assert sizes["SetDesktopSize"] == 8 + 2 * 16


def _through(pieces: list[bytes], *, view_only: bool) -> tuple[bytes, list[bool]]:
    messages = rfb.ClientMessages(view_only=view_only)
    out = []
    inputs = []
    for piece in pieces:
        passed = messages.feed(piece)
        out.append(passed.data)
        inputs.append(passed.input)
    return b"".join(out), inputs


def _cuts(data: bytes) -> list[list[bytes]]:
    return [[data[:i], data[i:]] for i in range(len(data) + 1)]


@pytest.mark.parametrize("view_only", [False, True])
def test_every_cut_in_two_passes_what_it_should(view_only: bool) -> None:
    wanted = FOR_VIEWERS if view_only else STREAM
    for pieces in _cuts(STREAM):
        assert _through(pieces, view_only=view_only)[0] == wanted, pieces


@pytest.mark.parametrize("view_only", [False, True])
def test_one_byte_at_a_time_passes_what_it_should(view_only: bool) -> None:
    pieces = [STREAM[i : i + 1] for i in range(len(STREAM))]
    wanted = FOR_VIEWERS if view_only else STREAM
    assert _through(pieces, view_only=view_only)[0] == wanted


@pytest.mark.parametrize(("name", "message", "is_input", "dropped"), MESSAGES)
def test_each_message_alone(name: str, message: bytes, is_input: bool, dropped: bool) -> None:
    # The extended pointer is 7 bytes only once the viewer announced it can send them.
    before = set_encodings(-316) if name == "extended PointerEvent" else b""
    for pieces in _cuts(message):
        full, inputs = _through([before, *pieces], view_only=False)
        assert full == before + message, name
        assert any(inputs) is is_input, name
        viewed, viewer_inputs = _through([before, *pieces], view_only=True)
        assert viewed == before + (b"" if dropped else message), name
        assert not any(viewer_inputs), f"{name}: a dropped message is no activity"


def test_several_messages_in_one_piece_go_on_as_one_piece_not_copied() -> None:
    messages = rfb.ClientMessages(view_only=False)
    data = pointer() + key() + update_request()
    passed = messages.feed(data)
    assert passed.data is data
    assert passed.input


def test_a_pointer_alone_goes_on_not_copied_but_six_bytes_of_a_clipboard_text_are_text() -> None:
    messages = rfb.ClientMessages(view_only=False)
    alone = pointer()
    passed = messages.feed(alone)
    assert passed.data is alone
    assert passed.input
    assert rfb.ClientMessages(view_only=True).feed(alone) == (b"", False)
    # Six bytes that look like a PointerEvent but are the rest of a clipboard text: the
    # stream stays in step, and the key after them is a key.
    text = cut_text(bytes([5, 0, 0, 1, 0, 2]))
    assert messages.feed(text[:8]).data == text[:8]
    assert messages.feed(text[8:]).data == text[8:]
    assert messages.feed(key()) == (key(), True)


def test_an_update_request_is_no_activity() -> None:
    passed = rfb.ClientMessages(view_only=False).feed(update_request() + update_request(0))
    assert not passed.input
    assert rfb.ClientMessages(view_only=False).feed(update_request() + key()).input


def test_a_pointer_with_the_high_button_is_six_bytes_unless_extended_buttons_were_announced() -> (
    None
):
    high_button = pointer(mask=0x80)  # button 8, in a viewer that knows nothing of markers
    following = key()
    passed = rfb.ClientMessages(view_only=True).feed(high_button + following + update_request())
    assert passed.data == update_request()
    announced = rfb.ClientMessages(view_only=True)
    announced.feed(set_encodings(0, -316))
    # Announced: the marker makes it seven bytes, so the stream ends where noVNC's does.
    assert announced.feed(extended_pointer() + update_request()).data == update_request()
    # SetEncodings again without it: six bytes again.
    announced.feed(set_encodings(0))
    assert announced.feed(high_button + update_request()).data == update_request()


def test_a_long_clipboard_text_goes_on_as_it_comes_not_held_back() -> None:
    text = b"t" * 100_000
    message = cut_text(text)
    messages = rfb.ClientMessages(view_only=False)
    first = messages.feed(message[:1000])
    assert first.data == message[:1000]
    assert first.input
    middle = messages.feed(message[1000:50_000])
    assert middle.data == message[1000:50_000]
    last = messages.feed(message[50_000:] + key())
    assert last.data == message[50_000:] + key()


def test_a_viewers_long_clipboard_text_is_dropped_as_it_comes() -> None:
    message = cut_text(b"t" * 100_000)
    messages = rfb.ClientMessages(view_only=True)
    assert messages.feed(message[:1000]).data == b""
    assert messages.feed(message[1000:]).data == b""
    assert messages.feed(update_request()).data == update_request()


@pytest.mark.parametrize("extended", [False, True])
def test_clipboard_text_over_the_limit_ends_the_stream(extended: bool) -> None:
    make = extended_cut_text if extended else cut_text
    at_limit = make(b"x" * 1000)
    assert rfb.ClientMessages(view_only=False, max_clipboard_bytes=1000).feed(at_limit).data
    over = make(b"x" * 1001)
    for cut in range(len(over) + 1):
        messages = rfb.ClientMessages(view_only=False, max_clipboard_bytes=1000)

        def both_pieces(messages: rfb.ClientMessages = messages, cut: int = cut) -> None:
            messages.feed(over[:cut])
            messages.feed(over[cut:])

        with pytest.raises(rfb.RfbError) as raised:
            both_pieces()
        assert (raised.value.status, raised.value.code) == (413, "clipboard_too_big")
    assert rfb.MAX_CLIPBOARD_BYTES == 1024 * 1024


@pytest.mark.parametrize("data", [bytes([7, 0, 0, 0]), bytes([1]), bytes([255, 1, 0, 0])])
def test_an_unknown_message_ends_the_stream(data: bytes) -> None:
    messages = rfb.ClientMessages(view_only=False)
    assert messages.feed(key()).data == key()
    with pytest.raises(rfb.RfbError) as raised:
        messages.feed(data)
    assert (raised.value.status, raised.value.code) == (400, "rfb_unknown_message")


# -- the handshake ----------------------------------------------------------------------


def test_versions() -> None:
    assert rfb.parse_version(b"RFB 003.008\n") == (3, 8)
    assert rfb.speaks_3_8(rfb.parse_version(b"RFB 003.889\n"))
    assert not rfb.speaks_3_8(rfb.parse_version(b"RFB 003.007\n"))
    for bad in (b"HTTP/1.1 200", b"RFB 003.00x\n", b"RFB 003-008\n"):
        with pytest.raises(rfb.RfbError):
            rfb.parse_version(bad)


def test_security_vnc_authentication_first_then_none_else_refused() -> None:
    assert rfb.choose_security(bytes([1, 2, 19])) == rfb.SECURITY_VNC_AUTH
    assert rfb.choose_security(bytes([1])) == rfb.SECURITY_NONE
    with pytest.raises(rfb.RfbError) as raised:
        rfb.choose_security(bytes([19, 16]))
    assert raised.value.code == "desktop_security"


def test_security_result() -> None:
    assert rfb.security_result(True) == b"\0\0\0\0"
    assert rfb.security_result(False, "no") == b"\0\0\0\x01\0\0\0\x02no"


@pytest.mark.skipif(shutil.which("vncpasswd") is None, reason="tigervnc-tools is not installed")
def test_the_des_response_is_vncs() -> None:
    """vncpasswd stores a password DES-encrypted with VNC's fixed key, the way VNC
    authentication encrypts its challenge: the response to a challenge of the password
    (twice) under that key as the password is what vncpasswd wrote."""
    fixed_key = bytes([23, 82, 107, 6, 35, 78, 88, 7]).decode("latin-1")
    for password in (b"s3cret!x", b"short", b"exactly8"):
        stored = subprocess.run(
            ["vncpasswd", "-f"], input=password + b"\n", capture_output=True, check=True
        ).stdout
        padded = password.ljust(8, b"\0")
        assert rfb.vnc_auth_response(fixed_key, padded + padded) == stored + stored


def test_the_des_response_depends_on_the_password_and_the_challenge() -> None:
    challenge = bytes(range(16))
    first = rfb.vnc_auth_response("abcdefgh", challenge)
    assert len(first) == 16
    assert rfb.vnc_auth_response("abcdefgh" + "ignored", challenge) == first  # 8 characters
    assert rfb.vnc_auth_response("abcdefgi", challenge) != first
    assert rfb.vnc_auth_response("abcdefgh", bytes(reversed(challenge))) != first
    with pytest.raises(rfb.RfbError):
        rfb.vnc_auth_response("abcdefgh", b"short")
