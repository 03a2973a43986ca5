"""Resumable uploads: a file sent in parts, each streamed to a hidden file beside its
target on the resource, verified (size, SHA-256) and renamed into place at the end.

The hidden file's size on the resource is the truth about how far an upload got, so a
part cut off by a dropped connection loses only what never arrived, and any replica can
continue an upload: the database row says who, where and how big; the resource says how
much. Like the Files API these routes keep no transaction open while the resource works.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from labgate.agent.client import AgentConnection, upload_hidden_path
from labgate.agent.typed import RemoteFs
from labgate.api.deps import Caller, State
from labgate.api.files import CHANGE, READ, Located, RawName, on_resource, resource_plan
from labgate.api.remote_errors import ResourceError
from labgate.api.schemas import Body, Id
from labgate.auth.policy import Action, authorize
from labgate.auth.principal import Principal
from labgate.db.engine import lock_per_user
from labgate.db.models import Upload
from labgate.db.types import utcnow
from labgate.errors import LabgateError, LimitReached, NotFound, PayloadTooLarge
from labgate.http.body_limit import streams_body
from labgate.http.content import etag, if_match_version
from labgate.resources import catalog
from labgate.resources.plan import ConnectionPlan
from labgate.state import AppState

router = APIRouter(tags=["uploads"])

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]


class UploadIn(Located, Body):
    size: Annotated[int, Field(ge=0)]
    sha256: Sha256 | None = None
    overwrite: bool = False
    if_match: Annotated[str, StringConstraints(min_length=1, max_length=102)] | None = None
    parents: bool = False


class CompleteIn(Body):
    sha256: Sha256 | None = None
    overwrite: bool = False


class ChunkQuery(BaseModel):
    offset: Annotated[int, Field(ge=0)]


class UploadListQuery(BaseModel):
    resource_id: Id | None = None


class UploadOut(BaseModel):
    id: str
    resource_id: Id
    path: str
    path_raw: str | None = None
    size: int
    offset: int
    sha256: str | None
    overwrite: bool
    if_match: str | None
    created_at: datetime
    last_activity_at: datetime
    expires_at: datetime


class UploadList(BaseModel):
    uploads: list[UploadOut]


class Received(BaseModel):
    offset: int


class Completed(BaseModel):
    path: str
    path_raw: RawName = None
    size: int
    sha256: str
    version: str


class ContinueAt(LabgateError):
    """A part that does not start where the resource's copy ends (``wrong_offset``), or a
    completion before all arrived (``incomplete``): ``offset`` says where to go on."""

    status = 409

    def __init__(self, code: str, message: str, offset: int) -> None:
        super().__init__(message)
        self.code = code
        self.extra = {"offset": offset}
        self.headers = {"Upload-Offset": str(offset)}


# -- the rows -----------------------------------------------------------------------------


def _expiry(state: AppState) -> timedelta:
    return timedelta(hours=state.settings.upload_expiry_hours)


def _out(state: AppState, upload: Upload, offset: int | None = None) -> UploadOut:
    try:
        text, raw = upload.path.decode(), None
    except UnicodeDecodeError:
        text, raw = upload.path.decode(errors="replace"), base64.b64encode(upload.path).decode()
    return UploadOut(
        id=upload.id,
        resource_id=upload.resource_id,
        path=text,
        path_raw=raw,
        size=upload.size,
        offset=upload.received if offset is None else offset,
        sha256=upload.sha256,
        overwrite=upload.overwrite,
        if_match=upload.if_version,
        created_at=upload.created_at,
        last_activity_at=upload.last_activity_at,
        expires_at=upload.last_activity_at + _expiry(state),
    )


def _hidden(upload: Upload) -> bytes:
    """The path of the upload's hidden file."""
    return upload_hidden_path(upload.path, upload.id)


class _Open:
    """An upload of the caller's, and how to reach its resource."""

    def __init__(self, upload: Upload, plan: ConnectionPlan) -> None:
        self.upload = upload
        self.plan = plan


async def _open(
    state: AppState, principal: Principal, resource_id: Id, upload_id: str, action: Action
) -> _Open:
    plan = await resource_plan(state, principal, resource_id, action)
    async with state.database.read() as db:
        upload = await db.get(Upload, upload_id)
    if (
        upload is None
        or upload.user_id != principal.user_id
        or upload.resource_id != resource_id
        or upload.last_activity_at + _expiry(state) < utcnow()
    ):
        raise NotFound(f"There is no upload {upload_id} in progress.")
    return _Open(upload, plan)


async def _forget(state: AppState, upload_id: str) -> None:
    async with state.database.session() as db:
        await db.execute(delete(Upload).where(Upload.id == upload_id))


async def _record(state: AppState, upload_id: str, offset: int) -> None:
    async with state.database.session() as db:
        upload = await db.get(Upload, upload_id)
        if upload is not None:
            upload.received = offset
            upload.last_activity_at = utcnow()


# Requests of one user starting uploads take turns to count them (PostgreSQL).
_UPLOADS_LOCK = 0x75706C64


async def _check_room(db: AsyncSession, state: AppState, user_id: int) -> None:
    """Refuse (409) an upload beyond the user's ``max_unfinished_uploads``."""
    unfinished = await db.scalar(
        select(func.count())
        .select_from(Upload)
        .where(Upload.user_id == user_id, Upload.last_activity_at >= utcnow() - _expiry(state))
    )
    if (unfinished or 0) >= state.settings.max_unfinished_uploads:
        raise LimitReached(
            "too_many_uploads",
            f"You have {unfinished} uploads started and not finished, the most labgate keeps "
            "for one person. Finish or cancel some (they are listed with the transfers), "
            "then try again.",
        )


# The upload cannot go on after these: its hidden file is gone.
_FATAL = frozenset({"no_space", "quota_exceeded", "checksum_mismatch", "not_found"})


async def _held(state: AppState, opened: _Open) -> int:
    """How many bytes of the upload the resource holds."""

    async def size(agent: AgentConnection) -> int:
        return (await RemoteFs(agent).stat(_hidden(opened.upload))).size

    try:
        return await on_resource(state, opened.plan, size)
    except ResourceError as exc:
        if exc.code == "not_found":
            raise NotFound("The upload's data is gone from the resource; start again.") from None
        raise


# -- routes -------------------------------------------------------------------------------


@router.post("/resources/{resource_id}/uploads", status_code=201, summary="Start an upload")
async def start_upload(
    resource_id: Id, body: UploadIn, principal: Caller, state: State
) -> UploadOut:
    """Checks the target now (409 ``exists`` unless ``overwrite`` or ``if_match``) and
    creates the hidden file that the parts go to."""
    plan = await resource_plan(state, principal, resource_id, CHANGE)
    limit = state.settings.max_upload_bytes
    if limit and body.size > limit:
        raise PayloadTooLarge(f"The file is larger than the upload limit of {limit} bytes.")
    async with state.database.read() as db:
        await _check_room(db, state, principal.user_id)  # before the resource is asked
    upload_id = secrets.token_hex(12)
    if_version = if_match_version(body.if_match)
    target = body.target.value
    opened = await on_resource(
        state,
        plan,
        lambda agent: RemoteFs(agent).upload_open(
            target,
            upload_id,
            parents=body.parents,
            overwrite=body.overwrite,
            if_version=if_version,
        ),
    )
    path = opened.path_bytes
    upload = Upload(
        id=upload_id,
        user_id=principal.user_id,
        resource_id=resource_id,
        path=path,
        size=body.size,
        sha256=body.sha256.lower() if body.sha256 else None,
        overwrite=body.overwrite,
        if_version=if_version,
        received=0,
    )
    try:
        async with state.database.session() as db:
            await lock_per_user(db, _UPLOADS_LOCK, principal.user_id)
            await _check_room(db, state, principal.user_id)
            db.add(upload)
    except LimitReached:
        # Another upload of the user's took the last place meanwhile.
        with contextlib.suppress(LabgateError):
            await on_resource(state, plan, lambda agent: RemoteFs(agent).delete(_hidden(upload)))
        raise
    return _out(state, upload)


async def _part(request: Request) -> AsyncIterator[bytes]:
    """The request body; a client that leaves midway just ends it (what arrived stays)."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        return


@router.put(
    "/resources/{resource_id}/uploads/{upload_id}",
    summary="Send the next part of an upload",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
@streams_body
async def send_part(
    resource_id: Id,
    upload_id: str,
    query: Annotated[ChunkQuery, Query()],
    request: Request,
    response: Response,
    principal: Caller,
    state: State,
) -> Received:
    """The body is appended at ``offset``, which must be where the resource's copy ends
    (else 409 ``wrong_offset`` with the right ``offset``)."""
    opened = await _open(state, principal, resource_id, upload_id, CHANGE)
    upload = opened.upload
    room = upload.size - query.offset
    chunk_limit = state.settings.upload_chunk_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > chunk_limit:
        raise PayloadTooLarge(f"A part may have at most {chunk_limit} bytes.")
    if room < 0 or (declared.isdigit() and int(declared) > room):
        raise PayloadTooLarge(f"The upload has {upload.size} bytes; this part goes past the end.")
    try:
        offset = await on_resource(
            state,
            opened.plan,
            lambda agent: RemoteFs(agent).upload_append(
                upload.path,
                upload.id,
                _part(request),
                offset=query.offset,
                limit=min(room, chunk_limit),
            ),
        )
    except ResourceError as exc:
        await _after_failure(state, opened, exc)
        raise
    await _record(state, upload.id, offset)
    response.headers["Upload-Offset"] = str(offset)
    return Received(offset=offset)


async def _after_failure(state: AppState, opened: _Open, exc: ResourceError) -> None:
    """What a refused part or completion means: the upload is over (its hidden file was
    removed), or the caller learns where to go on."""
    if exc.code in _FATAL:
        await _forget(state, opened.upload.id)
    elif exc.code in ("wrong_offset", "incomplete"):
        raise ContinueAt(exc.code, exc.message, await _held(state, opened)) from None


@router.get(
    "/resources/{resource_id}/uploads/{upload_id}",
    summary="An upload, with the offset the resource holds",
    response_model_exclude_none=True,
)
async def get_upload(resource_id: Id, upload_id: str, principal: Caller, state: State) -> UploadOut:
    opened = await _open(state, principal, resource_id, upload_id, READ)
    return _out(state, opened.upload, await _held(state, opened))


@router.post(
    "/resources/{resource_id}/uploads/{upload_id}/complete",
    summary="Verify an upload and put it in place",
    response_model_exclude_none=True,
)
async def complete_upload(
    resource_id: Id,
    upload_id: str,
    body: CompleteIn,
    response: Response,
    principal: Caller,
    state: State,
) -> Completed:
    """Checks size and SHA-256 on the resource, then renames the hidden file onto the
    target (409 ``exists`` or ``conflict`` keep the upload, for another try)."""
    opened = await _open(state, principal, resource_id, upload_id, CHANGE)
    upload = opened.upload
    try:
        done = await on_resource(
            state,
            opened.plan,
            lambda agent: RemoteFs(agent).upload_complete(
                upload.path,
                upload.id,
                size=upload.size,
                sha256=(body.sha256 or upload.sha256 or "").lower() or None,
                overwrite=upload.overwrite or body.overwrite,
                if_version=None if body.overwrite else upload.if_version,
            ),
        )
    except ResourceError as exc:
        await _after_failure(state, opened, exc)
        raise
    await _forget(state, upload.id)
    response.headers["ETag"] = etag(done.version)
    return Completed.model_validate(done, from_attributes=True)


@router.delete(
    "/resources/{resource_id}/uploads/{upload_id}", status_code=204, summary="Cancel an upload"
)
async def cancel_upload(
    resource_id: Id, upload_id: str, principal: Caller, state: State
) -> Response:
    opened = await _open(state, principal, resource_id, upload_id, CHANGE)
    hidden = _hidden(opened.upload)
    try:
        await on_resource(state, opened.plan, lambda agent: RemoteFs(agent).delete(hidden))
    except ResourceError as exc:
        if exc.code != "not_found":
            raise
    await _forget(state, upload_id)
    return Response(status_code=204)


@router.get("/uploads", summary="The caller's unfinished uploads", response_model_exclude_none=True)
async def list_uploads(
    query: Annotated[UploadListQuery, Query()], principal: Caller, state: State
) -> UploadList:
    """Newest first; ``offset`` is the last one recorded (GET an upload for the exact one)."""
    authorize(principal, READ)
    cutoff = utcnow() - _expiry(state)
    async with state.database.read() as db:
        visible = {r.id for r in await catalog.visible_resources(db, principal, state.settings)}
        statement = (
            select(Upload)
            .where(Upload.user_id == principal.user_id, Upload.last_activity_at >= cutoff)
            .order_by(Upload.created_at.desc())
        )
        if query.resource_id is not None:
            statement = statement.where(Upload.resource_id == query.resource_id)
        rows = (await db.scalars(statement)).all()
    return UploadList(uploads=[_out(state, u) for u in rows if u.resource_id in visible])
