"""Who may open a session's desktop, and whether only to watch it.

One decision, asked at every handshake of the desktop WebSocket: the proxy's
(:func:`labgate.proxy.routes.usable_route`: the session exists, ``USE_SESSION`` for this
caller, the owner may still use the resource, the session runs), and the session's app
must be a desktop. Today that is the owner alone, with full use; sharing adds others
here, some of them view-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from labgate.auth.principal import Principal
from labgate.proxy.answers import ProxyError
from labgate.proxy.routes import Route, RouteTable, usable_route


@dataclass(frozen=True)
class DesktopAccess:
    """A caller's way to a desktop: where it is, and whether their input is dropped."""

    route: Route
    view_only: bool


async def desktop_access(
    routes: RouteTable, session_id: str, principal: Principal
) -> DesktopAccess:
    """``principal``'s access to the desktop of session ``session_id``; :class:`ProxyError`
    (404, 403, 410, 503) when there is none now."""
    route = await usable_route(routes, session_id, principal)
    if route.template is None or route.template.view != "desktop":
        raise ProxyError(404, "not_a_desktop", "This session's app is not a desktop.")
    return DesktopAccess(route, view_only=False)
