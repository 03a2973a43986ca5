"""The labgate agent, as it runs on a resource.

This file is sent verbatim over the transport and executed from memory by a tiny loader
(see ``bootstrap.py``): it must use only the standard library and run on Python 3.8.
The server imports the same file for the wire format, so both ends always agree.

Wire format: frames of ``>IIB`` (payload length, channel, kind) followed by the payload.
Channel 0 carries control messages as JSON: the agent's HELLO, the server's REQUESTs
and the agent's RESPONSEs. Later issues open further channels for byte streams
(files, terminals, forwarded TCP); DATA and CLOSE frames are reserved for them.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import struct
import sys
from typing import Any, Awaitable, Callable, Dict, Optional, Protocol, Tuple

AGENT_VERSION = 1
MIN_PYTHON = (3, 8)

HEADER = struct.Struct(">IIB")
MAX_FRAME = 16 * 1024 * 1024

HELLO = 1
REQUEST = 2
RESPONSE = 3
DATA = 4
CLOSE = 5

CONTROL = 0


class ProtocolError(Exception):
    """The other end sent something that is not a valid frame."""


def encode_frame(kind: int, channel: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ProtocolError("frame of %d bytes exceeds the limit" % len(payload))
    return HEADER.pack(len(payload), channel, kind) + payload


def encode_json(kind: int, message: Dict[str, Any], channel: int = CONTROL) -> bytes:
    return encode_frame(kind, channel, json.dumps(message, separators=(",", ":")).encode())


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


class RemoteError(Exception):
    """An error to report to the server as ``{"code", "message"}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- what the agent can do ------------------------------------------------------------


def _meminfo() -> Dict[str, int]:
    values: Dict[str, int] = {}
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    values[name] = int(parts[0]) * 1024
    except OSError:
        pass
    return values


async def rpc_ping(params: Dict[str, Any]) -> Dict[str, Any]:
    return {"pong": params.get("payload")}


async def rpc_system_info(params: Dict[str, Any]) -> Dict[str, Any]:
    # In a thread: a hung network home directory must not stall the agent's other calls.
    return await asyncio.get_event_loop().run_in_executor(None, _system_info)


def _system_info() -> Dict[str, Any]:
    home = os.path.expanduser("~")
    disk = os.statvfs(home)
    memory = _meminfo()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "hostname": socket.gethostname(),
        "user": os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid()),
        "home": home,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count() or 1,
        "load": list(load),
        "memory": {
            "total": memory.get("MemTotal", 0),
            "available": memory.get("MemAvailable", memory.get("MemFree", 0)),
        },
        "home_disk": {
            "total": disk.f_blocks * disk.f_frsize,
            "free": disk.f_bavail * disk.f_frsize,
        },
    }


Handler = Callable[[Dict[str, Any]], Awaitable[Dict[str, Any]]]
METHODS: Dict[str, Handler] = {
    "ping": rpc_ping,
    "system.info": rpc_system_info,
}


# -- the agent's main loop --------------------------------------------------------------


class Agent:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, frame: bytes) -> None:
        self.writer.write(frame)

    async def answer(self, request: Dict[str, Any]) -> None:
        request_id = request.get("id")
        method = METHODS.get(str(request.get("method")))
        try:
            if method is None:
                raise RemoteError(
                    "unknown_method", "The agent has no method %r." % request.get("method")
                )
            params = request.get("params") or {}
            if not isinstance(params, dict):
                raise RemoteError("bad_request", "params must be an object")
            result = await method(params)
            self.send(encode_json(RESPONSE, {"id": request_id, "result": result}))
        except RemoteError as exc:
            self.send(
                encode_json(
                    RESPONSE,
                    {"id": request_id, "error": {"code": exc.code, "message": exc.message}},
                )
            )
        except OSError as exc:
            error = {
                "code": "os_error",
                "message": "%s: %s" % (type(exc).__name__, exc),
                "errno": exc.errno,
            }
            self.send(encode_json(RESPONSE, {"id": request_id, "error": error}))
        except Exception as exc:  # report, never die: one bad call must not end the agent
            error = {"code": "agent_error", "message": "%s: %s" % (type(exc).__name__, exc)}
            self.send(encode_json(RESPONSE, {"id": request_id, "error": error}))
        await self.writer.drain()

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
        await self.writer.drain()
        tasks = set()
        while True:
            frame = await read_frame(self.reader)
            if frame is None:
                break
            kind, _channel, payload = frame
            if kind == REQUEST:
                task = asyncio.ensure_future(self.answer(json.loads(payload.decode())))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        for task in list(tasks):
            task.cancel()


async def _stdio_streams() -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader(limit=MAX_FRAME)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout.buffer
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def _main() -> None:
    reader, writer = await _stdio_streams()
    await Agent(reader, writer).run()


def main() -> None:
    """Entry point: speak the protocol on standard input and output until EOF."""
    asyncio.run(_main())
