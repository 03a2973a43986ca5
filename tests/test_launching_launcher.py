"""The launcher contract's helpers (``labgate.launching.launcher``)."""

from __future__ import annotations

import pytest

from labgate.launching.launcher import text_tail


@pytest.mark.parametrize(
    ("printed", "max_bytes", "tail"),
    [
        (b"hello world", 5, "world"),
        (b"short", 100, "short"),
        ("né é".encode(), 3, " é"),  # the end of é's two bytes
        ("né é".encode(), 4, " é"),  # é cut in two: left out
        (b"ab\xffcd", 5, "\ufffdcd"),  # the replacement character takes 3 bytes
        (b"ab\xffcd", 4, "cd"),
        (b"ab\xffcd", 6, "b\ufffdcd"),
        (b"anything", 0, ""),
    ],
)
def test_a_log_tail_is_text_within_max_bytes(printed: bytes, max_bytes: int, tail: str) -> None:
    found = text_tail(printed, max_bytes)
    assert found == tail
    assert len(found.encode()) <= max_bytes
