"""Folders and selections downloaded as one archive (zip or tar.gz), built by the agent
on the resource while it is sent.

Why on the resource: the files are read where they are, once, and only the compressed
archive crosses the SSH connection; there is one stream instead of a round trip per
file, and the server only passes bytes on, a window at a time (nothing is held whole
in memory or written to disk on either side).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from labgate.agent.client import ByteStream
from labgate.agent.typed import RemoteFs
from labgate.api.deps import Caller, State
from labgate.api.files import READ, RemotePath, on_resource, resource_plan
from labgate.api.schemas import Id
from labgate.errors import BadRequest
from labgate.http.content import disposition

router = APIRouter(prefix="/resources", tags=["files"])

MAX_PATHS = 1000
_MEDIA_TYPES = {"zip": "application/zip", "tar.gz": "application/gzip"}


class ArchiveQuery(BaseModel):
    path: list[Annotated[str, Field(min_length=1, max_length=4096)]] = []
    path_raw: list[Annotated[str, Field(min_length=1, max_length=5464)]] = []
    format: Literal["zip", "tar.gz"] = "zip"
    name: Annotated[str, Field(max_length=1000)] | None = None


def _targets(query: ArchiveQuery) -> list[RemotePath]:
    if not query.path and not query.path_raw:
        raise BadRequest("Name at least one path (path or path_raw).")
    if len(query.path) + len(query.path_raw) > MAX_PATHS:
        raise BadRequest(f"At most {MAX_PATHS} paths go into one archive.")
    for raw in query.path_raw:
        try:
            base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise BadRequest("path_raw must be base64 of the path's bytes.") from None
    texts = [RemotePath.of(text, None) for text in query.path]
    return texts + [RemotePath.of(None, raw) for raw in query.path_raw]


def single_name(name: str) -> str:
    """A name for one entry, never a path: no ``/``, no NUL, not ``.`` or ``..``."""
    if not 1 <= len(name) <= 200:
        raise BadRequest("A name has 1 to 200 characters.")
    if "/" in name or "\0" in name or name in (".", ".."):
        raise BadRequest("A name cannot contain '/' or NUL, nor be '.' or '..'.")
    return name


def _archive_name(query: ArchiveQuery, targets: list[RemotePath]) -> str:
    if query.name is not None:
        return single_name(query.name)
    if len(targets) == 1:
        return targets[0].name
    first = targets[0].value
    text = first if isinstance(first, str) else first.decode(errors="replace")
    return posixpath.basename(posixpath.dirname(text.rstrip("/"))) or "download"


async def _relay(stream: ByteStream) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.close()


@router.get(
    "/{resource_id}/files/archive",
    summary="Download files and folders as one streamed archive",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}, "application/gzip": {}}}},
)
async def download_archive(
    resource_id: Id, query: Annotated[ArchiveQuery, Query()], principal: Caller, state: State
) -> StreamingResponse:
    """``path`` (or ``path_raw``) repeated, all in one directory; members are named
    relative to it. Symlinks are stored as links, never followed; what cannot be read is
    listed in a last member ``labgate-skipped.txt``."""
    targets = _targets(query)
    name = _archive_name(query, targets)
    plan = await resource_plan(state, principal, resource_id, READ)
    stream = await on_resource(
        state,
        plan,
        lambda agent: RemoteFs(agent).archive([t.value for t in targets], query.format),
    )
    return StreamingResponse(
        _relay(stream),
        media_type=_MEDIA_TYPES[query.format],
        headers={
            "Content-Disposition": disposition("attachment", f"{name}.{query.format}"),
            "Cache-Control": "private, no-cache",
        },
    )
