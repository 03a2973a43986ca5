"""Transfers: resumable uploads, and the trees a copy between resources walks and
rebuilds (``fs.walk``, ``fs.symlink``, ``fs.utime``).

A resumable upload lives in a hidden file beside its target, named after the upload's
id (``.labgate-upload-<id>``): any server replica can find it again from the target and
the id, its size is the truth about how much has arrived, and the final rename stays
within one directory, so it is atomic.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import fcntl
import hashlib
import os
import stat
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .files import (
    _UMASK,
    WRITE_BACK_STEP,
    _entry,
    _kind,
    _let_go,
    _name_fields,
    _path_from,
    _rename_no_replace,
    version_of,
)
from .methods import rpc
from .tasks import _in_thread, _settle
from .wire import UPLOAD_PREFIX, WINDOW_BYTES, Channel, RemoteError

if TYPE_CHECKING:
    from .connection import Agent

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


@rpc("fs.upload_open", thread=True)
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


def _full_disk(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@rpc("fs.upload_append", channel=True)
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


@rpc("fs.upload_complete", thread=True)
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


@rpc("fs.walk", thread=True)
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


@rpc("fs.symlink", thread=True)
def _symlink(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    os.symlink(_path_from(params, "target"), path)
    return _entry(path)


@rpc("fs.utime", thread=True)
def _utime(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    mtime = float(params.get("mtime", 0))
    os.utime(path, (mtime, mtime), follow_symlinks=False)
    return _entry(path)
