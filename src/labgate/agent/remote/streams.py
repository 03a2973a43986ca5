"""Byte streams of files on channels: a file read from an offset (``fs.read_stream``),
a file written as it arrives (``fs.write_stream``), and archives (``fs.archive``), built
here while they are sent, so a folder is read once on the resource and only compressed
bytes cross the network."""

from __future__ import annotations

import asyncio
import os
import stat
import time
import zlib
from typing import TYPE_CHECKING, Any, BinaryIO, Dict, Iterator, List, Optional, Tuple

from .files import _check_write, _kind, _path_from, _Replacement, version_of
from .methods import rpc
from .tasks import _in_thread, _settle
from .transfers import _HASH_BLOCK
from .wire import CHUNK, CONNECTION_LOST, GRANT_STEP, Channel, RemoteError, error_of

if TYPE_CHECKING:
    from .connection import Agent

ARCHIVE_SKIPPED_NAME = "labgate-skipped.txt"
# Fast compression: archives of scientific data are mostly limited by the CPU otherwise.
ARCHIVE_LEVEL = 1


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


@rpc("fs.read_stream", channel=True)
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


@rpc("fs.write_stream", channel=True)
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


@rpc("fs.archive", channel=True)
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
