"""The desktop WebSocket: ``/api/v1/sessions/{session_id}/desktop``, RFB in binary frames
between the browser's noVNC and the session's VNC server (:mod:`labgate.desktops.bridge`).

A refusal accepts the handshake and closes at once with a code, which a browser sees
only after acceptance (4000 + the HTTP status, the error code as the reason): 4401 not
logged in; 4403 not allowed (another user's session, a read-only token, a one-time
password to replace, a cross-site origin, access to the resource lost); 4404 no such
session, or not a desktop; 4410 the session has ended; 4503 not running yet, or the
desktop cannot be reached; 4502 the desktop refused labgate. Once open, the socket
closes when the caller's login or access ends (:mod:`labgate.auth.live_sockets`).
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from labgate.api.deps import get_state
from labgate.auth.authentication import authenticate_websocket
from labgate.desktops.access import desktop_access
from labgate.desktops.bridge import refuse, serve_desktop
from labgate.errors import LabgateError
from labgate.proxy.answers import ProxyError

router = APIRouter(tags=["desktops"])


@router.websocket("/sessions/{session_id}/desktop")
async def desktop(websocket: WebSocket, session_id: str) -> None:
    """A session's remote desktop over RFB (see the module's doc for the close codes)."""
    state = get_state(websocket)
    try:
        principal = await authenticate_websocket(websocket, state)
        access = await desktop_access(state.routes, session_id, principal)
    except (LabgateError, ProxyError) as exc:
        await refuse(websocket, 4000 + exc.status, exc.code)
        return
    route = access.route
    state.live_sockets.register_session_use(
        principal,
        access.role,
        session_id=route.session_id,
        owner_id=route.user_id,
        resource_id=route.plan.resource_id,
    )
    # A shared user watching or working in it is connected (the owner sees who, and hears
    # of joins).
    with state.presence.connected(route.session_id, route.user_id, principal, access.role):
        await serve_desktop(websocket, state, access)
