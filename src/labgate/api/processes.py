"""Processes and terminals on a resource: started by the user's daemon there, so they
outlive the browser, the SSH connection and the labgate server; attached to over a
WebSocket that replays what was missed and re-attaches by itself when the connection
to the resource drops.

Processes are tagged with the labgate user who started them and this installation
(labgate.resources.owners): on a shared resource several users, and several labgate
installations, may map to one remote account (one daemon), and each sees only their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, WebSocket
from pydantic import BaseModel, Field, StringConstraints, ValidationError
from starlette.websockets import WebSocketDisconnect

from labgate.agent.client import AgentCallError, AgentConnection, AgentError, ProcessStream
from labgate.agent.typed import ProcessInfo, RemoteProcesses
from labgate.api.deps import CurrentPrincipal, Db, State, accept_websocket, get_state
from labgate.api.remote_errors import resource_error, resource_errors
from labgate.api.schemas import Body, Id
from labgate.auth.live_sockets import note_use
from labgate.auth.policy import Action, authorize
from labgate.auth.principal import Principal
from labgate.errors import LabgateError, NotFound
from labgate.resources import catalog
from labgate.resources.connections import ConnectionManager
from labgate.resources.diagnostics import problem_of
from labgate.resources.owners import WorkOwner
from labgate.resources.plan import ConnectionPlan, plan_for
from labgate.state import AppState

log = logging.getLogger(__name__)

router = APIRouter(prefix="/resources", tags=["processes"])

# Waits before re-attaching after the connection to the resource dropped; after the last
# the socket reports the failure and closes (the process runs on: attach again later).
REATTACH_DELAYS_SECONDS = (0.2, 0.5, 1, 2, 4, 8, 15, 30)

# Binary frames to the browser: the offset of the first byte, the stream, the bytes.
OUTPUT_FRAME = struct.Struct(">QB")
STREAMS = {"stdout": 1, "stderr": 2, "pty": 3}

Signal = Literal["TERM", "INT", "KILL", "HUP", "QUIT", "STOP", "CONT", "USR1", "USR2", "WINCH"]


class ProcessStart(Body):
    command: Annotated[str, StringConstraints(min_length=1, max_length=100_000)] | None = None
    cwd: Annotated[str, StringConstraints(max_length=4096)] | None = None
    pty: bool = False
    cols: Annotated[int, Field(ge=1, le=1000)] = 80
    rows: Annotated[int, Field(ge=1, le=1000)] = 24
    name: Annotated[str, StringConstraints(max_length=200)] | None = None


class ProcessOut(BaseModel):
    id: str
    pid: int
    name: str
    command: str
    pty: bool
    started_at: float
    ended_at: float | None = None
    running: bool
    exit_status: int | None = None
    signal: str | None = None
    output_start: int
    output_end: int
    cols: int | None = None
    rows: int | None = None


class ProcessList(BaseModel):
    processes: list[ProcessOut]


class SignalIn(Body):
    signal: Signal = "TERM"


async def _plan(db: Db, principal: Principal, state: AppState, resource_id: Id) -> ConnectionPlan:
    resource = await catalog.get_visible(db, principal, state.settings, resource_id)
    return await plan_for(db, resource, principal)


async def _own_processes(agent: AgentConnection, owner: WorkOwner) -> list[ProcessInfo]:
    return [p for p in await RemoteProcesses(agent).processes() if owner.owns(p)]


async def own_process(agent: AgentConnection, owner: WorkOwner, process_id: str) -> ProcessInfo:
    for process in await _own_processes(agent, owner):
        if process.id == process_id:
            return process
    raise NotFound(f"There is no process {process_id!r} of yours on this resource.")


@router.post("/{resource_id}/processes", status_code=201, summary="Start a process or terminal")
async def start_process(
    resource_id: Id, body: ProcessStart, principal: CurrentPrincipal, state: State, db: Db
) -> ProcessOut:
    """Without ``command`` and with ``pty``: the user's login shell (a terminal). The
    resource's environment set-up lines run first."""
    authorize(principal, Action.USE_RESOURCE)
    plan = await _plan(db, principal, state, resource_id)
    if body.command is None and not body.pty:
        raise LabgateError("A command is needed (or pty: true for a terminal).")
    with resource_errors():
        started = await RemoteProcesses(await state.connections.agent(plan)).start(
            command=body.command,
            pty=body.pty,
            cwd=body.cwd,
            name=body.name,
            setup_lines=plan.setup_lines,
            owner=plan.owner.tag,
            max_running=state.settings.max_processes_per_resource,
            cols=body.cols if body.pty else None,
            rows=body.rows if body.pty else None,
        )
    return ProcessOut.model_validate(started, from_attributes=True)


@router.get("/{resource_id}/processes", summary="Your processes and terminals there")
async def list_processes(
    resource_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> ProcessList:
    authorize(principal, Action.READ_RESOURCE)
    plan = await _plan(db, principal, state, resource_id)
    processes = await _own_processes(await state.connections.agent(plan), plan.owner)
    return ProcessList(
        processes=[ProcessOut.model_validate(p, from_attributes=True) for p in processes]
    )


@router.post(
    "/{resource_id}/processes/{process_id}/signal", status_code=204, summary="Send a signal"
)
async def signal_process(
    resource_id: Id,
    process_id: str,
    body: SignalIn,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> Response:
    authorize(principal, Action.USE_RESOURCE)
    plan = await _plan(db, principal, state, resource_id)

    with resource_errors():
        agent = await state.connections.agent(plan)
        await own_process(agent, plan.owner, process_id)
        await RemoteProcesses(agent).signal(process_id, body.signal)
    return Response(status_code=204)


@router.delete(
    "/{resource_id}/processes/{process_id}", status_code=204, summary="Forget an ended process"
)
async def forget_process(
    resource_id: Id, process_id: str, principal: CurrentPrincipal, state: State, db: Db
) -> Response:
    """Removes an ended process and its recorded output; a running one answers 409
    (signal it first)."""
    authorize(principal, Action.USE_RESOURCE)
    plan = await _plan(db, principal, state, resource_id)

    with resource_errors():
        agent = await state.connections.agent(plan)
        await own_process(agent, plan.owner, process_id)
        await RemoteProcesses(agent).forget(process_id)
    return Response(status_code=204)


# -- attaching -----------------------------------------------------------------------------


class ControlMessage(BaseModel):
    type: Literal["resize", "signal"]
    cols: Annotated[int, Field(ge=1, le=1000)] = 80
    rows: Annotated[int, Field(ge=1, le=1000)] = 24
    signal: Signal = "INT"


@router.websocket("/{resource_id}/processes/{process_id}/attach")
async def attach(
    websocket: WebSocket,
    resource_id: Id,
    process_id: str,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> None:
    """Output as binary frames (``>QB`` offset and stream, then the bytes), from
    ``offset``; binary frames from the browser are the process's input, text frames
    ``{"type": "resize"|"signal"}`` control it. Text frames from the server: ``attached``,
    ``reconnecting``, ``exit``, ``failed``."""
    principal = await accept_websocket(websocket, Action.USE_RESOURCE, resource_id=resource_id)
    if principal is None:
        return
    state = get_state(websocket)
    try:
        async with state.database.read() as db:
            resource = await catalog.get_visible(db, principal, state.settings, resource_id)
            plan = await plan_for(db, resource, principal)
        agent = await state.connections.agent(plan)
        await own_process(agent, plan.owner, process_id)
    except Exception as exc:
        await close_failed(websocket, exc)
        return
    await Attachment(websocket, state.connections, plan, process_id, offset).run(agent)


async def close_failed(websocket: WebSocket, exc: BaseException) -> None:
    problem = problem_of(exc)
    with contextlib.suppress(Exception):
        await websocket.send_json(
            {"type": "failed", "error": {"code": problem.code, "message": problem.message}}
        )
        await websocket.close()


class Attachment:
    """A browser's socket attached to a process (its owner's, or a terminal shared with
    the browser's user: :mod:`labgate.api.terminal_shares`). ``view_only``: what the
    browser sends (input, resizing, signals) is dropped here, at the server."""

    def __init__(
        self,
        websocket: WebSocket,
        manager: ConnectionManager,
        plan: ConnectionPlan,
        process_id: str,
        offset: int,
        *,
        view_only: bool = False,
    ) -> None:
        self.websocket = websocket
        self.view_only = view_only
        self.manager = manager
        self.plan = plan
        self.process_id = process_id
        self.offset = offset
        self.stream: ProcessStream | None = None
        # Set while attached: input typed before (or while re-attaching) waits for it.
        self.attached = asyncio.Event()
        self.browser_gone = False

    async def run(self, agent: AgentConnection) -> None:
        inbound = asyncio.create_task(self._from_browser())
        try:
            while not self.browser_gone:
                try:
                    finished = await self._relay(agent)
                except (AgentError, ConnectionError) as exc:
                    log.info("attachment to %s lost: %s", self.process_id, exc)
                    finished = False
                except AgentCallError as exc:  # the process was forgotten meanwhile
                    await close_failed(self.websocket, resource_error(exc))
                    return
                if finished or self.browser_gone:
                    break
                reattached = await self._reconnect()
                if reattached is None:
                    return
                agent = reattached
        finally:
            inbound.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await inbound
            if self.stream is not None:
                with contextlib.suppress(Exception):
                    await self.stream.detach()
        with contextlib.suppress(Exception):
            await self.websocket.close()

    async def _relay(self, agent: AgentConnection) -> bool:
        """Stream output until the process ends (True) or the connection drops (False)."""
        stream = await RemoteProcesses(agent).attach(self.process_id, self.offset)
        self.stream = stream
        self.attached.set()
        await self.websocket.send_json(
            {"type": "attached", "offset": stream.start_offset, "dropped": stream.dropped}
        )
        async for chunk in stream:
            frame = OUTPUT_FRAME.pack(chunk.offset, STREAMS.get(chunk.stream, 0)) + chunk.data
            await self.websocket.send_bytes(frame)
            self.offset = chunk.end
        self.offset = stream.offset
        if stream.exit is None:  # detached: the browser left, or the connection dropped
            return self.browser_gone
        await self.websocket.send_json(
            {
                "type": "exit",
                "exit_status": stream.exit.exit_status,
                "signal": stream.exit.signal,
            }
        )
        return True

    async def _reconnect(self) -> AgentConnection | None:
        self.attached.clear()
        for delay in REATTACH_DELAYS_SECONDS:
            await self.websocket.send_json({"type": "reconnecting", "offset": self.offset})
            await asyncio.sleep(delay)
            if self.browser_gone:
                return None
            try:
                return await self.manager.agent(self.plan)
            except Exception as exc:
                last: BaseException = exc
        await close_failed(self.websocket, last)
        return None

    async def _from_browser(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                note_use()
                if self.view_only:
                    continue  # a GUEST watches: nothing they send reaches the process
                await self.attached.wait()
                stream = self.stream
                assert stream is not None
                if message.get("bytes") is not None:
                    with contextlib.suppress(AgentError):
                        await stream.write(message["bytes"])
                elif message.get("text") is not None:
                    await self._control(stream, message["text"])
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.browser_gone = True
            if self.stream is not None:
                with contextlib.suppress(Exception):
                    await self.stream.detach()

    async def _control(self, stream: ProcessStream, text: str) -> None:
        try:
            control = ControlMessage.model_validate(json.loads(text))
        except (ValueError, ValidationError):
            return
        with contextlib.suppress(AgentError, AgentCallError):
            if control.type == "resize":
                await stream.resize(control.cols, control.rows)
            else:
                await stream.signal(control.signal)
