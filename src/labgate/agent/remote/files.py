"""The file system: list, stat, read, write, mkdir, rename, copy, delete, chmod, du,
search (the ``fs.*`` calls answered in one go).

File names are bytes on POSIX. A name that is valid UTF-8 travels as "name"; any other
also carries "raw" (base64 of the exact bytes), and requests may give a path as
"path_raw" (a target as "to_raw") the same way, so every name round-trips.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import errno
import fnmatch
import os
import shutil
import stat
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

from .methods import rpc
from .owners import Owners
from .tasks import _in_thread
from .wire import RemoteError

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


def _describe(
    path: bytes, info: "os.stat_result", owners: Owners, dir_fd: Optional[int] = None
) -> Dict[str, Any]:
    """What a listing says about an entry (``path`` relative to ``dir_fd`` if given),
    its owners named through ``owners``, the call's cache of names."""
    mode = info.st_mode
    entry = {
        "kind": _KINDS.get(stat.S_IFMT(mode), "other"),
        "size": info.st_size,
        "mode": mode & 0o7777,
        "mtime": info.st_mtime,
        "uid": info.st_uid,
        "gid": info.st_gid,
    }  # type: Dict[str, Any]
    owners.name(entry)
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
        owners = Owners()
        for name in names[offset : offset + limit]:
            try:
                entry = _describe(name, lstat(name, dir_fd=directory), owners, directory)
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


@rpc("fs.list")
async def rpc_fs_list(params: Dict[str, Any]) -> Dict[str, Any]:
    """One page of a directory, sorted by name, with full stat for each entry."""
    return await _in_thread(_list_directory, params)


def _entry(path: bytes) -> Dict[str, Any]:
    entry = _describe(path, os.lstat(path), Owners())
    entry.update(_name_fields(os.path.basename(path.rstrip(b"/")) or b"/"))
    return entry


def _stat(params: Dict[str, Any]) -> Dict[str, Any]:
    return _entry(_path_from(params))


@rpc("fs.stat")
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


@rpc("fs.read")
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


def _let_go(fd: int, end: int) -> None:
    """Let the page cache forget the first ``end`` bytes of a file being written: what
    is on the disk already is dropped, the rest starts on its way there (no waiting). A
    file of many GiB would otherwise push out what the user's programs keep cached, and
    its pages are reused for what is written next."""
    if hasattr(os, "posix_fadvise"):  # Linux; advice only, so a refusal changes nothing
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, end, os.POSIX_FADV_DONTNEED)


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


@rpc("fs.write")
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


@rpc("fs.mkdir", thread=True)
def _mkdir(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    if params.get("parents"):
        os.makedirs(path, exist_ok=True)
    else:
        os.mkdir(path)
    return _entry(path)


@rpc("fs.rename", thread=True)
def _rename(params: Dict[str, Any]) -> Dict[str, Any]:
    """Never replaces anything unless asked to (``overwrite``)."""
    source, target = _path_from(params), _path_from(params, "to")
    if params.get("overwrite"):
        os.replace(source, target)
    else:
        _rename_no_replace(source, target)
    return _entry(target)


@rpc("fs.copy", thread=True)
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


@rpc("fs.delete", thread=True)
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


@rpc("fs.chmod", thread=True)
def _chmod(params: Dict[str, Any]) -> Dict[str, Any]:
    path = _path_from(params)
    mode = params.get("mode")
    if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777:
        raise RemoteError("bad_request", "mode must be a number from 0 to 0o7777")
    os.chmod(path, mode)
    return _entry(path)


@rpc("fs.du", thread=True)
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


@rpc("fs.search", thread=True)
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
    owners = Owners()
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
                    found = _describe(entry.path, entry.stat(follow_symlinks=False), owners)
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
