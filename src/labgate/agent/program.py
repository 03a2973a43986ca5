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
import base64
import contextlib
import errno
import fcntl
import json
import os
import platform
import socket
import stat
import struct
import sys
import time
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


_OS_ERROR_CODES = {
    errno.ENOENT: "not_found",
    errno.EACCES: "permission_denied",
    errno.EPERM: "permission_denied",
    errno.ENOTDIR: "not_a_directory",
    errno.EISDIR: "is_a_directory",
    errno.EEXIST: "exists",
    errno.ENOSPC: "no_space",
    errno.EDQUOT: "quota_exceeded",
    errno.EROFS: "read_only",
}


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


# -- the file system ---------------------------------------------------------------------
#
# File names are bytes on POSIX. A name that is valid UTF-8 travels as "name"; any other
# also carries "raw" (base64 of the exact bytes), and requests may give a path as
# "path_raw" the same way, so every name round-trips.

LIST_PAGE_MAX = 5000


def _path_from(params: Dict[str, Any]) -> bytes:
    if "path_raw" in params:
        path = base64.b64decode(str(params["path_raw"]), validate=True)
    elif "path" in params:
        path = os.fsencode(os.path.expanduser(str(params["path"])))
    else:
        raise RemoteError("bad_request", "path or path_raw is required")
    if b"\0" in path:
        raise RemoteError("bad_request", "paths cannot contain NUL bytes")
    return path


def _name_fields(name: bytes) -> Dict[str, Any]:
    try:
        return {"name": name.decode("utf-8")}
    except UnicodeDecodeError:
        return {
            "name": name.decode("utf-8", "replace"),
            "raw": base64.b64encode(name).decode(),
        }


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISREG, "file"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "char_device"),
        (stat.S_ISBLK, "block_device"),
    ):
        if test(mode):
            return kind
    return "other"


def _describe(path: bytes, info: "os.stat_result") -> Dict[str, Any]:
    entry = {
        "kind": _kind(info.st_mode),
        "size": info.st_size,
        "mode": stat.S_IMODE(info.st_mode),
        "mtime": info.st_mtime,
        "uid": info.st_uid,
        "gid": info.st_gid,
    }  # type: Dict[str, Any]
    if stat.S_ISLNK(info.st_mode):
        try:
            entry["target"] = _name_fields(os.readlink(path))["name"]
            target = os.stat(path)
            entry["target_kind"] = _kind(target.st_mode)
        except OSError:
            entry["target_kind"] = "missing"
    return entry


def _list_directory(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    offset = max(0, int(params.get("offset", 0)))
    limit = min(LIST_PAGE_MAX, max(1, int(params.get("limit", 1000))))
    show_hidden = bool(params.get("hidden", True))
    with os.scandir(path) as scan:
        names = sorted(e.name for e in scan if show_hidden or not e.name.startswith(b"."))
    entries = []
    for name in names[offset : offset + limit]:
        full = os.path.join(path, name)
        try:
            entry = _describe(full, os.lstat(full))
        except FileNotFoundError:
            continue  # vanished between listing and stat
        entry.update(_name_fields(name))
        entries.append(entry)
    return {
        "path": _name_fields(os.path.abspath(path))["name"],
        "total": len(names),
        "offset": offset,
        "entries": entries,
    }


async def rpc_fs_list(params: Dict[str, Any]) -> Dict[str, Any]:
    """One page of a directory, sorted by name, with full stat for each entry."""
    return await asyncio.get_event_loop().run_in_executor(None, _list_directory, params)


def _stat(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    entry = _describe(path, os.lstat(path))
    entry.update(_name_fields(os.path.basename(path.rstrip(b"/")) or b"/"))
    return entry


async def rpc_fs_stat(params: Dict[str, Any]) -> Dict[str, Any]:
    return await asyncio.get_event_loop().run_in_executor(None, _stat, params)


READ_MAX = 4 * 1024 * 1024


def version_of(info: "os.stat_result") -> str:
    """Changes whenever the file's content may have: the editor's save precondition."""
    return "%d-%d-%d" % (info.st_mtime_ns, info.st_size, info.st_ino)


def _read(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    offset = max(0, int(params.get("offset", 0)))
    length = min(READ_MAX, max(0, int(params.get("length", READ_MAX))))
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise RemoteError("is_a_directory", "It is a directory.")
        handle.seek(offset)
        data = handle.read(length)
    return {
        "data": base64.b64encode(data).decode(),
        "offset": offset,
        "size": info.st_size,
        "eof": offset + len(data) >= info.st_size,
        "version": version_of(info),
    }


async def rpc_fs_read(params: Dict[str, Any]) -> Dict[str, Any]:
    """Bytes ``offset`` to ``offset + length`` (at most 4 MiB) and the file's version."""
    return await asyncio.get_event_loop().run_in_executor(None, _read, params)


def _write(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    data = base64.b64decode(str(params.get("data", "")), validate=True)
    expected = params.get("if_version")
    create_only = bool(params.get("create_only", False))
    try:
        current = os.stat(path)  # type: Optional[os.stat_result]
    except FileNotFoundError:
        current = None
    if current is not None and create_only:
        raise RemoteError("exists", "A file of that name exists already.")
    if current is not None and stat.S_ISDIR(current.st_mode):
        raise RemoteError("is_a_directory", "It is a directory.")
    if expected is not None and (current is None or version_of(current) != expected):
        raise RemoteError(
            "conflict", "The file changed on disk since it was read (or was removed)."
        )
    directory, name = os.path.split(path)
    # Written beside the target, then renamed over it: readers see the old or the new
    # file, never half of one, and a failure leaves the old file as it was.
    temporary = os.path.join(
        directory, b".%s.labgate-%s" % (name, base64.b16encode(os.urandom(4)).lower())
    )
    mode = stat.S_IMODE(current.st_mode) if current is not None else 0o666 & ~_UMASK
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return {"version": version_of(os.stat(path)), "size": len(data)}


# Read once while nothing else runs: os.umask can only be read by setting it, which
# would race with the worker threads that create files.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


async def rpc_fs_write(params: Dict[str, Any]) -> Dict[str, Any]:
    """Replace a file atomically; ``if_version`` makes it fail with "conflict" when the
    file is not the one that was read, ``create_only`` when it exists."""
    return await asyncio.get_event_loop().run_in_executor(None, _write, params)


Handler = Callable[[Dict[str, Any]], Awaitable[Dict[str, Any]]]
METHODS: Dict[str, Handler] = {
    "ping": rpc_ping,
    "system.info": rpc_system_info,
    "fs.list": rpc_fs_list,
    "fs.stat": rpc_fs_stat,
    "fs.read": rpc_fs_read,
    "fs.write": rpc_fs_write,
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
        except (ValueError, TypeError) as exc:  # malformed parameters: bad numbers, base64
            problem = {"code": "bad_request", "message": "Invalid parameters: %s" % exc}
            self.send(encode_json(RESPONSE, {"id": request_id, "error": problem}))
        except OSError as exc:
            error = {
                "code": _OS_ERROR_CODES.get(exc.errno or 0, "os_error"),
                "message": exc.strerror or str(exc),
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


# -- the per-user daemon --------------------------------------------------------------
#
# Work must outlive the connection that started it. The first agent on a host forks a
# daemon that listens on a Unix socket in a directory only its user can open; every
# agent after that (a reconnect, a restarted server, a second server) only relays its
# standard input and output to that socket. Calls are answered by the daemon.


class Options:
    def __init__(self, argv: "list[str]") -> None:
        self.runtime_dir = None  # type: Optional[str]
        self.idle_seconds = 3600.0
        self.daemon = True
        words = list(argv)
        while words:
            word = words.pop(0)
            if word == "--runtime-dir" and words:
                self.runtime_dir = words.pop(0)
            elif word == "--idle-seconds" and words:
                self.idle_seconds = float(words.pop(0))
            elif word == "--no-daemon":
                self.daemon = False


def runtime_dir(options: Options) -> str:
    """A directory only this user can open: created 0700, and refused if anyone else
    owns it or can enter it (another user could otherwise plant a socket there)."""
    base = options.runtime_dir
    if base is None:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        # /tmp is safe here: the checks below refuse a directory anyone else controls.
        base = os.path.join(xdg, "labgate") if xdg else "/tmp/labgate-%d" % os.getuid()  # noqa: S108
    os.makedirs(base, mode=0o700, exist_ok=True)
    info = os.lstat(base)
    if info.st_uid != os.getuid() or (info.st_mode & 0o077) or not os.path.isdir(base):
        raise SystemExit("labgate-agent: %s is not a private directory of this user" % base)
    return base


def socket_path(options: Options) -> str:
    # Per host (home directories are often shared between hosts) and per agent version
    # (a newer server starts a newer daemon beside the old one).
    name = "daemon-v%d-%s.sock" % (AGENT_VERSION, socket.gethostname()[:40])
    return os.path.join(runtime_dir(options), name)


async def _serve_daemon(path: str, idle_seconds: float) -> None:
    clients = [0]
    last_seen = [time.monotonic()]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients[0] += 1
        try:
            await Agent(reader, writer).run()
        except (ConnectionError, ProtocolError):
            pass
        finally:
            clients[0] -= 1
            last_seen[0] = time.monotonic()
            writer.close()

    server = await asyncio.start_unix_server(serve, path=path, limit=MAX_FRAME)
    os.chmod(path, 0o600)
    try:
        while clients[0] or time.monotonic() - last_seen[0] < idle_seconds:
            await asyncio.sleep(min(1.0, idle_seconds))
    finally:
        server.close()
        if os.path.exists(path):
            os.unlink(path)


def _start_daemon(path: str, idle_seconds: float, lock_fd: int) -> None:
    """Fork the daemon: its own session, no ties to this connection's stdio, and not
    holding the start-up lock (flock belongs to every copy of the descriptor)."""
    if os.fork() != 0:
        return
    try:
        os.close(lock_fd)
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        asyncio.run(_serve_daemon(path, idle_seconds))
    finally:
        os._exit(0)


def _connect_or_start(options: Options) -> str:
    """The daemon's socket path, with a daemon listening on it."""
    path = socket_path(options)
    # Agents starting at the same moment take turns here, so only one starts a daemon.
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _listening(path):
            if os.path.exists(path):
                os.unlink(path)  # left by a daemon that died
            _start_daemon(path, options.idle_seconds, lock.fileno())
            deadline = time.monotonic() + 10
            while not _listening(path):
                if time.monotonic() > deadline:
                    raise SystemExit("labgate-agent: the daemon did not start")
                time.sleep(0.02)
    return path


def _listening(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def _relay(path: str) -> None:
    stdin, stdout = await _stdio_streams()
    daemon_reader, daemon_writer = await asyncio.open_unix_connection(path, limit=MAX_FRAME)
    # The connection ends when the server goes (stdin closes); the daemon carries on.
    to_daemon = asyncio.ensure_future(_pump(stdin, daemon_writer))
    from_daemon = asyncio.ensure_future(_pump(daemon_reader, stdout))
    await asyncio.wait([to_daemon, from_daemon], return_when=asyncio.FIRST_COMPLETED)
    for task in (to_daemon, from_daemon):
        task.cancel()
    daemon_writer.close()


async def _serve_stdio() -> None:
    reader, writer = await _stdio_streams()
    await Agent(reader, writer).run()


def main() -> None:
    """Entry point: relay standard input and output to this user's daemon (starting it
    if needed), or with ``--no-daemon`` answer calls in this process until EOF."""
    options = Options(sys.argv[1:])
    if not options.daemon:
        asyncio.run(_serve_stdio())
        return
    asyncio.run(_relay(_connect_or_start(options)))
