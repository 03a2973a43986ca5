"""Writes gathered until the event loop's next turn, then made as one.

Two writers make several small writes where one would do, each a system call (and on a
local connection, a wake-up of the reader) made from Python:

- asyncssh writes every SSH packet on its own and puts an ``SSH_MSG_IGNORE`` packet before
  each that carries data: a keystroke is two writes, a stream two per 32 KiB (sshd's
  largest packet). See ``labgate.transport.batched``.
- uvicorn writes a response's head and its body apart: two writes for every small answer
  of the proxy or the API. See ``labgate.http.protocol``.

``BatchedTransport`` stands in front of such a transport and keeps what is written until
the end of the current turn of the event loop, then writes it at once: nothing waits
longer than the turn, the order of the bytes is kept, and flow control stays with the
transport underneath (it pauses and resumes its protocol as before).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast


class BatchedTransport(asyncio.Transport):
    """What is written to it is written to ``inner`` (a socket's transport, or an SSH
    channel to tunnel through) at the end of the turn of the event loop, all in one."""

    def __init__(self, inner: Any, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        # asyncssh's own writes ignore a connection that has gone: so do these.
        with contextlib.suppress(ConnectionError):
            self._inner.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return bool(self._inner.can_write_eof())

    def close(self) -> None:
        self._flush()
        self._inner.close()

    def abort(self) -> None:
        self._pending.clear()
        self._inner.abort()

    def is_closing(self) -> bool:
        return bool(self._inner.is_closing())

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return int(self._inner.get_write_buffer_size()) + sum(map(len, self._pending))

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return bool(self._inner.is_reading())

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)  # uvicorn, upgrading to a WebSocket

    def get_protocol(self) -> asyncio.BaseProtocol:
        return cast(asyncio.BaseProtocol, self._inner.get_protocol())
