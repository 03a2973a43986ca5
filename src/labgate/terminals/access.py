"""Who may open a shared terminal, and whether only to watch it.

One decision, asked at every handshake of ``/api/v1/sessions/<id>/terminal``: the
proxy's (:func:`labgate.proxy.routes.usable_route`: the session exists, the caller has a
role in it, the owner may still use the resource, the session runs), and the session's
app must be a shared terminal (:mod:`labgate.sessions.terminal_share`). The owner and
those it is shared with as USER or SUPPORT type into it; a GUEST watches: the socket
drops what they send.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from labgate.auth.policy import SessionRole
from labgate.auth.principal import Principal
from labgate.db.models import AppSession
from labgate.proxy.answers import ProxyError
from labgate.proxy.routes import Route, RouteTable, usable_route


@dataclass(frozen=True)
class TerminalAccess:
    """A caller's way to a shared terminal: the owner's process, through the owner's
    connection (``route.plan``), and whether the caller's input is dropped."""

    route: Route
    role: SessionRole
    process_id: str
    view_only: bool


async def terminal_access(
    routes: RouteTable, session_id: str, principal: Principal
) -> TerminalAccess:
    """``principal``'s access to the terminal shared as session ``session_id``;
    :class:`ProxyError` (404, 403, 410, 503) when there is none now."""
    # Opening it only looks: what a GUEST sends is the socket's to drop.
    route, role = await usable_route(
        routes, session_id, principal, acts=lambda _: False, needs_endpoint=False
    )
    if route.template is None or route.template.view != "terminal":
        raise ProxyError(404, "not_a_terminal", "This session is not a shared terminal.")
    async with routes.database.read() as db:
        state = await db.scalar(
            select(AppSession.launcher_state).where(AppSession.id == route.session_id)
        )
    process_id = str((state or {}).get("process_id", ""))
    if not process_id:
        raise ProxyError(404, "not_a_terminal", "This session is not a shared terminal.")
    return TerminalAccess(route, role, process_id, view_only=role is SessionRole.GUEST)
