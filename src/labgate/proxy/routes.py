"""Where ``/s/<id>/`` leads: the session's owner, state, app endpoint and how to talk to
it, read from the database and kept for a moment per replica. Whether the owner may still
use the session's resource is read with it: a removal from a group, a demotion or a
changed ``local_resource`` setting ends their use of the app within the TTL, on every
replica (:mod:`labgate.resources.access`).

A route is cached for ``ROUTE_TTL_SECONDS`` so that a page's hundred requests do not read
the session a hundred times; a change made on this replica (stop, a new endpoint) drops
it at once, one made on another replica is seen within the TTL. Who may use the route is
decided on every request, against the caller found by :mod:`labgate.auth.recent`.

The owner's role needs no reading. Anyone else's (a share, a group's, support staff:
:mod:`labgate.sessions.sharing`) is read for them and kept with the route for
``SHARED_ROLE_TTL_SECONDS`` only: a revocation made on this replica drops the route at
once, and on PostgreSQL the other replicas are told to drop it too (the sessions' fan-out),
so even if that notice is lost, a revoked person's next request after a second is refused
everywhere. (Their open WebSockets close within a second by
:mod:`labgate.auth.live_sockets`.)

Concurrent requests that find the route missing or expired share one read of the
database (:class:`labgate.single_flight.SingleFlight`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from labgate.auth.policy import SessionRole, authorize_session_use
from labgate.auth.principal import Principal
from labgate.db.engine import Database
from labgate.db.models import ENDED_SESSION_STATES, AppSession, Resource, SessionState, User
from labgate.errors import LabgateError
from labgate.launching.launcher import Endpoint
from labgate.launching.template import AppTemplate
from labgate.launching.upstream import UpstreamPool
from labgate.proxy.answers import ProxyError
from labgate.resources.access import lost_message, may_still_use
from labgate.resources.connections import ConnectionManager
from labgate.resources.plan import ConnectionPlan, plan_for_owner
from labgate.sessions.sharing import session_access
from labgate.sessions.tokens import SessionTokens
from labgate.settings import Settings
from labgate.single_flight import SingleFlight
from labgate.transport.base import ByteReader, StreamWriter

ROUTE_TTL_SECONDS = 2.0
SHARED_ROLE_TTL_SECONDS = 1.0
#: Every session's app is below this path: ``/s/<id>/``.
PREFIX = "/s/"


@dataclass
class Route:
    session_id: str
    user_id: int
    state: str
    template: AppTemplate | None
    endpoint: Endpoint | None
    plan: ConnectionPlan
    token: str
    fetched_at: float
    pool: UpstreamPool | None = field(default=None, repr=False)
    # Why the owner may not use it any more (they lost access to the resource), if so.
    access_lost: str | None = None
    # Others' roles, by user: (when read, the role or None).
    roles: dict[int, tuple[float, SessionRole | None]] = field(default_factory=dict, repr=False)

    @property
    def auth_header(self) -> tuple[bytes, bytes] | None:
        if self.template is None or self.template.auth_header is None:
            return None
        name, value = self.template.auth_header
        return name.lower().encode(), value.replace("{token}", self.token).encode()

    @property
    def base_path(self) -> str:
        """Where the app is on labgate's side: ``/s/<id>`` (no last slash)."""
        return f"{PREFIX}{self.session_id}"

    @property
    def page_rewrites(self) -> dict[bytes, bytes]:
        """The template's page rewrites, the session's base URL filled in."""
        if self.template is None:
            return {}
        filled = {"{base_url}": self.base_path + "/", "{base_path}": self.base_path}
        rewrites: dict[bytes, bytes] = {}
        for text, replacement in self.template.page_rewrites.items():
            for placeholder, value in filled.items():
                replacement = replacement.replace(placeholder, value)
            rewrites[text.encode()] = replacement.encode()
        return rewrites


class RouteTable:
    def __init__(
        self,
        database: Database,
        connections: ConnectionManager,
        tokens: SessionTokens,
        templates: dict[str, AppTemplate],
        settings: Settings,
    ) -> None:
        self.database = database
        self.settings = settings
        self.connections = connections
        self.tokens = tokens
        self.templates = templates
        self._routes: dict[str, Route] = {}
        # Concurrent requests that find the route missing or expired share one read.
        self._reads: SingleFlight[str, Route | None] = SingleFlight()
        self._role_reads: SingleFlight[tuple[str, int], SessionRole | None] = SingleFlight()

    async def role_of(self, route: Route, principal: Principal) -> SessionRole | None:
        """The caller's role on the route's session (see the module's docstring)."""
        if principal.user_id == route.user_id:
            return SessionRole.OWNER
        now = time.monotonic()
        known = route.roles.get(principal.user_id)
        if known is not None and now - known[0] < SHARED_ROLE_TTL_SECONDS:
            return known[1]

        async def read() -> SessionRole | None:
            async with self.database.read() as db:
                access = await session_access(db, self.settings, principal, route.session_id)
            return access.role if access is not None else None

        def keep(role: SessionRole | None) -> None:
            route.roles[principal.user_id] = (now, role)

        return await self._role_reads.run((route.session_id, principal.user_id), read, keep)

    async def get(self, session_id: str) -> Route | None:
        route = self._routes.get(session_id)
        now = time.monotonic()
        if route is not None and now - route.fetched_at < ROUTE_TTL_SECONDS:
            return route
        return await self._reads.run(
            session_id,
            lambda: self._read(session_id, now),
            lambda fresh: self._keep(session_id, fresh),
        )

    def _keep(self, session_id: str, fresh: Route | None) -> None:
        if fresh is None:
            self.drop(session_id)
            return
        route = self._routes.get(session_id)
        if route is not None and route.endpoint == fresh.endpoint and route.state == fresh.state:
            fresh.pool = route.pool  # same app, same place: keep its connections
        elif route is not None and route.pool is not None:
            route.pool.close()
        self._routes[session_id] = fresh

    def drop(self, session_id: str) -> None:
        self._reads.forget(session_id)  # a read under way is not kept
        self._role_reads.forget_all()
        route = self._routes.pop(session_id, None)
        if route is not None and route.pool is not None:
            route.pool.close()

    def pool(self, route: Route) -> UpstreamPool:
        """The connections to the route's app (made on first use)."""
        if route.pool is None:
            endpoint = route.endpoint
            if endpoint is None:
                raise RuntimeError("the session has no endpoint yet")
            plan = route.plan

            async def opener() -> tuple[ByteReader, StreamWriter]:
                return await endpoint.open(await self.connections.transport(plan), route.token)

            route.pool = UpstreamPool(opener)
        return route.pool

    async def _read(self, session_id: str, now: float) -> Route | None:
        async with self.database.read() as db:
            row = (
                await db.execute(
                    select(AppSession, Resource, User)
                    .join(Resource, Resource.id == AppSession.resource_id)
                    .join(User, User.id == AppSession.user_id)
                    .where(AppSession.id == session_id)
                )
            ).first()
            if row is None:
                return None
            session, resource, user = row
            plan = await plan_for_owner(db, resource, session.user_id, user.username)
            allowed = await may_still_use(db, self.settings, session.user_id, resource)
        return Route(
            session_id=session.id,
            user_id=session.user_id,
            state=session.state,
            template=self.templates.get(session.template),
            endpoint=Endpoint.from_json(session.endpoint) if session.endpoint else None,
            plan=plan,
            token=self.tokens.open(session.sealed_token, session.id),
            fetched_at=now,
            access_lost=None if allowed else lost_message(resource.name),
        )

    def close(self) -> None:
        for session_id in list(self._routes):
            self.drop(session_id)


async def usable_route(
    routes: RouteTable,
    session_id: str,
    principal: Principal,
    *,
    acts: Callable[[Route], bool],
    needs_endpoint: bool = True,
) -> tuple[Route, SessionRole]:
    """The route to a session's app that ``principal`` may use now, and their role: the
    session exists, the caller's role allows the request (``acts``: whether it may change
    something in the app, which a GUEST may not; see
    :func:`labgate.auth.policy.authorize_session_use`), its owner may still use its
    resource, and it runs (and has an endpoint, unless ``needs_endpoint`` is False: a
    shared terminal is reached through the owner's daemon, not at an endpoint). Asked on
    every request and WebSocket handshake, by the proxy, the desktop bridge and the
    shared terminal socket; :class:`ProxyError` says why not."""
    route = await routes.get(session_id) if session_id else None
    if route is None:
        raise ProxyError(404, "not_found", "There is no such session.")
    role = await routes.role_of(route, principal)
    try:
        authorize_session_use(
            principal,
            role,
            acts=acts(route),
            guest_view=route.template is not None and route.template.guest_view,
        )
    except LabgateError as exc:
        # A one-time password to replace, a read-only token, another user's session, a
        # GUEST sending something; the error page links back to labgate, where the first
        # is put right.
        raise ProxyError(exc.status, exc.code, exc.message) from exc
    assert role is not None  # authorised
    if route.access_lost is not None:
        raise ProxyError(403, "access_lost", route.access_lost)
    if route.state in ENDED_SESSION_STATES:
        raise ProxyError(410, "session_ended", "This session has ended.")
    if route.state != SessionState.RUNNING.value or (route.endpoint is None and needs_endpoint):
        raise ProxyError(503, "session_not_ready", "This session is not ready yet.")
    return route, role
