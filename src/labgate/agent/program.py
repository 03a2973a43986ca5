"""The labgate agent, as it runs on a resource.

This file is sent verbatim over the transport and executed from memory by a tiny loader
(see ``bootstrap.py``): it must use only the standard library and run on Python 3.8.
The server imports the same file for the wire format and the flow control, so both ends
always agree.

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
    ``channel`` parameter of ``proc.attach``, ``fs.read_stream``, ``fs.write_stream``,
    ``fs.upload_append`` and ``fs.archive``).
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

The daemon and versions
    By default the agent hands its connection (its standard input and output) to a
    per-user daemon (see the section below) that owns the processes and terminals, so
    they outlive connections. The daemon's socket name carries
    ``AGENT_VERSION``: a newer agent starts a newer daemon beside an older one instead of
    talking to it. The old daemon gets no new connections, lets its processes run to their
    end (only a server of its version can still reach them) and leaves once none runs and
    it has been idle for its idle time.
"""

from __future__ import annotations

import array
import asyncio
import base64
import bisect
import collections
import contextlib
import errno
import fcntl
import fnmatch
import hashlib
import hmac
import json
import os
import platform
import pwd
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
import zlib
from typing import (
    Any,
    Awaitable,
    BinaryIO,
    Callable,
    Deque,
    Dict,
    Iterator,
    List,
    Optional,
    Protocol,
    Set,
    Tuple,
    TypeVar,
)

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

T = TypeVar("T")


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


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    # File system work runs in threads: a hung network file system must not stall the
    # agent's other calls and streams.
    return await asyncio.get_event_loop().run_in_executor(None, function, *args)


async def _settle(pending: "Optional[asyncio.Future[Any]]") -> None:
    """Wait for thread work to end, even in a task being cancelled, and cancelled again
    while it waits: a file must never be closed while a thread still reads or writes it
    (its number could be reused), and the clean-up that follows must run. A cancellation
    that arrives meanwhile is passed on once the work has ended (at the task's next
    wait), so it is never lost."""
    if pending is None:
        return
    cancelled = False
    while not pending.done():
        try:
            await asyncio.wait([pending])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        task = asyncio.current_task()
        if task is not None:
            task.cancel()


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
    return await _in_thread(_system_info)


def _system_info() -> Dict[str, Any]:
    home = os.path.expanduser("~")
    disk = os.statvfs(home)
    memory = _meminfo()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "hostname": socket.gethostname(),
        "user": _user_name(),
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
        "gpus": _gpus(),
    }


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry (some containers)
        return os.environ.get("USER") or str(os.getuid())


GPU_QUERY = "index,name,memory.total,memory.used,utilization.gpu"


def _gpus() -> List[Dict[str, Any]]:
    """NVIDIA GPUs as nvidia-smi reports them; none when it is missing or fails."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return []
    try:
        listing = subprocess.run(  # noqa: S603 -- a fixed argv, no shell
            [program, "--query-gpu=" + GPU_QUERY, "--format=csv,noheader,nounits"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=True,
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in listing.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 5:
            continue
        index, name, total, used, utilization = fields
        try:
            gpus.append(
                {
                    "index": int(index),
                    "name": name,
                    "memory_total": int(float(total) * 1024 * 1024),
                    "memory_used": int(float(used) * 1024 * 1024),
                    "utilization": float(utilization) if _is_number(utilization) else None,
                }
            )
        except ValueError:
            continue
    return gpus


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- the file system ---------------------------------------------------------------------
#
# File names are bytes on POSIX. A name that is valid UTF-8 travels as "name"; any other
# also carries "raw" (base64 of the exact bytes), and requests may give a path as
# "path_raw" (a target as "to_raw") the same way, so every name round-trips.

LIST_PAGE_MAX = 5000


def _path_from(params: Dict[str, Any], key: str = "path") -> bytes:
    if key + "_raw" in params:
        path = base64.b64decode(str(params[key + "_raw"]), validate=True)
    elif key in params:
        path = os.fsencode(os.path.expanduser(str(params[key])))
    else:
        raise RemoteError("bad_request", "%s or %s_raw is required" % (key, key))
    if not path:
        raise RemoteError("bad_request", "%s cannot be empty" % key)
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


_KINDS = {
    stat.S_IFDIR: "directory",
    stat.S_IFREG: "file",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char_device",
    stat.S_IFBLK: "block_device",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "other")


def _describe(path: bytes, info: "os.stat_result", dir_fd: Optional[int] = None) -> Dict[str, Any]:
    """What a listing says about an entry (``path`` relative to ``dir_fd`` if given)."""
    mode = info.st_mode
    entry = {
        "kind": _KINDS.get(stat.S_IFMT(mode), "other"),
        "size": info.st_size,
        "mode": mode & 0o7777,
        "mtime": info.st_mtime,
        "uid": info.st_uid,
        "gid": info.st_gid,
    }  # type: Dict[str, Any]
    if stat.S_ISLNK(mode):
        try:
            entry["target"] = _name_fields(os.readlink(path, dir_fd=dir_fd))["name"]
            target = os.stat(path, dir_fd=dir_fd)
            entry["target_kind"] = _kind(target.st_mode)
        except OSError:
            entry["target_kind"] = "missing"
    return entry


class ListingCache:
    """The sorted names of recently listed directories, so that the pages of one listing
    cost one scan of the directory, not one each.

    A directory's names are reused only while its device, inode, mtime and ctime are as
    they were when it was scanned, for at most ``seconds``, and only if its mtime was
    already ``settled`` seconds old then: a change in the same clock tick as an earlier
    one leaves the mtime as it was, so a directory changed just before its scan is
    scanned again next time. At most ``names`` names are kept in all (oldest dropped).
    """

    def __init__(self, names: int = 200000, seconds: float = 30.0, settled: float = 2.0) -> None:
        self.limit = names
        self.seconds = seconds
        self.settled = settled
        self._held = 0
        self._entries = collections.OrderedDict()  # type: collections.OrderedDict[Any, Any]
        self._lock = threading.Lock()

    def names(self, path: bytes, show_hidden: bool, info: "os.stat_result") -> List[bytes]:
        key = (path, show_hidden)
        version = _directory_version(info)
        now = time.time()
        with self._lock:
            held = self._entries.get(key)
            if held is not None and held[0] == version and now - held[1] < self.seconds:
                self._entries.move_to_end(key)
                return held[2]  # type: ignore[no-any-return]
        with os.scandir(path) as scan:
            names = sorted(e.name for e in scan if show_hidden or not e.name.startswith(b"."))
        settled = now - info.st_mtime_ns / 1e9 >= self.settled
        # Not kept if the directory changed (or was replaced) during the scan.
        if settled and len(names) <= self.limit and _directory_version(os.stat(path)) == version:
            with self._lock:
                self._drop(key)
                self._entries[key] = (version, now, names)
                self._held += len(names)
                while self._held > self.limit:
                    self._drop(next(iter(self._entries)))
        return names

    def __len__(self) -> int:
        """How many names are kept."""
        return self._held

    def _drop(self, key: Any) -> None:
        held = self._entries.pop(key, None)
        if held is not None:
            self._held -= len(held[2])


def _directory_version(info: "os.stat_result") -> Tuple[int, int, int, int]:
    """What ListingCache compares: which directory, and its last change."""
    return info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns


LISTINGS = ListingCache()


def _list_directory(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    offset = max(0, int(params.get("offset", 0)))
    limit = min(LIST_PAGE_MAX, max(1, int(params.get("limit", 1000))))
    show_hidden = bool(params.get("hidden", True))
    # Entries are looked up relative to the directory: no path to build or resolve each.
    directory = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        names = LISTINGS.names(path, show_hidden, os.fstat(directory))
        entries = []
        lstat = os.lstat
        for name in names[offset : offset + limit]:
            try:
                entry = _describe(name, lstat(name, dir_fd=directory), directory)
            except FileNotFoundError:
                continue  # vanished between listing and stat
            try:
                entry["name"] = name.decode("utf-8")
            except UnicodeDecodeError:
                entry.update(_name_fields(name))
            entries.append(entry)
    finally:
        os.close(directory)
    return {
        "path": _name_fields(os.path.abspath(path))["name"],
        "total": len(names),
        "offset": offset,
        "entries": entries,
    }


async def rpc_fs_list(params: Dict[str, Any]) -> Dict[str, Any]:
    """One page of a directory, sorted by name, with full stat for each entry."""
    return await _in_thread(_list_directory, params)


def _entry(path: bytes) -> Dict[str, Any]:
    entry = _describe(path, os.lstat(path))
    entry.update(_name_fields(os.path.basename(path.rstrip(b"/")) or b"/"))
    return entry


def _stat(params: Dict[str, Any]) -> Dict[str, Any]:
    return _entry(_path_from(params))


async def rpc_fs_stat(params: Dict[str, Any]) -> Dict[str, Any]:
    return await _in_thread(_stat, params)


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
    return await _in_thread(_read, params)


# Read once while nothing else runs: os.umask can only be read by setting it, which
# would race with the worker threads that create files.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _temporary_name(path: bytes) -> bytes:
    directory, name = os.path.split(path)
    return os.path.join(
        directory, b".%s.labgate-%s" % (name, base64.b16encode(os.urandom(4)).lower())
    )


def _check_write(path: bytes, expected: Any, create_only: bool) -> int:
    """Refuse a write whose preconditions fail; the mode the written file gets."""
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
    return stat.S_IMODE(current.st_mode) if current is not None else 0o666 & ~_UMASK


# A large file being written (an upload, a copy from another resource) goes on to the
# disk and out of the page cache after every this many bytes (_let_go): the final sync
# finds little left to wait for, and the file's pages are reused.
WRITE_BACK_STEP = 32 * 1024 * 1024


class _Replacement:
    """A file written beside its target and renamed over it at the end: readers see the
    old or the new file, never half of one, and a failure leaves the old one as it was."""

    def __init__(self, path: bytes, mode: int) -> None:
        self.path = path
        self.mode = mode
        self.temporary = _temporary_name(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        self.fd: Optional[int] = os.open(self.temporary, flags, mode)
        self.written = 0
        self._let_go_at = 0  # how far the page cache was last told to let go

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.written += len(data)
        if self.written - self._let_go_at >= WRITE_BACK_STEP:
            _let_go(self.fd, self.written)
            self._let_go_at = self.written

    def commit(self, expected: Any, create_only: bool) -> Dict[str, Any]:
        assert self.fd is not None
        fd, self.fd = self.fd, None
        try:
            os.fsync(fd)
            if self.written >= WRITE_BACK_STEP:
                _let_go(fd, self.written)  # all of it is on the disk now
        finally:
            os.close(fd)
        os.chmod(self.temporary, self.mode)
        # Again: the file may have changed while the data was coming.
        _check_write(self.path, expected, create_only)
        if create_only:
            _rename_no_replace(self.temporary, self.path)
        else:
            os.replace(self.temporary, self.path)
        info = os.stat(self.path)
        return {"version": version_of(info), "size": info.st_size}

    def discard(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self.temporary)


def _write(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    data = base64.b64decode(str(params.get("data", "")), validate=True)
    expected = params.get("if_version")
    create_only = bool(params.get("create_only", False))
    replacement = _Replacement(path, _check_write(path, expected, create_only))
    try:
        replacement.write(data)
        return replacement.commit(expected, create_only)
    except BaseException:
        replacement.discard()
        raise


async def rpc_fs_write(params: Dict[str, Any]) -> Dict[str, Any]:
    """Replace a file atomically; ``if_version`` makes it fail with "conflict" when the
    file is not the one that was read, ``create_only`` with "exists" when it exists."""
    return await _in_thread(_write, params)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_renameat2: List[Any] = []


def _rename_no_replace(source: bytes, target: bytes) -> None:
    """Rename, failing with "exists" if the target exists: atomically where the kernel
    can (Linux renameat2), otherwise by looking first."""
    if not _renameat2:
        try:
            import ctypes

            function: Any = ctypes.CDLL(None, use_errno=True).renameat2
        except (ImportError, OSError, AttributeError):
            function = None
        _renameat2.append(function)
    function = _renameat2[0]
    if function is not None:
        if function(_AT_FDCWD, source, _AT_FDCWD, target, _RENAME_NOREPLACE) == 0:
            return
        import ctypes

        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: the file system cannot
            raise OSError(code, os.strerror(code), target)
    if os.path.lexists(target):
        raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), target)
    os.rename(source, target)


def _mkdir(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    if params.get("parents"):
        os.makedirs(path, exist_ok=True)
    else:
        os.mkdir(path)
    return _entry(path)


def _rename(params: Dict[str, Any]) -> Dict[str, Any]:
    """Never replaces anything unless asked to (``overwrite``)."""
    source, target = _path_from(params), _path_from(params, "to")
    if params.get("overwrite"):
        os.replace(source, target)
    else:
        _rename_no_replace(source, target)
    return _entry(target)


def _copy(params: Dict[str, Any]) -> Dict[str, Any]:
    """A file or a whole tree, symlinks as symlinks, modes and times kept. The copy is
    built under a temporary name beside the target and renamed into place, so the target
    name only ever shows a complete copy."""
    source, target = _path_from(params), _path_from(params, "to")
    overwrite = bool(params.get("overwrite"))
    info = os.lstat(source)
    if stat.S_ISDIR(info.st_mode) and _inside(target, source):
        raise RemoteError("bad_request", "A directory cannot be copied into itself.")
    if not overwrite and os.path.lexists(target):
        raise OSError(errno.EEXIST, "A file of that name exists already", target)
    temporary = _temporary_name(target)
    skipped: List[bytes] = []
    try:
        _copy_entry(source, temporary, info, skipped)
        if not overwrite:
            _rename_no_replace(temporary, target)
        else:
            _replace_with(temporary, target)
    except BaseException:
        _remove(temporary)
        raise
    entry = _entry(target)
    entry["skipped"] = [_name_fields(path)["name"] for path in skipped[:100]]
    return entry


def _inside(target: bytes, directory: bytes) -> bool:
    parent = os.path.realpath(os.path.dirname(os.path.abspath(target)))
    top = os.path.realpath(directory)
    return parent == top or parent.startswith(top.rstrip(b"/") + b"/")


def _copy_entry(source: bytes, target: bytes, info: "os.stat_result", skipped: List[bytes]) -> None:
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISDIR(info.st_mode):
        os.mkdir(target, 0o700)  # writable while it fills; its own mode comes last
        with os.scandir(source) as scan:
            children = sorted(entry.name for entry in scan)
        for name in children:
            child = os.path.join(source, name)
            _copy_entry(child, os.path.join(target, name), os.lstat(child), skipped)
        shutil.copystat(source, target, follow_symlinks=False)
    elif stat.S_ISREG(info.st_mode):
        shutil.copy2(source, target, follow_symlinks=False)
    else:
        skipped.append(source)  # fifos, sockets, devices: copying them means nothing


def _replace_with(temporary: bytes, target: bytes) -> None:
    try:
        existing: Optional[os.stat_result] = os.lstat(target)
    except FileNotFoundError:
        existing = None
    new_is_directory = stat.S_ISDIR(os.lstat(temporary).st_mode)
    if existing is None or not (new_is_directory or stat.S_ISDIR(existing.st_mode)):
        os.replace(temporary, target)  # files and symlinks: one atomic step
        return
    # A directory is involved: move the old one aside, put the new one in, then remove
    # the old, putting it back if the new one cannot go in.
    aside = _temporary_name(target)
    os.rename(target, aside)
    try:
        os.rename(temporary, target)
    except BaseException:
        os.rename(aside, target)
        raise
    _remove(aside)


def _remove(path: bytes) -> None:
    """Remove a file or a tree without following symlinks; quietly if it is not there."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _delete(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    # Resolved up to, not including, the last name: a symlink to home may go, home not.
    absolute = os.path.abspath(path)
    resolved = os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))
    if resolved in (b"/", os.path.realpath(os.fsencode(os.path.expanduser("~")))):
        raise RemoteError("refused", "The root and home directories are not deleted.")
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(path)  # a symlink goes, never what it points to
    elif params.get("recursive"):
        # shutil's rmtree never follows a symlink out of the tree (it opens every
        # directory relative to its parent, without following links).
        shutil.rmtree(path)
    else:
        try:
            os.rmdir(path)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise RemoteError(
                    "not_empty", "The directory is not empty (delete it recursively)."
                ) from None
            raise
    return {"deleted": True}


def _chmod(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    mode = params.get("mode")
    if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777:
        raise RemoteError("bad_request", "mode must be a number from 0 to 0o7777")
    os.chmod(path, mode)
    return _entry(path)


def _du(params: Dict[str, Any]) -> Dict[str, Any]:
    """The size of a tree: apparent bytes, bytes on disk, files and directories below
    (hard links once, symlinks not followed, unreadable directories counted)."""
    path = _path_from(params)
    top = os.lstat(path)
    totals = {"bytes": 0, "disk_bytes": 0, "files": 0, "directories": 0, "unreadable": 0}
    seen: Set[Tuple[int, int]] = set()

    def count(info: "os.stat_result") -> None:
        if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
            if (info.st_dev, info.st_ino) in seen:
                return
            seen.add((info.st_dev, info.st_ino))
        totals["bytes"] += info.st_size
        totals["disk_bytes"] += getattr(info, "st_blocks", 0) * 512
        if not stat.S_ISDIR(info.st_mode):
            totals["files"] += 1

    count(top)
    pending = [path] if stat.S_ISDIR(top.st_mode) else []
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as scan:
                for entry in scan:
                    info = entry.stat(follow_symlinks=False)
                    count(info)
                    if stat.S_ISDIR(info.st_mode):
                        totals["directories"] += 1
                        pending.append(entry.path)
        except OSError:
            totals["unreadable"] += 1
    return totals


SEARCH_MAX = 10000


def _search(params: Dict[str, Any]) -> Dict[str, Any]:
    """Names below ``path`` matching ``pattern`` without regard to case: a glob if it has
    any of ``*?[``, else a part of the name. Breadth first, symlinks not followed."""
    top = _path_from(params)
    pattern = str(params.get("pattern", "")).lower()
    if not pattern:
        raise RemoteError("bad_request", "pattern is required")
    limit = min(SEARCH_MAX, max(1, int(params.get("limit", 1000))))
    is_glob = any(c in pattern for c in "*?[")
    matches: List[Dict[str, Any]] = []
    pending: Deque[bytes] = collections.deque([top])
    truncated = False
    while pending and not truncated:
        directory = pending.popleft()
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:
            if directory is top:
                raise  # the place to search is missing or unreadable: say so
            continue  # one unreadable directory below does not spoil the search
        for entry in entries:
            name = entry.name.decode("utf-8", "replace").lower()
            if fnmatch.fnmatchcase(name, pattern) if is_glob else pattern in name:
                if len(matches) >= limit:
                    truncated = True
                    break
                try:
                    found = _describe(entry.path, entry.stat(follow_symlinks=False))
                except OSError:
                    continue
                fields = _name_fields(entry.path)
                found["path"] = fields["name"]
                if "raw" in fields:
                    found["path_raw"] = fields["raw"]
                found.update(_name_fields(entry.name))
                matches.append(found)
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
    return {"matches": matches, "truncated": truncated}


def _in_thread_rpc(function: Callable[[Dict[str, Any]], Dict[str, Any]]) -> "Handler":
    async def rpc(params: Dict[str, Any]) -> Dict[str, Any]:
        return await _in_thread(function, params)

    rpc.__doc__ = function.__doc__
    return rpc


# -- file streams -----------------------------------------------------------------------


def _open_for_streaming(path: bytes, offset: int) -> Tuple[BinaryIO, "os.stat_result"]:
    # Non-blocking only to open: a fifo would otherwise hang here. Only plain files are
    # streamed (a device could stream for ever).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise RemoteError("is_a_directory", "It is a directory.")
        if not stat.S_ISREG(info.st_mode):
            raise RemoteError("not_a_file", "Only regular files can be read as a stream.")
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    handle.seek(offset)
    return handle, info


async def rpc_fs_read_stream(
    agent: "Agent", params: Dict[str, Any], channel: Optional[Channel]
) -> Dict[str, Any]:
    """Stream a file's bytes from ``offset`` (``length`` of them, or to the end) as DATA
    on ``channel``, then CLOSE with ``{size, version, length}``."""
    assert channel is not None
    path = _path_from(params)
    offset = max(0, int(params.get("offset", 0)))
    length = params.get("length")
    limit = None if length is None else max(0, int(length))
    handle, info = await _in_thread(_open_for_streaming, path, offset)
    agent.spawn(_send_file(channel, handle, limit, info))
    return {"size": info.st_size, "version": version_of(info), "offset": offset}


# A file stream reads as much as the window allows, up to this much, in one thread call:
# a hop to a thread costs more than reading 64 KiB from the page cache.
FILE_READ_BYTES = 1024 * 1024


async def _send_file(
    channel: Channel, handle: BinaryIO, limit: Optional[int], info: "os.stat_result"
) -> None:
    loop = asyncio.get_event_loop()
    sent = 0
    pending: Optional[asyncio.Future[bytes]] = None
    try:
        while limit is None or sent < limit:
            left = FILE_READ_BYTES if limit is None else min(FILE_READ_BYTES, limit - sent)
            room = await channel.room(min(CHUNK, left))
            if not room:
                return  # the server closed the channel: it wants no more
            pending = loop.run_in_executor(None, handle.read, min(left, room))
            data = await asyncio.shield(pending)
            if not data:
                break
            view = memoryview(data)
            for start in range(0, len(data), CHUNK):
                if not await channel.send(view[start : start + CHUNK]):
                    return
            sent += len(data)
        channel.close({"size": info.st_size, "version": version_of(info), "length": sent})
    except OSError as exc:
        channel.close({"error": error_of(exc)})
    finally:
        await _settle(pending)
        handle.close()


async def rpc_fs_write_stream(
    agent: "Agent", params: Dict[str, Any], channel: Optional[Channel]
) -> Dict[str, Any]:
    """Write the DATA the server sends on ``channel`` to a file beside ``path`` and, at
    the server's CLOSE, rename it over ``path`` (``if_version`` and ``create_only`` as
    for fs.write). Answered after the CLOSE; a CLOSE with ``{"abort": true}`` or an
    ended connection leaves nothing behind."""
    assert channel is not None
    path = _path_from(params)
    expected = params.get("if_version")
    create_only = bool(params.get("create_only", False))
    mode = await _in_thread(_check_write, path, expected, create_only)
    loop = asyncio.get_event_loop()
    making = loop.run_in_executor(None, _Replacement, path, mode)
    try:
        replacement = await asyncio.shield(making)
    except BaseException:
        # Ended (the connection went) while the thread was creating the file beside
        # ``path``: it is there once the thread is done, and must go.
        await _settle(making)
        if not making.cancelled() and making.exception() is None:
            making.result().discard()
        raise
    pending: Optional[asyncio.Future[Any]] = None
    try:
        while True:
            data = await channel.read()
            if data is None:
                break
            pending = loop.run_in_executor(None, replacement.write, data)
            await asyncio.shield(pending)
        ending = channel.close_message
        if ending is None or ending.get("abort") or "error" in ending:
            raise RemoteError("aborted", "The upload was aborted; nothing was written.")
        pending = loop.run_in_executor(None, replacement.commit, expected, create_only)
        result: Dict[str, Any] = await asyncio.shield(pending)
        return result
    except BaseException:
        await _settle(pending)
        replacement.discard()
        raise


# -- transfers: resumable uploads, archives, trees ---------------------------------------
#
# A resumable upload lives in a hidden file beside its target, named after the upload's
# id (``.labgate-upload-<id>``): any server replica can find it again from the target and
# the id, its size is the truth about how much has arrived, and the final rename stays
# within one directory, so it is atomic. Archives are built here, while they are sent,
# so a folder is read once on the resource and only compressed bytes cross the network.

UPLOAD_PREFIX = b".labgate-upload-"
ARCHIVE_SKIPPED_NAME = "labgate-skipped.txt"
# Fast compression: archives of scientific data are mostly limited by the CPU otherwise.
ARCHIVE_LEVEL = 1
WALK_MAX = 40000  # entries of one fs.walk answer (it must fit in one frame)
_HASH_BLOCK = 1024 * 1024


def _upload_paths(params: Dict[str, Any]) -> Tuple[bytes, bytes]:
    """The upload's target (absolute) and its hidden file in the same directory."""
    target = os.path.abspath(_path_from(params))
    upload = str(params.get("upload", ""))
    if not upload or not upload.isalnum() or len(upload) > 64:
        raise RemoteError("bad_request", "upload must be the upload's id")
    return target, os.path.join(os.path.dirname(target), UPLOAD_PREFIX + upload.encode())


def _path_fields(path: bytes) -> Dict[str, Any]:
    fields = _name_fields(path)
    result = {"path": fields["name"]}  # type: Dict[str, Any]
    if "raw" in fields:
        result["path_raw"] = fields["raw"]
    return result


def _check_target(target: bytes, overwrite: bool, expected: Any) -> Optional["os.stat_result"]:
    """Refuse to put a file where a name must not be replaced; what is there now."""
    try:
        current = os.lstat(target)  # type: Optional[os.stat_result]
    except FileNotFoundError:
        current = None
    if current is not None and stat.S_ISDIR(current.st_mode):
        raise RemoteError("is_a_directory", "A directory of that name is in the way.")
    if expected is not None:
        if current is None or version_of(current) != expected:
            raise RemoteError(
                "conflict", "The file changed on disk since it was read (or was removed)."
            )
    elif current is not None and not overwrite:
        raise RemoteError("exists", "A file of that name exists already.")
    return current


def _upload_open(params: Dict[str, Any]) -> Dict[str, Any]:
    """Start a resumable upload: check the target, create the empty hidden file."""
    target, temporary = _upload_paths(params)
    if params.get("parents"):
        os.makedirs(os.path.dirname(target), exist_ok=True)
    _check_target(target, bool(params.get("overwrite")), params.get("if_version"))
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    result = _path_fields(target)
    result["offset"] = 0
    return result


def _open_upload(temporary: bytes, flags: int) -> int:
    """The hidden file, locked against a second writer."""
    try:
        fd = os.open(temporary, flags)
    except FileNotFoundError:
        raise RemoteError("not_found", "The upload's data is gone from the resource.") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RemoteError("busy", "Another part of this upload is being written now.") from None
    return fd


def _append_start(temporary: bytes, offset: int) -> int:
    fd = _open_upload(temporary, os.O_WRONLY)
    size = os.fstat(fd).st_size
    if size != offset:
        os.close(fd)
        raise RemoteError("wrong_offset", "The resource holds %d bytes of this upload." % size)
    os.lseek(fd, offset, os.SEEK_SET)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# The SHA-256 of each upload's hidden file as far as this process appended to it, so
# that completing a large upload need not read it all again: hidden file -> (its size,
# the hash so far). Only a clean append in order leaves one; anything else (a part taken
# back, an interrupted write, another process) leaves none and completing reads the file.
_UPLOAD_DIGESTS = {}  # type: Dict[bytes, Tuple[int, Any]]
_UPLOAD_DIGESTS_KEPT = 256


def _digest_to_go_on(temporary: bytes, offset: int) -> Any:
    """The running hash of an upload that holds ``offset`` bytes, or None."""
    held = _UPLOAD_DIGESTS.pop(temporary, None)
    if offset == 0:
        return hashlib.sha256()
    if held is not None and held[0] == offset:
        return held[1]
    return None


def _write_chunks(fd: int, chunks: List[bytes], digest: Any) -> None:
    """Hash and write ``chunks`` in one system call where the kernel takes them all."""
    if digest is not None:
        for chunk in chunks:
            digest.update(chunk)
    if len(chunks) == 1:
        _write_all(fd, chunks[0])
        return
    done = os.writev(fd, chunks)
    if done < sum(len(chunk) for chunk in chunks):
        _write_all(fd, b"".join(chunks)[done:])


# An upload is pushed on to the disk while more arrives (one fdatasync at a time, in a
# thread, after every WRITE_BACK_STEP bytes), so that completing, which syncs the file
# before renaming it into place, does not wait for the whole upload to reach the disk:
# on a disk that writes 400 MB/s that wait was 1.4 s for a GiB. What reached the disk
# then leaves the page cache (_sync_and_let_go).


def _sync_and_let_go(fd: int, end: int) -> None:
    """Push the first ``end`` bytes of an upload to the disk, then let the page cache
    forget them."""
    os.fdatasync(fd)
    _let_go(fd, end)


def _let_go(fd: int, end: int) -> None:
    """Let the page cache forget the first ``end`` bytes of a file being written: what
    is on the disk already is dropped, the rest starts on its way there (no waiting). A
    file of many GiB would otherwise push out what the user's programs keep cached, and
    its pages are reused for what is written next."""
    if hasattr(os, "posix_fadvise"):  # Linux; advice only, so a refusal changes nothing
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, end, os.POSIX_FADV_DONTNEED)


def _full_disk(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


async def rpc_fs_upload_append(
    agent: "Agent", params: Dict[str, Any], channel: Optional[Channel]
) -> Dict[str, Any]:
    """Append the DATA on ``channel`` to an upload's hidden file, which must hold exactly
    ``offset`` bytes ("wrong_offset" otherwise), at most ``limit`` bytes of it. Whatever
    arrived stays, also when the server aborts or the connection ends; a CLOSE with
    ``{"discard": true}`` takes this call's bytes back. A full disk or quota removes the
    hidden file (the upload cannot finish)."""
    assert channel is not None
    _target, temporary = _upload_paths(params)
    offset = max(0, int(params.get("offset", 0)))
    limit = max(0, int(params.get("limit", 0)))
    fd = await _in_thread(_append_start, temporary, offset)
    digest = _digest_to_go_on(temporary, offset)
    loop = asyncio.get_event_loop()
    written = 0
    pending = None  # type: Optional[asyncio.Future[Any]]
    syncing = None  # type: Optional[asyncio.Future[Any]]
    unsynced = 0
    try:
        while True:
            data = await channel.read()
            if data is None:
                break
            chunks = [data]
            size = len(data)
            while channel.buffered and size < WINDOW_BYTES // 2 and len(chunks) < 64:
                more = await channel.read()  # already here: write them in one go
                if more is None:
                    break
                chunks.append(more)
                size += len(more)
            if written + size > limit:
                raise RemoteError("payload_too_large", "More bytes than the upload's size.")
            pending = loop.run_in_executor(None, _write_chunks, fd, chunks, digest)
            await asyncio.shield(pending)
            written += size
            unsynced += size
            if syncing is not None and syncing.done():
                syncing.result()  # a sync that failed (a full disk can show only here)
                syncing = None
            if syncing is None and unsynced >= WRITE_BACK_STEP:
                syncing = loop.run_in_executor(None, _sync_and_let_go, fd, offset + written)
                unsynced = 0
        if (channel.close_message or {}).get("discard"):
            raise RemoteError("payload_too_large", "More bytes than the upload's size.")
        if syncing is not None:
            await asyncio.shield(syncing)
        if digest is not None:
            while len(_UPLOAD_DIGESTS) >= _UPLOAD_DIGESTS_KEPT:  # abandoned uploads' go first
                _UPLOAD_DIGESTS.pop(next(iter(_UPLOAD_DIGESTS)))
            _UPLOAD_DIGESTS[temporary] = (offset + written, digest)
    except BaseException as exc:
        await _settle(pending)
        await _settle(syncing)
        if syncing is not None and not syncing.cancelled():
            syncing.exception()  # seen: the error being raised says what went wrong
        if _full_disk(exc):
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        elif isinstance(exc, RemoteError):
            os.ftruncate(fd, offset)
        raise
    finally:
        await _settle(pending)
        await _settle(syncing)
        os.close(fd)
    return {"offset": offset + written}


def _sha256_of(fd: int) -> str:
    digest = hashlib.sha256()
    position = 0
    while True:
        block = os.pread(fd, _HASH_BLOCK, position)
        if not block:
            return digest.hexdigest()
        digest.update(block)
        position += len(block)


def _upload_complete(params: Dict[str, Any]) -> Dict[str, Any]:
    """Check the hidden file's size and SHA-256, then rename it onto the target under
    the same preconditions as at the start. A wrong checksum or a full disk removes the
    hidden file; a name in the way ("exists", "conflict") keeps it for another try."""
    target, temporary = _upload_paths(params)
    size = int(params.get("size", -1))
    expected_hash = params.get("sha256")
    overwrite = bool(params.get("overwrite"))
    expected = params.get("if_version")
    fd = _open_upload(temporary, os.O_RDWR)
    try:
        held = os.fstat(fd).st_size
        if held != size:
            raise RemoteError(
                "incomplete", "The resource holds %d of the %d bytes of this upload." % (held, size)
            )
        try:
            os.fsync(fd)
        except OSError as exc:
            if _full_disk(exc):
                os.unlink(temporary)
            raise
        running = _UPLOAD_DIGESTS.pop(temporary, None)
        if running is not None and running[0] == size:
            digest = running[1].hexdigest()  # hashed while it was written
        else:
            digest = _sha256_of(fd)
        if expected_hash is not None and digest != str(expected_hash).lower():
            os.unlink(temporary)
            raise RemoteError(
                "checksum_mismatch",
                "The uploaded data has SHA-256 %s, not %s; it was discarded."
                % (digest, expected_hash),
            )
        current = _check_target(target, overwrite, expected)
        mode = 0o666 & ~_UMASK
        if current is not None and stat.S_ISREG(current.st_mode):
            mode = stat.S_IMODE(current.st_mode)  # a replaced file keeps its permissions
        os.fchmod(fd, mode)
        if overwrite or expected is not None:
            os.replace(temporary, target)
        else:
            _rename_no_replace(temporary, target)
    finally:
        os.close(fd)
    result = _path_fields(target)
    info = os.stat(target)
    result.update({"size": info.st_size, "sha256": digest, "version": version_of(info)})
    return result


def _walk(params: Dict[str, Any]) -> Dict[str, Any]:
    """A tree, without following symlinks: each entry's ``rel_raw`` (base64 of its path
    below the top, "" for the top itself), kind, size, mode, mtime and link target."""
    top = _path_from(params)
    entries = []  # type: List[Dict[str, Any]]
    pending = [b""]
    while pending:
        relative = pending.pop()
        full = os.path.join(top, relative) if relative else top
        info = os.lstat(full)
        entry = {
            "rel_raw": base64.b64encode(relative).decode(),
            "kind": _kind(info.st_mode),
            "size": info.st_size if stat.S_ISREG(info.st_mode) else 0,
            "mode": stat.S_IMODE(info.st_mode),
            "mtime": info.st_mtime,
        }  # type: Dict[str, Any]
        if stat.S_ISLNK(info.st_mode):
            entry["target_raw"] = base64.b64encode(os.readlink(full)).decode()
        entries.append(entry)
        if len(entries) > WALK_MAX:
            raise RemoteError("too_many_files", "More than %d files in one item." % WALK_MAX)
        if stat.S_ISDIR(info.st_mode):
            with os.scandir(full) as scan:
                names = sorted((e.name for e in scan), reverse=True)
            pending.extend(os.path.join(relative, name) if relative else name for name in names)
    return {"entries": entries}


def _symlink(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    os.symlink(_path_from(params, "target"), path)
    return _entry(path)


def _utime(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    mtime = float(params.get("mtime", 0))
    os.utime(path, (mtime, mtime), follow_symlinks=False)
    return _entry(path)


class _Stopped(Exception):
    """The reader of an archive went away."""


class _ChannelWriter:
    """A write-only file for a worker thread: what is written goes out on a channel in
    CHUNK-sized DATA frames, the thread waiting while the window is used up."""

    def __init__(self, channel: Channel, loop: asyncio.AbstractEventLoop) -> None:
        self.channel = channel
        self.loop = loop
        self.buffer = bytearray()
        self.position = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.position += len(data)
        if len(self.buffer) >= GRANT_STEP:  # one hop to the loop per quarter window
            self._send(bytes(self.buffer))
            self.buffer.clear()
        return len(data)

    def tell(self) -> int:  # zipfile asks; without seek() it writes a streamable archive
        return self.position

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        if self.buffer:
            self._send(bytes(self.buffer))
            self.buffer.clear()

    def _send(self, data: bytes) -> None:
        sending = asyncio.run_coroutine_threadsafe(_send_chunks(self.channel, data), self.loop)
        if not sending.result():
            raise _Stopped()


async def _send_chunks(channel: Channel, data: bytes) -> bool:
    for start in range(0, len(data), CHUNK):
        if not await channel.send(data[start : start + CHUNK]):
            return False
    return True


class _Gzipped:
    """gzip around a writer, at ARCHIVE_LEVEL (tarfile's own stream mode uses level 9)."""

    def __init__(self, out: _ChannelWriter) -> None:
        self.out = out
        self.compressor = zlib.compressobj(ARCHIVE_LEVEL, zlib.DEFLATED, 31)

    def write(self, data: bytes) -> int:
        self.out.write(self.compressor.compress(data))
        return len(data)

    def close(self) -> None:
        self.out.write(self.compressor.flush())


class _Exactly:
    """``size`` bytes of a file for tarfile, however the file changes while it is read:
    cut where it grew, padded with zeros where it shrank or could not be read."""

    def __init__(self, handle: BinaryIO, size: int, path: bytes, skipped: List[str]) -> None:
        self.handle = handle
        self.left = size
        self.path = path
        self.skipped = skipped
        self.failed = False

    def read(self, count: int = -1) -> bytes:
        count = self.left if count < 0 else min(count, self.left)
        data = b""
        if not self.failed:
            try:
                data = self.handle.read(count)
            except OSError as exc:
                self.failed = True
                self.skipped.append("%s: %s (its end is zeros)" % (_shown(self.path), exc.strerror))
        if len(data) < count and not self.failed:
            self.failed = True
            self.skipped.append("%s: it shrank while read (its end is zeros)" % _shown(self.path))
        data += b"\0" * (count - len(data))
        self.left -= len(data)
        return data


def _shown(path: bytes) -> str:
    return path.decode("utf-8", "replace")


def _archive_members(
    base: bytes, names: List[bytes], skipped: List[str]
) -> Iterator[Tuple[bytes, bytes, "os.stat_result"]]:
    """(full path, name in the archive, lstat) of every member, parents first, without
    following symlinks; unreadable directories are listed in ``skipped``."""
    pending = list(reversed(names))
    while pending:
        relative = pending.pop()
        full = os.path.join(base, relative)
        try:
            info = os.lstat(full)
        except OSError as exc:
            skipped.append("%s: %s" % (_shown(relative), exc.strerror))
            continue
        yield full, relative, info
        if stat.S_ISDIR(info.st_mode):
            try:
                with os.scandir(full) as scan:
                    children = sorted((e.name for e in scan), reverse=True)
            except OSError as exc:
                reason = "%s (its contents are missing)" % exc.strerror
                skipped.append("%s/: %s" % (_shown(relative), reason))
                continue
            pending.extend(os.path.join(relative, child) for child in children)


def _special(info: "os.stat_result") -> bool:
    mode = info.st_mode
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))


def _write_tar(out: _ChannelWriter, base: bytes, names: List[bytes]) -> None:
    import tarfile

    gzipped = _Gzipped(out)
    stream = gzipped  # type: Any
    skipped = []  # type: List[str]
    archive = tarfile.open(  # noqa: SIM115 -- closed at the end; on failure nothing is kept
        fileobj=stream,
        mode="w|",
        format=tarfile.PAX_FORMAT,
        encoding="utf-8",
        errors="surrogateescape",
    )
    setattr(archive, "copybufsize", _HASH_BLOCK)  # noqa: B010 -- big reads (3.8 ignores it)
    for full, relative, info in _archive_members(base, names, skipped):
        arcname = os.fsdecode(relative)
        if _special(info):
            skipped.append("%s: a %s, not archived" % (_shown(relative), _kind(info.st_mode)))
            continue
        if not stat.S_ISREG(info.st_mode):
            archive.addfile(archive.gettarinfo(os.fsdecode(full), arcname))
            continue
        try:
            handle = open(full, "rb")  # noqa: SIM115 -- opening alone may fail: then skipped
        except OSError as exc:
            skipped.append("%s: %s" % (_shown(relative), exc.strerror))
            continue
        with handle:
            member = archive.gettarinfo(arcname=arcname, fileobj=handle)
            member.uname = member.gname = ""  # a name lookup per file costs more than it tells
            exactly = _Exactly(handle, member.size, relative, skipped)  # type: Any
            archive.addfile(member, exactly)
    if skipped:
        _add_skipped_tar(archive, skipped)
    archive.close()
    gzipped.close()


def _skipped_text(skipped: List[str]) -> bytes:
    lines = ["Left out of this archive (path: reason):", *skipped]
    return ("\n".join(lines) + "\n").encode("utf-8", "replace")


def _add_skipped_tar(archive: Any, skipped: List[str]) -> None:
    import io
    import tarfile

    text = _skipped_text(skipped)
    member = tarfile.TarInfo(ARCHIVE_SKIPPED_NAME)
    member.size = len(text)
    member.mtime = int(time.time())
    member.mode = 0o644
    archive.addfile(member, io.BytesIO(text))


# Deflate costs more CPU than the network saves for data that is compressed already
# (most large scientific files: HDF5 with filters, images, archives): such zip members
# are stored. What the start of a file does tells.
_PROBE_BYTES = 128 * 1024
_ZIP_FIRST, _ZIP_LAST = 315619200, 4354000000  # what zip holds (1980-2107), in any zone


def _compresses(start: bytes) -> bool:
    if len(start) < 4096:
        return True  # too little to tell, and cheap either way
    packed = zlib.compressobj(ARCHIVE_LEVEL, zlib.DEFLATED, -15)
    return len(packed.compress(start) + packed.flush()) < len(start) * 0.9


def _write_zip(out: _ChannelWriter, base: bytes, names: List[bytes]) -> None:
    import zipfile

    skipped = []  # type: List[str]
    stream = out  # type: Any
    archive = zipfile.ZipFile(
        stream,
        "w",
        compression=zipfile.ZIP_DEFLATED,
        compresslevel=ARCHIVE_LEVEL,
        allowZip64=True,
        strict_timestamps=False,
    )
    for full, relative, info in _archive_members(base, names, skipped):
        arcname = relative.decode("utf-8", "replace")
        if _special(info):
            skipped.append("%s: a %s, not archived" % (_shown(relative), _kind(info.st_mode)))
            continue
        member = zipfile.ZipInfo(
            arcname + ("/" if stat.S_ISDIR(info.st_mode) else ""),
            time.localtime(min(max(info.st_mtime, _ZIP_FIRST), _ZIP_LAST))[:6],
        )
        member.create_system = 3  # Unix: the mode and the kind are in external_attr
        member.external_attr = (info.st_mode & 0xFFFF) << 16
        if stat.S_ISDIR(info.st_mode):
            member.external_attr |= 0x10
            archive.writestr(member, b"")
        elif stat.S_ISLNK(info.st_mode):
            member.compress_type = zipfile.ZIP_STORED
            archive.writestr(member, os.readlink(full))  # Info-ZIP: the target is the data
        else:
            try:
                handle = open(full, "rb")  # noqa: SIM115 -- opening alone may fail: skipped
            except OSError as exc:
                skipped.append("%s: %s" % (_shown(relative), exc.strerror))
                continue
            with handle:
                source = _Exactly(handle, info.st_size, relative, skipped)
                start = source.read(_PROBE_BYTES)
                if _compresses(start):
                    member.compress_type = zipfile.ZIP_DEFLATED
                    setattr(member, "_compresslevel", ARCHIVE_LEVEL)  # noqa: B010
                big = info.st_size > 0x7FFFFFFF
                with archive.open(member, "w", force_zip64=big) as written:
                    written.write(start)
                    while source.left:
                        written.write(source.read(_HASH_BLOCK))
    if skipped:
        archive.writestr(ARCHIVE_SKIPPED_NAME, _skipped_text(skipped))
    archive.close()


def _archive_start(params: Dict[str, Any]) -> Tuple[bytes, List[bytes]]:
    paths = params.get("paths")
    if not isinstance(paths, list) or not paths:
        raise RemoteError("bad_request", "paths must be a list of paths")
    full = [os.path.abspath(_path_from(p)) if isinstance(p, dict) else b"" for p in paths]
    if not all(full):
        raise RemoteError("bad_request", "each path must be {path} or {path_raw}")
    bases = set(os.path.dirname(p) for p in full)
    if len(bases) != 1:
        raise RemoteError("bad_request", "All paths of one archive must be in one directory.")
    names = [os.path.basename(p) for p in full]
    if not all(names) or len(set(names)) != len(names):
        raise RemoteError("bad_request", "Each path must name a different entry.")
    for path in full:
        os.lstat(path)  # missing: "not_found" before the first byte
    return bases.pop(), names


async def rpc_fs_archive(
    agent: "Agent", params: Dict[str, Any], channel: Optional[Channel]
) -> Dict[str, Any]:
    """Stream a zip or tar.gz of ``paths`` (all in one directory; members named relative
    to it) on ``channel`` while it is built, then CLOSE with ``{length}``. What cannot be
    read is skipped and listed in a last member, ARCHIVE_SKIPPED_NAME."""
    assert channel is not None
    kind = params.get("format")
    if kind not in ("zip", "tar.gz"):
        raise RemoteError("bad_request", "format must be zip or tar.gz")
    base, names = await _in_thread(_archive_start, params)
    agent.spawn(_send_archive(channel, kind == "zip", base, names))
    return {"format": kind}


async def _send_archive(channel: Channel, as_zip: bool, base: bytes, names: List[bytes]) -> None:
    loop = asyncio.get_event_loop()
    out = _ChannelWriter(channel, loop)

    def build() -> None:
        (_write_zip if as_zip else _write_tar)(out, base, names)
        out.finish()

    pending = loop.run_in_executor(None, build)
    try:
        await asyncio.shield(pending)
        channel.close({"length": out.position})
    except _Stopped:
        pass  # the server closed the channel: it wants no more
    except Exception as exc:
        channel.close({"error": error_of(exc)})
    finally:
        if not pending.done():
            channel.abandon(CONNECTION_LOST)  # the thread's next send fails, and it ends
        await _settle(pending)


# -- processes and terminals ------------------------------------------------------------
#
# Processes belong to the daemon, not to the connection that started them: they run on
# when it ends, and their output is kept in a ring whether or not anyone is attached,
# so the process never waits for a reader. Each process runs in its own session, so a
# signal reaches its whole process group, and a terminal gets the pty as its controlling
# terminal (job control, vim and htop work).

RING_BYTES = 1024 * 1024
RECORD_OVERHEAD = 64  # counted per record, so many tiny writes cannot cost unbounded memory
OUTPUT_GRACE_SECONDS = 2.0  # after an exit, how long to wait for children holding the output
FINISHED_KEPT = 64  # finished processes remembered (with their output) before the oldest go


class OutputRing:
    """The newest ``capacity`` bytes of a process's output, by global byte offset.

    Offsets count every byte the process ever wrote (stdout and stderr share one
    sequence); ``start`` is the oldest still held, ``end`` the next to come. Records are
    runs of one stream, at most CHUNK long, found by bisecting their start offsets.
    """

    def __init__(self, capacity: int = RING_BYTES) -> None:
        self.capacity = capacity
        self.end = 0
        self._starts: List[int] = []
        self._streams: List[int] = []
        self._records: List[bytearray] = []
        self._first = 0  # records before this one were dropped
        self._cost = 0

    @property
    def start(self) -> int:
        return self._starts[self._first] if self._first < len(self._starts) else self.end

    def append(self, stream: int, data: bytes) -> None:
        view = memoryview(data)
        if self._first < len(self._records) and self._streams[-1] == stream:
            last = self._records[-1]
            room = CHUNK - len(last)
            if room > 0:
                last.extend(view[:room])
                self._grow(min(room, len(view)), 0)
                view = view[room:]
        while view:
            piece = view[:CHUNK]
            self._starts.append(self.end)
            self._streams.append(stream)
            self._records.append(bytearray(piece))
            self._grow(len(piece), RECORD_OVERHEAD)
            view = view[CHUNK:]
        self._trim()

    def _grow(self, size: int, overhead: int) -> None:
        self.end += size
        self._cost += size + overhead

    def _trim(self) -> None:
        while self._cost > self.capacity:
            excess = self._cost - self.capacity
            record = self._records[self._first]
            if excess >= len(record):
                self._cost -= len(record) + RECORD_OVERHEAD
                self._records[self._first] = bytearray()
                self._first += 1
            else:
                del record[:excess]
                self._starts[self._first] += excess
                self._cost -= excess
        if self._first > 1024 and self._first * 2 > len(self._records):
            del self._starts[: self._first]
            del self._streams[: self._first]
            del self._records[: self._first]
            self._first = 0

    def read(self, offset: int, limit: int) -> Optional[Tuple[int, int, bytes]]:
        """(stream, offset, bytes) from ``offset`` on (or from ``start`` if that part was
        dropped), at most ``limit`` bytes of one stream; None when nothing is there yet."""
        offset = max(offset, self.start)
        if offset >= self.end:
            return None
        index = bisect.bisect_right(self._starts, offset, self._first) - 1
        begin = offset - self._starts[index]
        return self._streams[index], offset, bytes(self._records[index][begin : begin + limit])


class Process:
    """A command or terminal the daemon runs, and the output it recorded."""

    def __init__(self, process_id: str, name: str, command: str, pty: bool) -> None:
        self.id = process_id
        self.name = name
        self.command = command
        self.pty = pty
        # Who started it, as the server tags it (labgate users sharing one remote
        # account each see only their own processes).
        self.owner = ""
        self.cols = 0
        self.rows = 0
        self.pid = 0
        self.started_at = time.time()
        self.ended_at: Optional[float] = None
        self.returncode: Optional[int] = None
        self.finished = False  # exited, and all its output recorded
        self.output = OutputRing()
        self._child: Optional[asyncio.subprocess.Process] = None
        self._readers: Dict[int, int] = {}
        self._fds: Set[int] = set()
        self._input_fd: Optional[int] = None
        self._input_waiter: Optional[asyncio.Future[None]] = None
        self._input_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._outputs_ended = asyncio.Event()
        self._watcher: Optional[asyncio.Future[None]] = None

    # -- starting

    async def spawn(self, argv: List[str], cwd: str, env: Dict[str, str]) -> None:
        if self.pty:
            master, slave = os.openpty()
            parent_ends, child_ends = [master], [slave]
            stdio: Dict[str, Any] = {
                "stdin": slave,
                "stdout": slave,
                "stderr": slave,
                "preexec_fn": _take_controlling_terminal,
            }
            outputs = {master: PTY}
        else:
            stdin_read, stdin_write = os.pipe()
            stdout_read, stdout_write = os.pipe()
            stderr_read, stderr_write = os.pipe()
            parent_ends = [stdin_write, stdout_read, stderr_read]
            child_ends = [stdin_read, stdout_write, stderr_write]
            stdio = {"stdin": stdin_read, "stdout": stdout_write, "stderr": stderr_write}
            outputs = {stdout_read: STDOUT, stderr_read: STDERR}
        try:
            if self.pty:
                _configure_terminal(child_ends[0], self.cols, self.rows)
            self._child = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=env, start_new_session=True, **stdio
            )
        except BaseException:
            for fd in parent_ends:
                os.close(fd)
            raise
        finally:
            for fd in child_ends:
                os.close(fd)
        self.pid = self._child.pid
        loop = asyncio.get_event_loop()
        for fd in parent_ends:
            os.set_blocking(fd, False)
            self._fds.add(fd)
        self._input_fd = parent_ends[0]
        for fd, stream in outputs.items():
            self._readers[fd] = stream
            loop.add_reader(fd, self._readable, fd)
        self._watcher = asyncio.ensure_future(self._watch())

    # -- output

    def changed(self) -> asyncio.Event:
        """Set at the next change: new output, the exit, the end."""
        return self._changed

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _readable(self, fd: int) -> bool:
        """Record what ``fd`` has; False when nothing was there."""
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return False
        except OSError:  # EIO: the terminal's last user closed it
            data = b""
        if data:
            self.output.append(self._readers[fd], data)
            self._notify()
            return True
        self._stop_reading(fd)
        return False

    def _stop_reading(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            asyncio.get_event_loop().remove_reader(fd)
        if not self._readers:
            self._outputs_ended.set()

    async def _watch(self) -> None:
        assert self._child is not None
        self.returncode = await self._child.wait()
        self.ended_at = time.time()
        self._notify()
        try:
            await asyncio.wait_for(self._outputs_ended.wait(), OUTPUT_GRACE_SECONDS)
        except asyncio.TimeoutError:
            # Something it started still holds the output: take what is there, then stop.
            for fd in list(self._readers):
                for _ in range(RING_BYTES // CHUNK):
                    if not self._readable(fd):
                        break
        self._release()
        self.finished = True
        STATE.last_active = time.monotonic()
        PROCESSES.prune()
        self._notify()

    def _release(self) -> None:
        loop = asyncio.get_event_loop()
        for fd in list(self._readers):
            loop.remove_reader(fd)
        self._readers.clear()
        self._outputs_ended.set()
        if self._input_fd is not None:
            loop.remove_writer(self._input_fd)
            self._input_fd = None
        if self._input_waiter is not None and not self._input_waiter.done():
            self._input_waiter.set_result(None)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()

    def exit_message(self) -> Dict[str, Any]:
        code = self.returncode
        if code is not None and code < 0:
            try:
                name: Optional[str] = signal.Signals(-code).name[3:]
            except ValueError:
                name = str(-code)
            return {"exit_status": None, "signal": name}
        return {"exit_status": code, "signal": None}

    # -- input and control

    async def write_input(self, data: bytes) -> None:
        """Write to the process's stdin (or terminal); dropped once it cannot take any."""
        async with self._input_lock:
            view = memoryview(data)
            while view:
                fd = self._input_fd
                if fd is None:
                    return
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    await self._writable(fd)
                except OSError:  # EPIPE, EIO: it stopped reading for good
                    return

    async def _writable(self, fd: int) -> None:
        loop = asyncio.get_event_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._input_waiter = waiter
        loop.add_writer(fd, _resolve, waiter)
        try:
            await waiter
        finally:
            self._input_waiter = None
            if self._input_fd == fd:
                loop.remove_writer(fd)

    async def close_input(self) -> None:
        """End of input for a process on pipes (after what was written before)."""
        async with self._input_lock:
            fd = self._input_fd
            if fd is None or self.pty:
                return
            self._input_fd = None
            self._fds.discard(fd)
            os.close(fd)

    def resize(self, cols: int, rows: int) -> None:
        if not self.pty:
            raise RemoteError("not_a_terminal", "The process has no terminal to resize.")
        if self._input_fd is None:
            raise RemoteError("not_running", "The process has ended.")
        # The kernel tells the terminal's foreground process group (SIGWINCH).
        _set_size(self._input_fd, cols, rows)
        self.cols, self.rows = cols, rows

    def send_signal(self, number: int) -> None:
        if self.returncode is not None:
            raise RemoteError("not_running", "The process has ended.")
        os.killpg(self.pid, number)

    def describe(self) -> Dict[str, Any]:
        description: Dict[str, Any] = {
            "id": self.id,
            "pid": self.pid,
            "name": self.name,
            "command": self.command,
            "pty": self.pty,
            "owner": self.owner,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "running": self.returncode is None,
            "finished": self.finished,
            "output_start": self.output.start,
            "output_end": self.output.end,
        }
        description.update(self.exit_message())
        if self.pty:
            description.update(cols=self.cols, rows=self.rows)
        return description


def _resolve(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)


def _take_controlling_terminal() -> None:
    # Runs in the child between fork and exec, after setsid: the pty on its stdin
    # becomes the new session's controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


# termios has no IUTF8 before Python 3.13; it makes backspace remove whole UTF-8 characters.
_IUTF8 = getattr(termios, "IUTF8", 0o40000 if sys.platform.startswith("linux") else 0)


def _configure_terminal(fd: int, cols: int, rows: int) -> None:
    _set_size(fd, cols, rows)
    attributes = termios.tcgetattr(fd)
    attributes[0] |= _IUTF8
    termios.tcsetattr(fd, termios.TCSANOW, attributes)


class ProcessTable:
    """Every process the daemon started, by id, until it is forgotten."""

    def __init__(self) -> None:
        self.processes: Dict[str, Process] = {}
        # Processes being spawned, by owner: counted against a cap before they are here.
        self.starting: Dict[str, int] = {}

    def new_id(self) -> str:
        while True:
            candidate = base64.b32encode(os.urandom(5)).decode().lower()
            if candidate not in self.processes:
                return candidate

    def get(self, params: Dict[str, Any]) -> Process:
        process = self.processes.get(str(params.get("id")))
        if process is None:
            raise RemoteError(
                "not_found",
                "There is no process %r (forgotten, or the daemon was restarted)."
                % params.get("id"),
            )
        return process

    def running(self) -> int:
        return sum(1 for p in self.processes.values() if not p.finished)

    def running_of(self, owner: str) -> int:
        """Processes of ``owner`` running or being started."""
        running = sum(1 for p in self.processes.values() if p.owner == owner and not p.finished)
        return running + self.starting.get(owner, 0)

    def prune(self) -> None:
        finished = sorted(
            (p for p in self.processes.values() if p.finished), key=lambda p: p.started_at
        )
        for process in finished[: max(0, len(finished) - FINISHED_KEPT)]:
            del self.processes[process.id]


PROCESSES = ProcessTable()


def _strings(value: Any, what: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RemoteError("bad_request", "%s must be a list of strings" % what)
    return list(value)


def _shell(lines: List[str]) -> List[str]:
    """Run lines as a login shell would: bash -l when there is bash, else sh."""
    script = "\n".join(lines)
    if os.path.exists("/bin/bash"):
        return ["/bin/bash", "-lc", script]
    return ["/bin/sh", "-c", script]


def _login_shell() -> str:
    try:
        shell = pwd.getpwuid(os.getuid()).pw_shell
    except KeyError:
        shell = ""
    if (
        not shell
        or os.path.basename(shell) in ("nologin", "false")
        or not os.access(shell, os.X_OK)
    ):
        shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
    return shell


# A login shell reads its profile files after whatever ran before it, and they may undo
# the set-up lines (Debian's /etc/profile, for one, resets PATH, so an activated venv
# would be lost). For bash, the terminal is therefore an interactive shell that reads
# what a login shell reads and then the set-up lines, from this file.
BASH_LOGIN_RC = """\
# Written by the labgate agent: what a login shell reads, then the set-up lines.
if [ -r /etc/profile ]; then . /etc/profile; fi
for _labgate_rc in ~/.bash_profile ~/.bash_login ~/.profile; do
    if [ -r "$_labgate_rc" ]; then . "$_labgate_rc"; break; fi
done
unset _labgate_rc
eval "${LABGATE_SETUP-}"
unset LABGATE_SETUP
"""


def _bash_login_rc() -> str:
    path = os.path.join(private_dir(), "bash-login-v%d.rc" % AGENT_VERSION)
    try:
        with open(path) as handle:
            if handle.read() == BASH_LOGIN_RC:
                return path
    except OSError:
        pass
    temporary = "%s.%d" % (path, os.getpid())
    with open(temporary, "w") as handle:
        handle.write(BASH_LOGIN_RC)
    os.replace(temporary, path)
    return path


def _process_command(params: Dict[str, Any]) -> Tuple[List[str], str, Dict[str, str]]:
    """The argv to run, the command as shown, and environment the shell needs."""
    setup = _strings(params.get("setup_lines", []), "setup_lines")
    if "argv" in params:
        argv = _strings(params["argv"], "argv")
        if not argv:
            raise RemoteError("bad_request", "argv cannot be empty")
        shown = " ".join(shlex.quote(word) for word in argv)
        return _shell([*setup, "exec " + shown]), shown, {}
    command = params.get("command")
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise RemoteError("bad_request", "command must be a non-empty string")
        # As written, so pipes, && and functions from the set-up lines work.
        return _shell([*setup, command]), command, {}
    if not params.get("pty"):
        raise RemoteError("bad_request", "command or argv is required (or pty for a terminal)")
    shell = _login_shell()
    if os.path.basename(shell) == "bash":
        return (
            [shell, "--rcfile", _bash_login_rc(), "-i"],
            shell,
            {"LABGATE_SETUP": "\n".join(setup)},
        )
    return _shell([*setup, "exec %s -l" % shlex.quote(shell)]), shell, {}


def _process_environment(params: Dict[str, Any], pty: bool) -> Dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LANG", "C.UTF-8")
    if pty:
        env["TERM"] = "xterm-256color"
        env["COLORTERM"] = "truecolor"
    extra = params.get("env") or {}
    if not isinstance(extra, dict):
        raise RemoteError("bad_request", "env must be an object of strings")
    for key, value in extra.items():
        if not isinstance(value, str) or not key or "=" in key:
            raise RemoteError("bad_request", "env must map names to strings")
        env[key] = value
    return env


def _terminal_size(params: Dict[str, Any]) -> Tuple[int, int]:
    cols, rows = int(params.get("cols", 80)), int(params.get("rows", 24))
    if not (1 <= cols <= 10000 and 1 <= rows <= 10000):
        raise RemoteError("bad_request", "cols and rows must be from 1 to 10000")
    return cols, rows


async def rpc_proc_start(params: Dict[str, Any]) -> Dict[str, Any]:
    """Start a command (``command`` for the shell, or ``argv``) or, with ``pty`` and no
    command, the user's shell, after the ``setup_lines``; its output is recorded. With
    ``max_running``, refused (``too_many_processes``) when the ``owner`` has that many
    running already."""
    owner = str(params.get("owner") or "")[:200]
    limit = params.get("max_running")
    if limit is not None and PROCESSES.running_of(owner) >= int(limit):
        raise RemoteError(
            "too_many_processes",
            "You have %d processes and terminals running here, the most labgate allows on "
            "one resource. End one, then try again." % PROCESSES.running_of(owner),
        )
    PROCESSES.starting[owner] = PROCESSES.starting.get(owner, 0) + 1
    try:
        return await _start_process(params, owner)
    finally:
        PROCESSES.starting[owner] -= 1
        if not PROCESSES.starting[owner]:
            del PROCESSES.starting[owner]


async def _start_process(params: Dict[str, Any], owner: str) -> Dict[str, Any]:
    pty = bool(params.get("pty", False))
    argv, shown, shell_env = _process_command(params)
    env = _process_environment(params, pty)
    env.update(shell_env)
    cwd = os.path.expanduser(str(params.get("cwd") or "~"))
    name = str(params.get("name") or os.path.basename(shown.split(" ", 1)[0]))
    process = Process(PROCESSES.new_id(), name[:200], shown, pty)
    process.owner = owner
    if pty:
        process.cols, process.rows = _terminal_size(params)
    await process.spawn(argv, cwd, env)
    PROCESSES.processes[process.id] = process
    return process.describe()


async def rpc_proc_list(params: Dict[str, Any]) -> Dict[str, Any]:
    processes = sorted(PROCESSES.processes.values(), key=lambda p: p.started_at)
    return {"processes": [p.describe() for p in processes]}


async def rpc_proc_resize(params: Dict[str, Any]) -> Dict[str, Any]:
    process = PROCESSES.get(params)
    process.resize(*_terminal_size(params))
    return {"cols": process.cols, "rows": process.rows}


def _signal_number(value: Any) -> int:
    name = str(value).upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name not in signal.Signals.__members__:
        raise RemoteError("bad_request", "There is no signal %r." % value)
    return int(signal.Signals[name])


async def rpc_proc_signal(params: Dict[str, Any]) -> Dict[str, Any]:
    """Send a signal (``TERM``, ``INT``, ``KILL``, ``HUP``...) to the process group."""
    PROCESSES.get(params).send_signal(_signal_number(params.get("signal", "TERM")))
    return {"sent": True}


async def rpc_proc_forget(params: Dict[str, Any]) -> Dict[str, Any]:
    process = PROCESSES.get(params)
    if not process.finished:
        raise RemoteError("running", "The process is still running; signal it first.")
    del PROCESSES.processes[process.id]
    return {"forgotten": True}


async def rpc_proc_attach(
    agent: "Agent", params: Dict[str, Any], channel: Optional[Channel]
) -> Dict[str, Any]:
    """Replay the output from ``offset`` and stream what follows on ``channel``; the
    server's DATA there is the process's input (an empty one ends a pipe's input).
    ``offset`` in the answer is where the replay starts: later than asked if the ring
    had dropped that part (``dropped`` bytes)."""
    assert channel is not None
    process = PROCESSES.get(params)
    requested = max(0, int(params.get("offset", 0)))
    start = min(max(requested, process.output.start), process.output.end)
    agent.attach(channel, process, start)
    return {
        "id": process.id,
        "offset": start,
        "dropped": max(0, start - requested),
        "end": process.output.end,
        "running": process.returncode is None,
    }


async def rpc_proc_detach(
    agent: "Agent", params: Dict[str, Any], channel: Optional[Channel]
) -> Dict[str, Any]:
    return {"detached": agent.detach(int(params.get("channel", 0)), {"detached": True})}


# -- ports and sockets for apps -----------------------------------------------------------


async def rpc_net_free_port(params: Dict[str, Any]) -> Dict[str, Any]:
    """A TCP port free on 127.0.0.1 at this moment (the app that takes it may race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return {"port": probe.getsockname()[1]}


async def rpc_net_listening(params: Dict[str, Any]) -> Dict[str, Any]:
    """The addresses on which something listens at TCP ``port`` in this process's
    network (from /proc; none where that cannot be read): for saying why an app that
    runs cannot be reached."""
    port = int(params.get("port", 0))
    found = []  # type: List[str]
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open("/proc/self/net/" + name) as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A: LISTEN
                continue
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(address)
            if sys.byteorder == "little":  # each 32-bit word is shown in host order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append(socket.inet_ntop(family, raw))
    return {"addresses": found}


# The longest path given to a Unix socket (sun_path holds 108 bytes, NUL included).
_SOCKET_PATH_MAX = 100


async def rpc_net_socket_path(params: Dict[str, Any]) -> Dict[str, Any]:
    """A fresh path for a Unix socket in the daemon's private directory."""
    name = str(params.get("name", "app"))
    if (
        not name
        or len(name) > 40
        or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)
    ):
        raise RemoteError("bad_request", "name must be up to 40 letters, digits, - _ or .")
    directory = os.path.join(private_dir(), "sockets")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(
        directory, "%s-%s.sock" % (name, base64.b16encode(os.urandom(4)).decode().lower())
    )
    if len(os.fsencode(path)) > _SOCKET_PATH_MAX:
        raise RemoteError("name_too_long", "The runtime directory's path is too long for sockets.")
    return {"path": path}


# -- the daemon's own state ---------------------------------------------------------------


class DaemonState:
    """What the process serving calls knows about itself (a daemon, or a direct agent)."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self.mode = "direct"
        self.clients = 0
        self.last_active = time.monotonic()
        self.options: Optional[Options] = None


STATE = DaemonState()


def private_dir() -> str:
    """The daemon's private directory (sockets for apps, the terminal's start-up file)."""
    try:
        return runtime_dir(STATE.options or Options([]))
    except SystemExit as exc:
        raise RemoteError("runtime_dir", str(exc)) from None


async def rpc_daemon_info(params: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "agent_version": AGENT_VERSION,
        "pid": os.getpid(),
        "mode": STATE.mode,
        "started_at": STATE.started_at,
        "processes": PROCESSES.running(),
        "clients": STATE.clients,
        "python": list(sys.version_info[:3]),
    }


Handler = Callable[[Dict[str, Any]], Awaitable[Dict[str, Any]]]
SessionHandler = Callable[["Agent", Dict[str, Any], Optional[Channel]], Awaitable[Dict[str, Any]]]

METHODS: Dict[str, Handler] = {
    "ping": rpc_ping,
    "system.info": rpc_system_info,
    "daemon.info": rpc_daemon_info,
    "fs.list": rpc_fs_list,
    "fs.stat": rpc_fs_stat,
    "fs.read": rpc_fs_read,
    "fs.write": rpc_fs_write,
    "fs.mkdir": _in_thread_rpc(_mkdir),
    "fs.rename": _in_thread_rpc(_rename),
    "fs.copy": _in_thread_rpc(_copy),
    "fs.delete": _in_thread_rpc(_delete),
    "fs.chmod": _in_thread_rpc(_chmod),
    "fs.du": _in_thread_rpc(_du),
    "fs.search": _in_thread_rpc(_search),
    "fs.upload_open": _in_thread_rpc(_upload_open),
    "fs.upload_complete": _in_thread_rpc(_upload_complete),
    "fs.walk": _in_thread_rpc(_walk),
    "fs.symlink": _in_thread_rpc(_symlink),
    "fs.utime": _in_thread_rpc(_utime),
    "proc.start": rpc_proc_start,
    "proc.list": rpc_proc_list,
    "proc.resize": rpc_proc_resize,
    "proc.signal": rpc_proc_signal,
    "proc.forget": rpc_proc_forget,
    "net.free_port": rpc_net_free_port,
    "net.listening": rpc_net_listening,
    "net.socket_path": rpc_net_socket_path,
}

# Methods that need the connection they were called on; those in OPENS_CHANNEL open the
# channel named by their ``channel`` parameter.
SESSION_METHODS: Dict[str, SessionHandler] = {
    "proc.attach": rpc_proc_attach,
    "fs.read_stream": rpc_fs_read_stream,
    "fs.write_stream": rpc_fs_write_stream,
    "fs.upload_append": rpc_fs_upload_append,
    "fs.archive": rpc_fs_archive,
    "proc.detach": rpc_proc_detach,
}
OPENS_CHANNEL = frozenset(
    ["proc.attach", "fs.read_stream", "fs.write_stream", "fs.upload_append", "fs.archive"]
)


# -- the agent's main loop --------------------------------------------------------------


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
        if request.get("method") in OPENS_CHANNEL and isinstance(params, dict):
            number = params.get("channel")
            if isinstance(number, int) and number > 0 and number not in self.channels:
                channel = self.channels[number] = Channel(number, self)
        self.spawn(self.answer(request, channel))

    async def answer(self, request: Dict[str, Any], channel: Optional[Channel] = None) -> None:
        request_id = request.get("id")
        name = str(request.get("method"))
        try:
            params = request.get("params") or {}
            if name not in METHODS and name not in SESSION_METHODS:
                raise RemoteError("unknown_method", "The agent has no method %r." % name)
            if not isinstance(params, dict):
                raise RemoteError("bad_request", "params must be an object")
            if name in METHODS:
                result = await METHODS[name](params)
            else:
                if name in OPENS_CHANNEL and channel is None:
                    raise RemoteError("bad_request", "channel must be a positive number not in use")
                result = await SESSION_METHODS[name](self, params, channel)
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


# -- the relay in a batch job -----------------------------------------------------------
#
# An app in a batch job listens on a Unix socket in a private directory of the compute
# node, or on its loopback, where the login node's sshd cannot reach it. The job starts
# this program with ``--relay`` beside it: it listens on every interface of the node and
# relays each connection to the app, but only once the connection has begun with the
# relay's preamble, which holds a secret only labgate and the job know (from the
# environment, ``RELAY_SECRET_VARIABLE``). Anyone else on the cluster's network is cut off
# before a byte reaches the app.

RELAY_MAGIC = b"labgate-relay-1 "
RELAY_SECRET_VARIABLE = "LABGATE_RELAY_SECRET"  # noqa: S105 (a name, not a secret)
# A connection that has not shown the secret within this long is closed.
RELAY_PREAMBLE_SECONDS = 10.0
RELAY_CHUNK = 256 * 1024


def relay_preamble(secret: str) -> bytes:
    """What a connection to a relay starts with: the magic, the secret, a newline."""
    return RELAY_MAGIC + secret.encode("ascii") + b"\n"


async def _relay_pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until the end of its input, then half-close."""
    try:
        while True:
            data = await reader.read(RELAY_CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


async def _relay_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    target: "Tuple[int, str]",
    preamble: bytes,
) -> None:
    try:
        try:
            shown = await asyncio.wait_for(
                reader.readexactly(len(preamble)), RELAY_PREAMBLE_SECONDS
            )
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            return
        if not hmac.compare_digest(shown, preamble):
            return
        port, path = target
        try:
            if path:
                app_reader, app_writer = await asyncio.open_unix_connection(path)
            else:
                app_reader, app_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return  # the app does not listen (yet, or any more): like a refused connection
        try:
            await asyncio.gather(_relay_pipe(reader, app_writer), _relay_pipe(app_reader, writer))
        finally:
            app_writer.close()
    finally:
        writer.close()


async def _serve_relay(endpoint_file: str, target: "Tuple[int, str]") -> None:
    """Relay to the app at ``target``: a port on loopback, or a Unix socket's path."""
    secret = os.environ.pop(RELAY_SECRET_VARIABLE, "")
    if len(secret) < 32:
        raise SystemExit("labgate-agent: the relay has no secret (%s)" % RELAY_SECRET_VARIABLE)
    preamble = relay_preamble(secret)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _relay_connection(reader, writer, target, preamble)

    # SLURM ends a cancelled job with SIGTERM: the app's socket and its directory (made
    # for the job by mktemp -d) go with it. (Heard from before the endpoint is known.)
    loop = asyncio.get_event_loop()
    ended = loop.create_future()  # type: asyncio.Future[None]
    loop.add_signal_handler(signal.SIGTERM, _resolve, ended)
    # Every interface: the login node reaches the job by the node's name.
    server = await asyncio.start_server(serve, host="0.0.0.0", port=0)  # noqa: S104
    try:
        listening = server.sockets[0].getsockname()[1]
        temporary = endpoint_file + ".new"
        with open(temporary, "w") as out:
            out.write("%s %d\n" % (socket.gethostname(), listening))
        os.rename(temporary, endpoint_file)  # whole, or not there at all
        await ended
    finally:
        server.close()
        if target[1]:
            with contextlib.suppress(OSError):
                os.unlink(target[1])
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(target[1]))


# -- the per-user daemon --------------------------------------------------------------
#
# Work must outlive the connection that started it. The first agent on a host forks a
# daemon that listens on a Unix socket in a directory only its user can open. Every
# agent (the first, a reconnect, a restarted server, a second server) passes its
# standard input and output to the daemon over that socket (SCM_RIGHTS) and waits: the
# daemon reads and writes the connection's pipes itself, so no byte passes through a
# second Python process. The daemon serves a connection until its input ends (the
# server or the SSH connection went), its output breaks, or its agent ends; then it
# closes that connection's descriptors, which ends its agent. It leaves when it has had
# no client and no running process for its idle time.


class Options:
    def __init__(self, argv: "list[str]") -> None:
        self.runtime_dir = None  # type: Optional[str]
        self.idle_seconds = 3600.0
        self.daemon = True
        # --relay ENDPOINT_FILE --to-port PORT | --to-socket PATH: a batch job's relay.
        self.relay_endpoint_file = None  # type: Optional[str]
        self.relay_to_port = 0
        self.relay_to_socket = ""
        words = list(argv)
        while words:
            word = words.pop(0)
            if word == "--runtime-dir" and words:
                self.runtime_dir = words.pop(0)
            elif word == "--relay" and words:
                self.relay_endpoint_file = words.pop(0)
            elif word == "--to-port" and words:
                self.relay_to_port = int(words.pop(0))
            elif word == "--to-socket" and words:
                self.relay_to_socket = words.pop(0)
            elif word == "--idle-seconds" and words:
                self.idle_seconds = float(words.pop(0))
            elif word == "--no-daemon":
                self.daemon = False


def runtime_dir(options: Options) -> str:
    """A directory only this user can open: created 0700, and refused if anyone else
    owns it or can enter it (another user could otherwise plant a socket there)."""
    base = options.runtime_dir
    if base is not None:
        # One setting for every account on a machine: "{uid}" makes it each one's own.
        base = base.replace("{uid}", "%d" % os.getuid())
    if base is None:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        # /tmp is safe here: the checks below refuse a directory anyone else controls.
        base = os.path.join(xdg, "labgate") if xdg else "/tmp/labgate-%d" % os.getuid()  # noqa: S108
    os.makedirs(base, mode=0o700, exist_ok=True)
    info = os.lstat(base)
    if info.st_uid != os.getuid() or (info.st_mode & 0o077) or not os.path.isdir(base):
        raise SystemExit("labgate-agent: %s is not a private directory of this user" % base)
    return base


def machine_identity() -> str:
    """What tells this machine apart for a daemon: its host name, and its network
    namespace when it can be read. Containers on one kernel may share /tmp and a host
    name, yet an app listening on one's loopback cannot be reached from the other's
    network, where labgate's SSH connection arrives; without a readable namespace, the
    machine id tells containers apart."""
    name = socket.gethostname()[:40]
    try:
        return "%s-n%x" % (name, os.stat("/proc/self/ns/net").st_ino)
    except OSError:
        pass
    try:
        with open("/etc/machine-id") as handle:
            machine = handle.read(12).strip()
    except OSError:
        return name
    return "%s-m%s" % (name, machine) if machine.isalnum() else name


def socket_path(options: Options) -> str:
    """The daemon's socket: one per machine (home directories and /tmp are often shared
    between hosts) and per agent version (a newer server starts a newer daemon beside
    the old one). A name too long for a socket path is replaced by a digest of it."""
    directory = runtime_dir(options)
    identity = machine_identity()
    path = os.path.join(directory, "daemon-v%d-%s.sock" % (AGENT_VERSION, identity))
    if len(os.fsencode(path)) > _SOCKET_PATH_MAX:
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        path = os.path.join(directory, "daemon-v%d-%s.sock" % (AGENT_VERSION, digest))
    return path


# An agent hands its connection to the daemon: these bytes, with its standard input and
# output attached (SCM_RIGHTS), on a connection to the daemon's socket that stays open
# while the daemon serves them.
HAND_OVER = b"LGFD"
_FD_BYTES = array.array("i").itemsize


async def _serve_daemon(path: str, idle_seconds: float) -> None:
    STATE.mode = "daemon"
    STATE.started_at = time.time()
    loop = asyncio.get_event_loop()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    listener.setblocking(False)
    clients: Set[asyncio.Future[None]] = set()

    async def accept() -> None:
        while True:
            control, _ = await loop.sock_accept(listener)
            client = asyncio.ensure_future(_serve_client(control))
            clients.add(client)
            client.add_done_callback(clients.discard)

    acceptor = asyncio.ensure_future(accept())
    try:
        while (
            STATE.clients
            or PROCESSES.running()
            or time.monotonic() - STATE.last_active < idle_seconds
        ):
            await asyncio.sleep(min(1.0, idle_seconds))
    finally:
        acceptor.cancel()
        listener.close()
        if os.path.exists(path):
            os.unlink(path)


async def _serve_client(control: socket.socket) -> None:
    """Serve one connection on the standard input and output its agent handed over, until
    it ends: end of input (the server or the SSH connection went), a broken output, or the
    agent's end (the control socket closes). Only this connection is cleaned up."""
    loop = asyncio.get_event_loop()
    STATE.clients += 1
    try:
        try:
            incoming, outgoing = await _handed_over(control)
        except (OSError, ProtocolError):
            return  # a probe of the socket, or not an agent of this version
        reader, writer, read_transport = await _streams(incoming, outgoing)
        session = asyncio.ensure_future(Agent(reader, writer).run())
        agent_gone: asyncio.Future[None] = loop.create_future()
        loop.add_reader(control.fileno(), _resolve, agent_gone)
        try:
            await asyncio.wait([session, agent_gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(control.fileno())
            session.cancel()
            await asyncio.wait([session])
            if not session.cancelled():
                session.exception()  # a connection that broke is no news
            read_transport.close()
            writer.close()
    finally:
        STATE.clients -= 1
        STATE.last_active = time.monotonic()
        control.close()


async def _handed_over(control: socket.socket) -> Tuple[BinaryIO, BinaryIO]:
    """The standard input and output an agent sends on ``control``."""
    loop = asyncio.get_event_loop()
    while True:
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(control.fileno(), _resolve, readable)
        try:
            await asyncio.wait_for(readable, HAND_OVER_SECONDS)
        finally:
            loop.remove_reader(control.fileno())
        try:
            data, ancillary, _, _ = control.recvmsg(
                len(HAND_OVER), socket.CMSG_SPACE(2 * _FD_BYTES)
            )
            break
        except BlockingIOError:
            continue
    fds: List[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(array.array("i", payload[: len(payload) - len(payload) % _FD_BYTES]))
    if data != HAND_OVER or len(fds) != 2:
        for fd in fds:
            os.close(fd)
        raise ProtocolError("an agent hands over its standard input and output")
    return os.fdopen(fds[0], "rb", buffering=0), os.fdopen(fds[1], "wb", buffering=0)


HAND_OVER_SECONDS = 10.0


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


def _hand_over(path: str) -> None:
    """Give this connection's standard input and output to the daemon, so that its bytes
    go between sshd and the daemon without passing through this process, then wait while
    the daemon serves them. This process must live as long as the connection: sshd stops
    passing input to a session whose program has exited, which ends the connection."""
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.connect(path)
    stdio = array.array("i", [sys.stdin.fileno(), sys.stdout.fileno()])
    control.sendmsg([HAND_OVER], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, stdio.tobytes())])
    # No copy here may keep the connection open once the daemon closes its own.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    try:
        while control.recv(4096):  # closed by the daemon when the connection ends
            pass
    except OSError:
        pass


async def _serve_stdio() -> None:
    STATE.clients = 1
    reader, writer, _ = await _streams(sys.stdin.buffer, sys.stdout.buffer)
    try:
        await Agent(reader, writer).run()
    finally:
        # Without a daemon nothing outlives this connection: hang up what it started.
        for process in PROCESSES.processes.values():
            if process.returncode is None:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGHUP)


def main() -> None:
    """Entry point: hand standard input and output to this user's daemon (starting it if
    needed), or with ``--no-daemon`` answer calls in this process until EOF, or with
    ``--relay`` be a batch job's relay."""
    options = Options(sys.argv[1:])
    STATE.options = options
    if options.relay_endpoint_file is not None:
        target = (options.relay_to_port, options.relay_to_socket)
        asyncio.run(_serve_relay(options.relay_endpoint_file, target))
        return
    if not options.daemon:
        asyncio.run(_serve_stdio())
        return
    _hand_over(_connect_or_start(options))
