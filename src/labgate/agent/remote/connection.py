"""One connection to the server: the agent's main loop, which answers its requests and
carries its channels."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import stat
import sys
from typing import Any, Awaitable, BinaryIO, Dict, List, Optional, Set, Tuple

from .methods import METHODS
from .processes import Process
from .wire import (
    AGENT_VERSION,
    CHUNK,
    CLOSE,
    CONNECTION_LOST,
    DATA,
    HELLO,
    MAX_FRAME,
    OUTPUT_HEADER,
    REQUEST,
    RESPONSE,
    WINDOW,
    Channel,
    RemoteError,
    decode_object,
    encode_json,
    encode_response,
    error_of,
    read_frame,
)


class Agent:
    """One connection: answers its requests and carries its channels. When it ends, its
    streams stop and its attachments are dropped; the processes run on."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.channels: Dict[int, Channel] = {}
        self.tasks: Set[asyncio.Future[Any]] = set()
        self.attachments: Dict[int, List[asyncio.Future[Any]]] = {}
        # Python 3.8's drain() cannot be awaited by two tasks at once.
        self._drain_lock = asyncio.Lock()

    # -- the Link a channel uses

    def send(self, frame: bytes) -> None:
        self.writer.write(frame)

    async def drain(self) -> None:
        async with self._drain_lock:
            await self.writer.drain()

    def forget(self, number: int) -> None:
        self.channels.pop(number, None)

    def spawn(self, coroutine: Awaitable[Any]) -> "asyncio.Future[Any]":
        """Run work for this connection; it is cancelled when the connection ends."""
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: "asyncio.Future[Any]") -> None:
        self.tasks.discard(task)
        if not task.cancelled():
            task.exception()  # a stream cut by the connection's end is no news

    # -- requests

    def _request(self, request: Dict[str, Any]) -> None:
        # The channel is opened here, in frame order, before any DATA for it is read.
        channel = None
        params = request.get("params")
        method = METHODS.get(request.get("method"))  # type: ignore[arg-type]
        if method is not None and method.channel and isinstance(params, dict):
            number = params.get("channel")
            if isinstance(number, int) and number > 0 and number not in self.channels:
                channel = self.channels[number] = Channel(number, self)
        self.spawn(self.answer(request, channel))

    async def answer(self, request: Dict[str, Any], channel: Optional[Channel] = None) -> None:
        request_id = request.get("id")
        name = str(request.get("method"))
        try:
            params = request.get("params") or {}
            method = METHODS.get(name)
            if method is None:
                raise RemoteError("unknown_method", "The agent has no method %r." % name)
            if not isinstance(params, dict):
                raise RemoteError("bad_request", "params must be an object")
            if not method.connection:
                result = await method.handler(params)
            else:
                if method.channel and channel is None:
                    raise RemoteError("bad_request", "channel must be a positive number not in use")
                result = await method.handler(self, params, channel)
            answer = encode_response(request_id, result)
        except Exception as exc:  # report, never die: one bad call must not end the agent
            error = error_of(exc)
            answer = encode_json(RESPONSE, {"id": request_id, "error": error})
            if channel is not None:
                channel.abandon({"error": error})
        self.send(answer)
        with contextlib.suppress(ConnectionError):
            await self.drain()

    # -- attachments to processes

    def attach(self, channel: Channel, process: Process, offset: int) -> None:
        self.attachments[channel.number] = [
            self.spawn(self._send_output(channel, process, offset)),
            self.spawn(self._take_input(channel, process)),
        ]

    def detach(self, number: int, message: Optional[Dict[str, Any]] = None) -> bool:
        tasks = self.attachments.pop(number, None)
        for task in tasks or ():
            task.cancel()
        channel = self.channels.get(number)
        if channel is not None and message is not None:
            channel.close(message)
        return tasks is not None

    async def _send_output(self, channel: Channel, process: Process, offset: int) -> None:
        while True:
            changed = process.changed()
            piece = process.output.read(offset, CHUNK)
            if piece is not None:
                stream, start, data = piece
                if not await channel.send(OUTPUT_HEADER.pack(stream, start) + data):
                    return
                offset = start + len(data)
            elif process.finished:
                self.attachments.pop(channel.number, None)
                channel.close(process.exit_message())
                return
            else:
                await changed.wait()

    async def _take_input(self, channel: Channel, process: Process) -> None:
        while True:
            data = await channel.read()
            if data is None:
                return
            if data:
                await process.write_input(data)
            else:
                await process.close_input()

    # -- the connection

    async def run(self) -> None:
        self.send(
            encode_json(
                HELLO,
                {
                    "agent_version": AGENT_VERSION,
                    "python": list(sys.version_info[:3]),
                    "pid": os.getpid(),
                },
            )
        )
        await self.drain()
        try:
            while True:
                frame = await read_frame(self.reader)
                if frame is None:
                    break
                kind, number, payload = frame
                if kind == REQUEST:
                    self._request(json.loads(payload.decode()))
                    continue
                channel = self.channels.get(number)
                if channel is None:
                    continue  # a channel that ended: late frames are dropped
                if kind == DATA:
                    channel.feed(payload)
                elif kind == WINDOW:
                    channel.grant(payload)
                elif kind == CLOSE:
                    channel.peer_closed(decode_object(payload))
                    self.detach(number)
        finally:
            for channel in list(self.channels.values()):
                channel.abandon(CONNECTION_LOST)
            tasks = list(self.tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _streams(
    incoming: BinaryIO, outgoing: BinaryIO
) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.BaseTransport]:
    """asyncio streams on a connection's input and output (pipes, sockets or terminals);
    the input's transport too, to be closed with the connection."""
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader(limit=MAX_FRAME)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), incoming
    )
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, outgoing)
    # drain() waits only past this much unsent: a stream's frames are not held up one by one.
    transport.set_write_buffer_limits(high=WRITE_BUFFER_BYTES)
    _grow_pipe(incoming.fileno())
    _grow_pipe(outgoing.fileno())
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer, read_transport


def _grow_pipe(fd: int) -> None:
    """Give a pipe a larger buffer where the kernel allows it (Linux: F_SETPIPE_SZ up to
    /proc/sys/fs/pipe-max-size), so that sshd and the daemon take turns less often."""
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass  # another system, or a lower limit: the default buffer works too


WRITE_BUFFER_BYTES = 1024 * 1024
PIPE_BYTES = 1024 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
