"""Copy and move jobs between resources, or within one (``resources/transfers.py`` runs
them). Only the owner sees or cancels a job; both resources must be visible to them.

Starting a job checks what can be checked at once (the sources exist, the destination
is a directory, no name there would be replaced without ``overwrite``), so that the
browser can ask the user before anything is copied.
"""

from __future__ import annotations

import asyncio
import base64
import posixpath
import secrets
from datetime import datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.agent.client import AgentConnection
from labgate.agent.typed import FileInfo, RemoteFs
from labgate.api.deps import Caller, State
from labgate.api.files import CHANGE, READ, PathText, RawPath, on_resource, resource_plan
from labgate.api.schemas import Body, Id
from labgate.auth.policy import authorize
from labgate.auth.principal import Principal
from labgate.db.engine import lock_per_user
from labgate.db.models import Transfer, TransferState
from labgate.errors import BadRequest, FieldProblem, LabgateError, LimitReached, NotFound
from labgate.resources.plan import ConnectionPlan
from labgate.resources.transfers import FINISHED, unfinished_jobs
from labgate.resources.tree_copy import raw, shown
from labgate.state import AppState

router = APIRouter(tags=["transfers"])

MAX_PATHS = 1000
LISTED = 200


class TransferIn(Body):
    source_resource: Id
    paths: Annotated[list[PathText], Field(max_length=MAX_PATHS)] = []
    paths_raw: Annotated[list[RawPath], Field(max_length=MAX_PATHS)] = []
    destination_resource: Id
    destination_dir: PathText | None = None
    destination_dir_raw: RawPath | None = None
    move: bool = False
    overwrite: bool = False

    @model_validator(mode="after")
    def _paths(self) -> Self:
        if not self.paths and not self.paths_raw:
            raise ValueError("name at least one path (paths or paths_raw)")
        if len(self.paths) + len(self.paths_raw) > MAX_PATHS:
            raise ValueError(f"at most {MAX_PATHS} paths")
        if (self.destination_dir is None) == (self.destination_dir_raw is None):
            raise ValueError("give destination_dir or destination_dir_raw, one of them")
        return self


class TransferError(BaseModel):
    code: str
    message: str


class TransferOut(BaseModel):
    id: str
    state: str
    source_resource: Id
    destination_resource: Id
    paths: list[str]
    paths_raw: list[str] | None = None
    destination_dir: str
    destination_dir_raw: str | None = None
    move: bool
    overwrite: bool
    bytes_done: int
    bytes_total: int | None
    files_done: int
    files_total: int | None
    current: str | None
    skipped: list[str]
    error: TransferError | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Transfer) -> TransferOut:
        sources = [base64.b64decode(path) for path in job.paths]
        error = None
        if job.error_code is not None:
            error = TransferError(code=job.error_code, message=job.error_message or "")
        return cls(
            id=job.id,
            state=job.state,
            source_resource=job.source_resource_id,
            destination_resource=job.destination_resource_id,
            paths=[shown(path) for path in sources],
            paths_raw=None if all(_is_text(p) for p in sources) else list(job.paths),
            destination_dir=shown(job.destination_dir),
            destination_dir_raw=None if _is_text(job.destination_dir) else raw(job.destination_dir),
            move=job.move,
            overwrite=job.overwrite,
            bytes_done=job.bytes_done,
            bytes_total=job.bytes_total,
            files_done=job.files_done,
            files_total=job.files_total,
            current=job.current,
            skipped=job.skipped,
            error=error,
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
        )

    def event(self) -> dict[str, Any]:
        """As pushed on the events WebSocket."""
        return {"type": "transfer", "transfer": self.model_dump(mode="json")}


class TransferList(BaseModel):
    transfers: list[TransferOut]


def _is_text(path: bytes) -> bool:
    try:
        path.decode()
    except UnicodeDecodeError:
        return False
    return True


class Exists(LabgateError):
    code = "exists"
    status = 409


# -- checking a new job ---------------------------------------------------------------


def _absolute(path: str | bytes, home: str) -> bytes:
    """A path from the request as the resource's absolute bytes (``~`` is home)."""
    if isinstance(path, str):
        if path == "~" or path.startswith("~/"):
            path = home + path[1:]
        path = path.encode()
    if not path.startswith(b"/"):
        raise BadRequest("Paths must be absolute (or start with ~/).")
    if b"\0" in path:
        raise BadRequest("Paths cannot contain NUL bytes.")
    return posixpath.normpath(path)


async def _the_agent(agent: AgentConnection) -> AgentConnection:
    return agent


async def _home(state: AppState, plan: ConnectionPlan) -> tuple[AgentConnection, str]:
    agent = await on_resource(state, plan, _the_agent)
    home = state.connections.system_info(plan.user_id, plan.resource_id).get("home")
    return agent, str(home or "/")


async def _kinds(
    state: AppState, plan: ConnectionPlan, paths: list[bytes]
) -> list[FileInfo | LabgateError]:
    """``fs.stat`` of each path, side by side: the entry, or the resource's error."""

    async def one(path: bytes) -> FileInfo | LabgateError:
        try:
            return await on_resource(state, plan, lambda agent: RemoteFs(agent).stat(path))
        except LabgateError as exc:
            return exc

    return list(await asyncio.gather(*(one(path) for path in paths)))


def _inside(path: bytes, directory: bytes) -> bool:
    return path == directory or path.startswith(directory.rstrip(b"/") + b"/")


async def _checked(
    state: AppState, body: TransferIn, source: ConnectionPlan, destination: ConnectionPlan
) -> tuple[list[bytes], bytes]:
    _agent, source_home = await _home(state, source)
    _agent, destination_home = await _home(state, destination)
    given: list[str | bytes] = [*body.paths, *(base64.b64decode(p) for p in body.paths_raw)]
    sources = [_absolute(path, source_home) for path in given]
    target_dir = body.destination_dir_raw and base64.b64decode(body.destination_dir_raw)
    directory = _absolute(target_dir or body.destination_dir or "", destination_home)
    names = [posixpath.basename(path) for path in sources]
    if b"" in names:
        raise BadRequest("The root directory cannot be copied or moved.")
    if len(set(names)) != len(names):
        raise BadRequest("Two of the paths have the same name.")
    if len({posixpath.dirname(path) for path in sources}) != 1:
        raise BadRequest("All paths of one job must be in one directory.")
    if source.resource_id == destination.resource_id:
        if posixpath.dirname(sources[0]) == directory:
            raise BadRequest("The items are in that directory already.")
        if any(_inside(directory, path) for path in sources):
            raise BadRequest("A directory cannot be copied or moved into itself.")
    for found in await _kinds(state, source, sources):
        if isinstance(found, LabgateError):
            raise found
    (where,) = await _kinds(state, destination, [directory])
    if isinstance(where, LabgateError):
        raise where
    if "directory" not in (where.kind, where.target_kind):
        raise BadRequest(f"{shown(directory)} is not a directory.")
    if not body.overwrite:
        finals = [posixpath.join(directory, name) for name in names]
        taken = [
            FieldProblem(f"paths.{n}", f"{shown(names[n])} exists in {shown(directory)}")
            for n, found in enumerate(await _kinds(state, destination, finals))
            if not isinstance(found, LabgateError)
        ]
        if taken:
            raise Exists(
                "Some names exist in the destination already; send overwrite to replace them.",
                details=taken,
            )
    return sources, directory


async def _check_room(db: AsyncSession, state: AppState, user_id: int) -> None:
    """Refuse (409) a job beyond the user's ``max_running_transfers``."""
    running = await unfinished_jobs(db, user_id)
    if running >= state.settings.max_running_transfers:
        raise LimitReached(
            "too_many_transfers",
            f"You have {running} copy or move jobs running, the most labgate runs for one "
            "person at once. Wait for one to finish (or cancel one), then try again.",
        )


# Requests of one user starting jobs take turns to count them (PostgreSQL).
_JOBS_LOCK = 0x74726E73


# -- routes -------------------------------------------------------------------------------


@router.post("/transfers", status_code=201, summary="Copy or move files, as a job")
async def start_transfer(body: TransferIn, principal: Caller, state: State) -> TransferOut:
    source = await resource_plan(state, principal, body.source_resource, CHANGE)
    destination = await resource_plan(state, principal, body.destination_resource, CHANGE)
    async with state.database.read() as db:
        await _check_room(db, state, principal.user_id)  # before the resources are asked
    sources, directory = await _checked(state, body, source, destination)
    job = Transfer(
        id=secrets.token_hex(12),
        user_id=principal.user_id,
        source_resource_id=source.resource_id,
        destination_resource_id=destination.resource_id,
        paths=[raw(path) for path in sources],
        destination_dir=directory,
        move=body.move,
        overwrite=body.overwrite,
        state=TransferState.RUNNING.value,
        bytes_done=0,
        files_done=0,
        skipped=[],
        cancel_requested=False,
        runner=state.transfers.replica,
    )
    async with state.database.session() as db:
        await lock_per_user(db, _JOBS_LOCK, principal.user_id)
        await _check_room(db, state, principal.user_id)
        db.add(job)
    state.transfers.start(job, source, destination)
    return TransferOut.of(job)


async def _own(state: AppState, principal: Principal, transfer_id: str) -> Transfer:
    async with state.database.read() as db:
        job = await db.get(Transfer, transfer_id)
    if job is None or job.user_id != principal.user_id:
        raise NotFound(f"There is no transfer {transfer_id}.")
    return job


@router.get("/transfers", summary="The caller's copy and move jobs")
async def list_transfers(principal: Caller, state: State) -> TransferList:
    authorize(principal, READ)
    async with state.database.read() as db:
        jobs = await db.scalars(
            select(Transfer)
            .where(Transfer.user_id == principal.user_id)
            .order_by(Transfer.created_at.desc())
            .limit(LISTED)
        )
        return TransferList(transfers=[TransferOut.of(job) for job in jobs])


@router.get("/transfers/{transfer_id}", summary="One copy or move job")
async def get_transfer(transfer_id: str, principal: Caller, state: State) -> TransferOut:
    authorize(principal, READ)
    return TransferOut.of(await _own(state, principal, transfer_id))


@router.delete(
    "/transfers/{transfer_id}", status_code=204, summary="Cancel a job, or forget a finished one"
)
async def cancel_transfer(transfer_id: str, principal: Caller, state: State) -> Response:
    authorize(principal, CHANGE)
    await _own(state, principal, transfer_id)
    async with state.database.session() as db:
        job = await db.get(Transfer, transfer_id)
        if job is not None and TransferState(job.state) in FINISHED:
            await db.delete(job)
        elif job is not None:
            job.cancel_requested = True
            job.state = TransferState.CANCELLING.value
    state.transfers.cancel(transfer_id)
    return Response(status_code=204)
