"""Who may open a session's desktop, and whether only to watch it.

One decision, asked at every handshake of the desktop WebSocket: the proxy's
(:func:`labgate.proxy.routes.usable_route`: the session exists, the caller has a role in
it, the owner may still use the resource, the session runs), and the session's app must
be a desktop. The owner and those it is shared with as USER or SUPPORT use it; a GUEST
watches: the bridge drops their input (a desktop's template lets guests in, since the
bridge can hold them to watching).
"""

from __future__ import annotations

from dataclasses import dataclass

from labgate.auth.policy import SessionRole
from labgate.auth.principal import Principal
from labgate.proxy.answers import ProxyError
from labgate.proxy.routes import Route, RouteTable, usable_route


@dataclass(frozen=True)
class DesktopAccess:
    """A caller's way to a desktop: where it is, and whether their input is dropped."""

    route: Route
    role: SessionRole
    view_only: bool


async def desktop_access(
    routes: RouteTable, session_id: str, principal: Principal
) -> DesktopAccess:
    """``principal``'s access to the desktop of session ``session_id``; :class:`ProxyError`
    (404, 403, 410, 503) when there is none now."""
    # Opening it only looks: what a GUEST sends is the bridge's to drop.
    route, role = await usable_route(routes, session_id, principal, acts=lambda _: False)
    if route.template is None or route.template.view != "desktop":
        raise ProxyError(404, "not_a_desktop", "This session's app is not a desktop.")
    return DesktopAccess(route, role, view_only=role is SessionRole.GUEST)
