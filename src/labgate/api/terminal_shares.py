"""Sharing a terminal (:mod:`labgate.sessions.terminal_share`): its owner makes it a
session, shared like any other (``/api/v1/sessions/<id>/shares``, invitations, support),
and those it is shared with attach to it over ``/api/v1/sessions/<id>/terminal``.

The socket speaks as the owner's attach socket does (:mod:`labgate.api.processes`):
output as binary frames with their offset (replayed from ``offset``), the browser's
binary frames as input, text frames ``{"type": "resize"|"signal"}``. A GUEST's binary
and text frames are dropped by the server. A refusal accepts the handshake and closes
at once with 4000 + the HTTP status and the error code as the reason: 4401 not logged
in; 4403 not allowed; 4404 no such session, or not a shared terminal; 4410 the sharing
has ended; 4503 not running. Once open, the socket closes when the caller's login or
share ends (:mod:`labgate.auth.live_sockets`), within a second on every replica.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Response, WebSocket

from labgate.api.deps import CurrentPrincipal, Db, State, get_state
from labgate.api.processes import Attachment, close_failed, own_process
from labgate.api.remote_errors import resource_errors
from labgate.api.schemas import Id
from labgate.api.sessions import SessionOut, describe
from labgate.auth.authentication import authenticate_websocket
from labgate.auth.policy import Action, SessionRole, authorize
from labgate.errors import LabgateError
from labgate.proxy.answers import ProxyError
from labgate.resources import catalog
from labgate.resources.plan import plan_for
from labgate.sessions.terminal_share import share_terminal
from labgate.terminals.access import terminal_access

router = APIRouter(tags=["terminal sharing"])


@router.post(
    "/resources/{resource_id}/processes/{process_id}/share",
    summary="Share a terminal: the session that shares it",
    responses={201: {"description": "Made now"}, 200: {"description": "It was shared already"}},
)
async def share(
    resource_id: Id,
    process_id: str,
    response: Response,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> SessionOut:
    """The caller's running terminal as a session (``view`` ``terminal``), to share with
    ``/sessions/<id>/shares``: made now (201), or the one sharing it already (200).
    Stopping that session ends the sharing; the terminal runs on."""
    authorize(principal, Action.MANAGE_SESSIONS)
    authorize(principal, Action.USE_RESOURCE)
    resource = await catalog.get_visible(db, principal, state.settings, resource_id)
    plan = await plan_for(db, resource, principal)
    with resource_errors():
        agent = await state.connections.agent(plan)
        process = await own_process(agent, plan.owner, process_id)
    row, made = await share_terminal(
        db, state.settings, state.session_tokens, principal, resource, process
    )
    response.status_code = 201 if made else 200
    return (await describe(db, state, [(row, SessionRole.OWNER)]))[0]


@router.websocket("/sessions/{session_id}/terminal")
async def terminal(
    websocket: WebSocket,
    session_id: str,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> None:
    """A shared terminal, for its owner and those it is shared with (see the module's
    doc for the frames and the close codes)."""
    state = get_state(websocket)
    try:
        principal = await authenticate_websocket(websocket, state)
        access = await terminal_access(state.routes, session_id, principal)
    except (LabgateError, ProxyError) as exc:
        await _refuse(websocket, 4000 + exc.status, exc.code)
        return
    route = access.route
    await websocket.accept()
    state.live_sockets.register_session_use(
        principal,
        access.role,
        session_id=route.session_id,
        owner_id=route.user_id,
        resource_id=route.plan.resource_id,
    )
    try:
        agent = await state.connections.agent(route.plan)
        await own_process(agent, route.plan.owner, access.process_id)
    except Exception as exc:
        await close_failed(websocket, exc)
        return
    # Those it is shared with are connected while the socket is open (the owner sees
    # who in the Share dialog, and hears of joins).
    with state.presence.connected(route.session_id, route.user_id, principal, access.role):
        attachment = Attachment(
            websocket,
            state.connections,
            route.plan,
            access.process_id,
            offset,
            view_only=access.view_only,
        )
        await attachment.run(agent)


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    """Accept, then close with ``code``: a browser sees a handshake refused before
    acceptance only as a failed connection (1006), and the pane needs the code."""
    with contextlib.suppress(Exception):  # the browser may be gone already
        await websocket.accept()
        await websocket.close(code=code, reason=reason)
