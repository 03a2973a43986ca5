"""Files on a resource: listing, stat, streamed download (ranges, ETag) and upload
(atomic, with a version precondition), and the operations of a file browser.

Every call goes to the user's agent on the resource, under the remote account labgate
logs in as; what that account may not do, the agent refuses, and its code and message
come back through :mod:`labgate.api.remote_errors`. Paths are text (``path``, ``to``) or,
for names that are not UTF-8, base64 of their exact bytes (``path_raw``, ``to_raw``).

These routes do not hold the request's database transaction (``Db``) while the resource
works: a copy, a recursive delete or an upload can take hours, and a transaction held
that long would keep a pooled connection (and on SQLite, for writes, the one write lock)
from everyone else. They authenticate and read the connection plan in short
transactions of their own instead, as the attach WebSocket does.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)
from starlette.requests import ClientDisconnect

from labgate.agent.client import AgentConnection, FileReadStream
from labgate.agent.typed import DiskUsage, RemoteFs, Written
from labgate.api.deps import Caller, State
from labgate.api.remote_errors import resource_errors
from labgate.api.schemas import Body, Id
from labgate.auth.policy import Action, authorize
from labgate.auth.principal import Principal
from labgate.errors import BadRequest, LabgateError
from labgate.http.body_limit import streams_body
from labgate.http.content import (
    CONTENT_POLICY,
    ByteRange,
    disposition,
    etag,
    if_match_version,
    media_type,
    none_match,
    requested_range,
)
from labgate.http.errors import error_response
from labgate.resources import catalog
from labgate.resources.plan import ConnectionPlan, plan_for
from labgate.state import AppState

router = APIRouter(prefix="/resources", tags=["files"])

T = TypeVar("T")

# -- paths --------------------------------------------------------------------------------


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("base64 of the path's bytes") from None
    return value


PathText = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
RawPath = Annotated[str, StringConstraints(min_length=1, max_length=5464), AfterValidator(_base64)]


@dataclass(frozen=True)
class RemotePath:
    """A path on the resource: text, or the exact bytes of a name that is not UTF-8."""

    value: str | bytes

    @classmethod
    def of(cls, text: str | None, raw: str | None) -> RemotePath:
        value: str | bytes = base64.b64decode(raw) if raw is not None else text or ""
        if not value:
            raise BadRequest("The path is empty.")
        if "\0" in value if isinstance(value, str) else b"\0" in value:
            raise BadRequest("Paths cannot contain NUL bytes.")
        return cls(value)

    @property
    def name(self) -> str:
        """The last name of the path, as text (for a download's file name)."""
        value = self.value if isinstance(self.value, str) else self.value.decode(errors="replace")
        return posixpath.basename(value.rstrip("/")) or "download"


class Located(BaseModel):
    """``path`` or ``path_raw`` (base64 of the exact bytes), one of them."""

    path: PathText | None = None
    path_raw: RawPath | None = None
    default_path: ClassVar[str | None] = None

    @model_validator(mode="after")
    def _one_path(self) -> Self:
        if self.path is not None and self.path_raw is not None:
            raise ValueError("give path or path_raw, not both")
        if self.path is None and self.path_raw is None and self.default_path is None:
            raise ValueError("path (or path_raw) is required")
        return self

    @property
    def target(self) -> RemotePath:
        return RemotePath.of(self.path or self.default_path, self.path_raw)


class ListingQuery(Located):
    default_path = "~"
    offset: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=5000)] = 1000
    hidden: bool = True


class ContentQuery(Located):
    download: bool = False


class SearchQuery(Located):
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    limit: Annotated[int, Field(ge=1, le=10000)] = 1000


class MkdirIn(Located, Body):
    parents: bool = False


class MoveIn(Located, Body):
    """From ``path`` to ``to`` (or ``to_raw``); an existing ``to`` is replaced only with
    ``overwrite``, else the answer is 409 ``exists``."""

    to: PathText | None = None
    to_raw: RawPath | None = None
    overwrite: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.to is None) == (self.to_raw is None):
            raise ValueError("give to or to_raw, one of them")
        return self

    @property
    def destination(self) -> RemotePath:
        return RemotePath.of(self.to, self.to_raw)


class DeleteIn(Located, Body):
    recursive: bool = False


class ChmodIn(Located, Body):
    mode: Annotated[StrictInt, Field(ge=0, le=0o7777)]


# -- answers ------------------------------------------------------------------------------


def _encoded(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


# The exact bytes of a name that is not UTF-8, in base64: answers are built from the typed
# client's (``FileInfo``, ``UploadCompleted``: ``from_attributes``), whose bytes are encoded here.
RawName = Annotated[str | None, BeforeValidator(_encoded)]


class FileEntry(BaseModel):
    name: str
    raw: RawName = None  # base64 of the name's bytes, when they are not UTF-8
    kind: str
    size: int
    mode: int
    mtime: float
    uid: int
    gid: int
    user: str | None = Field(
        default=None, description="The owner's user name on the resource, when it has one"
    )
    group: str | None = Field(
        default=None, description="The owner's group name on the resource, when it has one"
    )
    target: str | None = None
    target_kind: str | None = None


class DirectoryPage(BaseModel):
    path: str
    total: int
    offset: int
    entries: list[FileEntry]


class Copied(FileEntry):
    skipped: list[str] = []  # fifos, sockets and devices are not copied


class SearchMatch(FileEntry):
    path: str
    path_raw: RawName = None


class SearchResult(BaseModel):
    matches: list[SearchMatch]
    truncated: bool


# -- who, where ---------------------------------------------------------------------------


async def resource_plan(
    state: AppState, principal: Principal, resource_id: Id, action: Action
) -> ConnectionPlan:
    """How to reach a resource the caller may see, after checking ``action`` (404 for
    one they may not see); read in a short transaction of its own."""
    authorize(principal, action)
    async with state.database.read() as db:
        resource = await catalog.get_visible(db, principal, state.settings, resource_id)
        return await plan_for(db, resource, principal)


async def on_resource(
    state: AppState, plan: ConnectionPlan, work: Callable[[AgentConnection], Awaitable[T]]
) -> T:
    """``work`` with the plan's agent (connecting without asking, if needed); the
    resource's errors as API errors."""
    with resource_errors():
        return await work(await state.connections.agent(plan))


async def _on_files(
    state: AppState,
    principal: Principal,
    resource_id: Id,
    action: Action,
    work: Callable[[RemoteFs], Awaitable[T]],
) -> T:
    """``work`` with the files of a resource the caller may see, after checking
    ``action``; the resource's errors as API errors."""
    plan = await resource_plan(state, principal, resource_id, action)
    return await on_resource(state, plan, lambda agent: work(RemoteFs(agent)))


# Entries leave out what does not apply to them (raw, target) rather than sending nulls:
# routes answering with entries have response_model_exclude_none.
READ, CHANGE = Action.READ_RESOURCE, Action.USE_RESOURCE


# -- reading ------------------------------------------------------------------------------


@router.get(
    "/{resource_id}/files",
    summary="One page of a directory, with full stat",
    response_model=DirectoryPage,
    response_model_exclude_none=True,
)
async def list_directory(
    resource_id: Id, query: Annotated[ListingQuery, Query()], principal: Caller, state: State
) -> Response:
    page = await _on_files(
        state,
        principal,
        resource_id,
        READ,
        lambda files: files.listing_json(
            query.target.value, offset=query.offset, limit=query.limit, hidden=query.hidden
        ),
    )
    # Passed on as the agent wrote it, a DirectoryPage without nulls (the same program
    # builds it: tests/test_files_api.py holds it to the schema). Decoding 5,000 entries
    # into models and encoding them again took most of the server's time for a page.
    return Response(page, media_type="application/json")


@router.get(
    "/{resource_id}/files/stat",
    summary="One file's kind, size, mode, times",
    response_model_exclude_none=True,
)
async def stat(
    resource_id: Id, query: Annotated[Located, Query()], principal: Caller, state: State
) -> FileEntry:
    target = query.target.value
    info = await _on_files(state, principal, resource_id, READ, lambda files: files.stat(target))
    return FileEntry.model_validate(info, from_attributes=True)


@router.get("/{resource_id}/files/du", summary="The size of a tree")
async def disk_usage(
    resource_id: Id, query: Annotated[Located, Query()], principal: Caller, state: State
) -> DiskUsage:
    target = query.target.value
    return await _on_files(state, principal, resource_id, READ, lambda files: files.du(target))


@router.get(
    "/{resource_id}/files/search",
    summary="Names below a directory",
    response_model_exclude_none=True,
)
async def search(
    resource_id: Id, query: Annotated[SearchQuery, Query()], principal: Caller, state: State
) -> SearchResult:
    """``pattern`` is a glob if it has any of ``*?[``, else a part of the name; case is
    ignored. Breadth first, at most ``limit`` matches (then ``truncated``)."""
    target = query.target.value
    result = await _on_files(
        state,
        principal,
        resource_id,
        READ,
        lambda files: files.search(target, query.pattern, limit=query.limit),
    )
    matches = [SearchMatch.model_validate(match, from_attributes=True) for match in result.matches]
    return SearchResult(matches=matches, truncated=result.truncated)


# -- contents -----------------------------------------------------------------------------


@dataclass
class _Opened:
    """A file opened for download: all of it, or bytes ``first`` to ``last``."""

    stream: FileReadStream
    first: int | None = None
    last: int | None = None

    @property
    def partial(self) -> bool:
        return self.first is not None

    @property
    def start(self) -> int:
        return self.first or 0

    @property
    def end(self) -> int:
        """Where the bytes sent end (exclusive)."""
        size = self.stream.size
        return size if self.last is None else min(self.last + 1, size)

    @property
    def satisfiable(self) -> bool:
        return self.first is None or self.first < self.stream.size


async def _open(
    files: RemoteFs,
    path: str | bytes,
    wanted: ByteRange | None,
    if_range: str | None,
) -> _Opened:
    if wanted is None:
        return _Opened(await files.read_stream(path))
    first, last = wanted
    if first is None:  # the last bytes: where they start depends on the size
        assert last is not None
        probe = await files.read_stream(path, length=0)
        await probe.close()
        first = max(0, probe.size - last) if last > 0 else probe.size  # "-0": never
        last = None
    stream = await files.read_stream(
        path, offset=first, length=None if last is None else last - first + 1
    )
    if if_range is not None and if_range.strip() != etag(stream.version):
        await stream.close()  # changed since the client's partial copy: all of it
        return _Opened(await files.read_stream(path))
    return _Opened(stream, first, last)


async def _contents(stream: FileReadStream, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of the stream (a file that grew meanwhile is cut where it was
    opened), then the stream is closed, also when the client leaves early."""
    remaining = length
    try:
        if remaining == 0:
            return
        async for chunk in stream:
            piece = chunk[:remaining]
            remaining -= len(piece)
            yield piece
            if remaining == 0:
                break
    finally:
        await stream.close()


@router.get(
    "/{resource_id}/files/content",
    summary="Download a file (streamed; ranges, ETag)",
    response_class=StreamingResponse,
    responses={
        206: {"description": "Part of the file (Range)"},
        304: {"description": "Not modified (If-None-Match)"},
        416: {"description": "The range starts past the end of the file"},
    },
)
async def download(
    resource_id: Id,
    query: Annotated[ContentQuery, Query()],
    request: Request,
    principal: Caller,
    state: State,
) -> Response:
    """The file's bytes, streamed from the resource. ``ETag`` is its version (send it as
    ``If-Match`` when saving); ``Range: bytes=a-b`` (or ``a-``, ``-n``) gets 206;
    ``If-None-Match`` with the current version gets 304; ``download=1`` makes it an
    attachment."""
    plan = await resource_plan(state, principal, resource_id, READ)
    target = query.target
    wanted = requested_range(request.headers.get("range"))
    if_range = request.headers.get("if-range")
    opened = await on_resource(
        state, plan, lambda agent: _open(RemoteFs(agent), target.value, wanted, if_range)
    )
    stream = opened.stream
    headers = {
        "ETag": etag(stream.version),
        "Cache-Control": "private, no-cache",
        "Accept-Ranges": "bytes",
    }
    if none_match(request.headers.get("if-none-match"), stream.version):
        await stream.close()
        return Response(status_code=304, headers=headers)
    if not opened.satisfiable:
        await stream.close()
        refused = error_response(
            416,
            "range_not_satisfiable",
            f"The range starts past the end of the file ({stream.size} bytes).",
        )
        refused.headers.update({**headers, "Content-Range": f"bytes */{stream.size}"})
        return refused
    length = opened.end - opened.start
    headers["Content-Length"] = str(length)
    headers["Content-Security-Policy"] = CONTENT_POLICY
    name = target.name
    headers["Content-Disposition"] = disposition("attachment" if query.download else "inline", name)
    if opened.partial:
        headers["Content-Range"] = f"bytes {opened.start}-{opened.end - 1}/{stream.size}"
    return StreamingResponse(
        _contents(stream, length),
        status_code=206 if opened.partial else 200,
        headers=headers,
        media_type=media_type(name),
    )


class UploadInterrupted(LabgateError):
    code = "upload_interrupted"
    status = 400


async def _body_of(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise UploadInterrupted("The upload was interrupted; nothing was written.") from None


_BINARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.put(
    "/{resource_id}/files/content",
    summary="Upload a file (streamed, atomic)",
    openapi_extra=_BINARY_BODY,
)
@streams_body
async def upload(
    resource_id: Id,
    query: Annotated[Located, Query()],
    request: Request,
    response: Response,
    principal: Caller,
    state: State,
) -> Written:
    """The request body becomes the file, streamed to the resource and renamed into
    place at the end: readers see the old or the new file, and an interrupted upload
    leaves nothing. ``If-Match: <version>`` fails with 409 ``conflict`` if the file
    changed since it was read; ``If-None-Match: *`` with 409 ``exists`` if there is one."""
    plan = await resource_plan(state, principal, resource_id, CHANGE)
    target = query.target
    if_version = if_match_version(request.headers.get("if-match"))
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise BadRequest("If-None-Match on an upload can only be * (create, never replace).")
    written = await on_resource(
        state,
        plan,
        lambda agent: RemoteFs(agent).write_stream(
            target.value,
            _body_of(request),
            if_version=if_version,
            create_only=if_none_match is not None,
        ),
    )
    response.headers["ETag"] = etag(written.version)
    return written


# -- changing -----------------------------------------------------------------------------


@router.post(
    "/{resource_id}/files/mkdir",
    status_code=201,
    summary="Make a directory",
    response_model_exclude_none=True,
)
async def make_directory(
    resource_id: Id, body: MkdirIn, principal: Caller, state: State
) -> FileEntry:
    """With ``parents``, missing parents too, and an existing directory is fine."""
    target = body.target.value
    info = await _on_files(
        state,
        principal,
        resource_id,
        CHANGE,
        lambda files: files.mkdir(target, parents=body.parents),
    )
    return FileEntry.model_validate(info, from_attributes=True)


@router.post(
    "/{resource_id}/files/rename", summary="Rename or move", response_model_exclude_none=True
)
async def rename(resource_id: Id, body: MoveIn, principal: Caller, state: State) -> FileEntry:
    source, target = body.target.value, body.destination.value
    info = await _on_files(
        state,
        principal,
        resource_id,
        CHANGE,
        lambda files: files.rename(source, target, overwrite=body.overwrite),
    )
    return FileEntry.model_validate(info, from_attributes=True)


@router.post(
    "/{resource_id}/files/copy", summary="Copy a file or a tree", response_model_exclude_none=True
)
async def copy(resource_id: Id, body: MoveIn, principal: Caller, state: State) -> Copied:
    """Symlinks stay symlinks, modes and times are kept; the copy appears under its name
    only when complete."""
    source, target = body.target.value, body.destination.value
    copied = await _on_files(
        state,
        principal,
        resource_id,
        CHANGE,
        lambda files: files.copy(source, target, overwrite=body.overwrite),
    )
    return Copied.model_validate(copied, from_attributes=True)


@router.post("/{resource_id}/files/delete", status_code=204, summary="Delete")
async def delete(resource_id: Id, body: DeleteIn, principal: Caller, state: State) -> Response:
    """A symlink goes, never what it points to; a directory that is not empty needs
    ``recursive`` (else 409 ``not_empty``); the root and home directories are refused."""
    target = body.target.value
    await _on_files(
        state,
        principal,
        resource_id,
        CHANGE,
        lambda files: files.delete(target, recursive=body.recursive),
    )
    return Response(status_code=204)


@router.post(
    "/{resource_id}/files/chmod",
    summary="Change the permission bits",
    response_model_exclude_none=True,
)
async def chmod(resource_id: Id, body: ChmodIn, principal: Caller, state: State) -> FileEntry:
    target = body.target.value
    info = await _on_files(
        state, principal, resource_id, CHANGE, lambda files: files.chmod(target, body.mode)
    )
    return FileEntry.model_validate(info, from_attributes=True)
