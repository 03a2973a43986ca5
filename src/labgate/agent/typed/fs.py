"""The agent's file methods (``fs.*``), typed: paths in as text or bytes, answers as
frozen dataclasses with every base64 field decoded."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labgate.agent.client import ByteStream, FileReadStream, path_params
from labgate.agent.typed.base import AgentCall, Remote, RemotePath, agent_method, given, raw_bytes


@dataclass(frozen=True, kw_only=True)
class FileInfo:
    """One file, directory or link as the agent describes it (``lstat``). ``name`` is
    text; ``raw`` holds the exact bytes of a name that is not UTF-8. ``user`` and
    ``group`` name ``uid`` and ``gid`` on the resource (``None``: the id has no name
    there)."""

    name: str
    kind: str
    size: int
    mode: int
    mtime: float
    uid: int
    gid: int
    user: str | None = None
    group: str | None = None
    raw: bytes | None = None
    target: str | None = None  # a symlink's
    target_kind: str | None = None  # what it points to ("missing": nothing)

    @classmethod
    def fields_of(cls, answer: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": str(answer["name"]),
            "kind": str(answer["kind"]),
            "size": int(answer["size"]),
            "mode": int(answer["mode"]),
            "mtime": float(answer["mtime"]),
            "uid": int(answer["uid"]),
            "gid": int(answer["gid"]),
            "user": answer.get("user"),
            "group": answer.get("group"),
            "raw": raw_bytes(answer.get("raw")),
            "target": answer.get("target"),
            "target_kind": answer.get("target_kind"),
        }

    @classmethod
    def of(cls, answer: Mapping[str, Any]) -> FileInfo:
        return cls(**cls.fields_of(answer))


@dataclass(frozen=True, kw_only=True)
class Copied(FileInfo):
    """The copy, and the names below it that were not copied (fifos, sockets, devices;
    the first 100)."""

    skipped: tuple[str, ...] = ()

    @classmethod
    def of(cls, answer: Mapping[str, Any]) -> Copied:
        skipped = tuple(str(name) for name in answer.get("skipped", ()))
        return cls(**cls.fields_of(answer), skipped=skipped)


@dataclass(frozen=True, kw_only=True)
class Found(FileInfo):
    """A search's match: its entry and its whole path (``path_raw``: the exact bytes of
    one that is not UTF-8)."""

    path: str
    path_raw: bytes | None = None

    @classmethod
    def of(cls, answer: Mapping[str, Any]) -> Found:
        return cls(
            **cls.fields_of(answer),
            path=str(answer["path"]),
            path_raw=raw_bytes(answer.get("path_raw")),
        )


@dataclass(frozen=True)
class SearchResult:
    matches: tuple[Found, ...]
    truncated: bool  # there were more than the limit


@dataclass(frozen=True)
class DiskUsage:
    """A tree's size: apparent bytes, bytes on disk, files and directories below it,
    directories that could not be read."""

    bytes: int
    disk_bytes: int
    files: int
    directories: int
    unreadable: int


@dataclass(frozen=True)
class FileData:
    """Bytes read from a file at ``offset``, with the file's size and version then."""

    data: bytes
    offset: int
    size: int
    eof: bool
    version: str


@dataclass(frozen=True)
class Written:
    """A file written: its new version (for the next write's precondition) and size."""

    version: str
    size: int

    @classmethod
    def of(cls, answer: Mapping[str, Any]) -> Written:
        return cls(str(answer["version"]), int(answer["size"]))


@dataclass(frozen=True, kw_only=True)
class UploadTarget:
    """Where an upload goes, as the agent resolved it (absolute)."""

    path: str
    path_raw: bytes | None = None

    @property
    def path_bytes(self) -> bytes:
        return self.path_raw if self.path_raw is not None else self.path.encode()


@dataclass(frozen=True, kw_only=True)
class UploadOpened(UploadTarget):
    offset: int  # bytes the hidden file holds


@dataclass(frozen=True, kw_only=True)
class UploadCompleted(UploadTarget):
    size: int
    sha256: str
    version: str


@dataclass(frozen=True)
class TreeEntry:
    """One thing in a walked tree."""

    relative: bytes  # below the top; b"" for the top itself
    kind: str
    size: int  # files only; 0 for the rest
    mode: int
    mtime: float
    target: bytes | None = None  # a symlink's

    @classmethod
    def of(cls, answer: Mapping[str, Any]) -> TreeEntry:
        return cls(
            relative=base64.b64decode(answer["rel_raw"]),
            kind=str(answer["kind"]),
            size=int(answer["size"]),
            mode=int(answer["mode"]),
            mtime=float(answer["mtime"]),
            target=raw_bytes(answer.get("target_raw")),
        )


def _target_fields(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {"path": str(answer["path"]), "path_raw": raw_bytes(answer.get("path_raw"))}


class RemoteFs(Remote):
    """Files on the resource, under the account labgate logs in as there."""

    @agent_method("fs.list")
    async def listing_json(
        self,
        call: AgentCall,
        path: RemotePath,
        *,
        offset: int = 0,
        limit: int = 1000,
        hidden: bool = True,
    ) -> bytes:
        """One page of a directory (sorted by name, full stat for each entry) as the
        agent encoded it: ``{path, total, offset, entries}`` in JSON, passed on unread
        (decoding thousands of entries would cost more than the rest of the request)."""
        return await call.json(**path_params(path), offset=offset, limit=limit, hidden=hidden)

    @agent_method("fs.stat")
    async def stat(self, call: AgentCall, path: RemotePath) -> FileInfo:
        return FileInfo.of(await call(**path_params(path)))

    @agent_method("fs.read")
    async def read(
        self, call: AgentCall, path: RemotePath, *, offset: int = 0, length: int | None = None
    ) -> FileData:
        """At most 4 MiB from ``offset`` (larger reads: :meth:`read_stream`)."""
        answer = await call(**path_params(path), offset=offset, **given(length=length))
        return FileData(
            data=base64.b64decode(answer["data"]),
            offset=int(answer["offset"]),
            size=int(answer["size"]),
            eof=bool(answer["eof"]),
            version=str(answer["version"]),
        )

    @agent_method("fs.write")
    async def write(
        self,
        call: AgentCall,
        path: RemotePath,
        data: bytes,
        *,
        if_version: str | None = None,
        create_only: bool = False,
    ) -> Written:
        """Replace a file atomically ("conflict" if it is not at ``if_version``,
        "exists" with ``create_only`` if there is one); small files only (one call)."""
        answer = await call(
            **path_params(path),
            data=base64.b64encode(data).decode(),
            create_only=create_only,
            **given(if_version=if_version),
        )
        return Written.of(answer)

    @agent_method("fs.mkdir")
    async def mkdir(self, call: AgentCall, path: RemotePath, *, parents: bool = False) -> FileInfo:
        return FileInfo.of(await call(**path_params(path), parents=parents))

    @agent_method("fs.rename")
    async def rename(
        self, call: AgentCall, path: RemotePath, to: RemotePath, *, overwrite: bool = False
    ) -> FileInfo:
        """Never replaces anything unless ``overwrite`` ("exists" otherwise)."""
        answer = await call(**path_params(path), **path_params(to, "to"), overwrite=overwrite)
        return FileInfo.of(answer)

    @agent_method("fs.copy")
    async def copy(
        self,
        call: AgentCall,
        path: RemotePath,
        to: RemotePath,
        *,
        overwrite: bool = False,
        within: float | None = None,
    ) -> Copied:
        """A file or a tree; ``within`` seconds (``NO_DEADLINE``: as long as it takes)
        instead of a long call's time."""
        answer = await call.within(
            within, **path_params(path), **path_params(to, "to"), overwrite=overwrite
        )
        return Copied.of(answer)

    @agent_method("fs.delete")
    async def delete(
        self,
        call: AgentCall,
        path: RemotePath,
        *,
        recursive: bool = False,
        within: float | None = None,
    ) -> None:
        """A symlink goes, never what it points to; a full directory only ``recursive``."""
        await call.within(within, **path_params(path), recursive=recursive)

    @agent_method("fs.chmod")
    async def chmod(self, call: AgentCall, path: RemotePath, mode: int) -> FileInfo:
        return FileInfo.of(await call(**path_params(path), mode=mode))

    @agent_method("fs.du")
    async def du(self, call: AgentCall, path: RemotePath) -> DiskUsage:
        answer = await call(**path_params(path))
        return DiskUsage(
            bytes=int(answer["bytes"]),
            disk_bytes=int(answer["disk_bytes"]),
            files=int(answer["files"]),
            directories=int(answer["directories"]),
            unreadable=int(answer["unreadable"]),
        )

    @agent_method("fs.search")
    async def search(
        self, call: AgentCall, path: RemotePath, pattern: str, *, limit: int = 1000
    ) -> SearchResult:
        """Names below ``path``: ``pattern`` is a glob if it has any of ``*?[``, else a
        part of the name; case is ignored."""
        answer = await call(**path_params(path), pattern=pattern, limit=limit)
        matches = tuple(Found.of(match) for match in answer["matches"])
        return SearchResult(matches, bool(answer["truncated"]))

    @agent_method("fs.walk")
    async def walk(self, call: AgentCall, path: RemotePath) -> list[TreeEntry]:
        """A tree, top first, without following symlinks (at most 40,000 entries)."""
        answer = await call(**path_params(path))
        return [TreeEntry.of(entry) for entry in answer["entries"]]

    @agent_method("fs.symlink")
    async def symlink(self, call: AgentCall, path: RemotePath, target: RemotePath) -> FileInfo:
        return FileInfo.of(await call(**path_params(path), **path_params(target, "target")))

    @agent_method("fs.utime")
    async def utime(self, call: AgentCall, path: RemotePath, mtime: float) -> FileInfo:
        """Set the modification (and access) time, of a symlink itself if it is one."""
        return FileInfo.of(await call(**path_params(path), mtime=mtime))

    # -- resumable uploads

    @agent_method("fs.upload_open")
    async def upload_open(
        self,
        call: AgentCall,
        path: RemotePath,
        upload: str,
        *,
        parents: bool = False,
        overwrite: bool = False,
        if_version: str | None = None,
    ) -> UploadOpened:
        """Check the target and create the upload's empty hidden file beside it."""
        answer = await call(
            **path_params(path),
            upload=upload,
            parents=parents,
            overwrite=overwrite,
            if_version=if_version,
        )
        return UploadOpened(**_target_fields(answer), offset=int(answer["offset"]))

    @agent_method("fs.upload_append")
    async def upload_append(
        self,
        call: AgentCall,
        path: RemotePath,
        upload: str,
        chunks: AsyncIterable[bytes],
        *,
        offset: int,
        limit: int,
    ) -> int:
        """Append to the upload's hidden file (see ``AgentConnection.append_stream``);
        how many bytes it holds after."""
        return await call.agent.append_stream(path, upload, chunks, offset=offset, limit=limit)

    @agent_method("fs.upload_complete")
    async def upload_complete(
        self,
        call: AgentCall,
        path: RemotePath,
        upload: str,
        *,
        size: int,
        sha256: str | None = None,
        overwrite: bool = False,
        if_version: str | None = None,
    ) -> UploadCompleted:
        """Check the size and SHA-256 of what arrived, then rename it onto ``path``."""
        answer = await call(
            **path_params(path),
            upload=upload,
            size=size,
            sha256=sha256,
            overwrite=overwrite,
            if_version=if_version,
        )
        return UploadCompleted(
            **_target_fields(answer),
            size=int(answer["size"]),
            sha256=str(answer["sha256"]),
            version=str(answer["version"]),
        )

    # -- streams (each opens a channel: see AgentConnection)

    @agent_method("fs.read_stream")
    async def read_stream(
        self, call: AgentCall, path: RemotePath, *, offset: int = 0, length: int | None = None
    ) -> FileReadStream:
        """A file's contents as they arrive; "not_found" and the like are raised here."""
        return await call.agent.read_stream(path, offset=offset, length=length)

    @agent_method("fs.write_stream")
    async def write_stream(
        self,
        call: AgentCall,
        path: RemotePath,
        chunks: bytes | Iterable[bytes] | AsyncIterable[bytes],
        *,
        if_version: str | None = None,
        create_only: bool = False,
    ) -> Written:
        """Write a file of any size atomically; nothing appears if ``chunks`` fails."""
        answer = await call.agent.write_stream(
            path, chunks, if_version=if_version, create_only=create_only
        )
        return Written.of(answer)

    @agent_method("fs.archive")
    async def archive(
        self, call: AgentCall, paths: Sequence[RemotePath], archive_format: str
    ) -> ByteStream:
        """A zip or tar.gz of ``paths`` (all in one directory), streamed as it is built."""
        return await call.agent.archive(paths, archive_format)
