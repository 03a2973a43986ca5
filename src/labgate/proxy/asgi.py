"""The proxy's front door: ``/s/<session>/...`` for HTTP and WebSocket.

It sits outside the API's middleware (an app's pages bring their own headers and limits)
and does, for every request and every WebSocket handshake, in this order:

1. authenticate the caller (labgate session cookie or API token; no CSRF header is asked
   for, as an app's own scripts cannot send one, but a cross-site ``Origin`` on an unsafe
   method or a WebSocket is refused, and the session cookie is ``SameSite=Lax``);
2. authorise through :mod:`labgate.auth.policy` (``USE_SESSION``: the session's owner,
   or someone it is shared with, in their role, with the ``write`` scope, not while a
   one-time password waits to be replaced; a GUEST only looks: safe methods, the POSTs
   its template lists as reading only, no WebSocket);
3. check the session is running (else a clear answer: starting, ended, unknown);
4. forward to the app through the resource's connection, with labgate's credentials
   removed and the app's own added, and note the activity.

With ``app_domain`` set, each app is served from an origin of its own
(:mod:`labgate.proxy.origins`): a browser that asks labgate's origin for ``/s/<id>/...``
is sent there with a one-time grant, which signs in only that browser (a round trip
through labgate's ``/_labgate/confirm`` proves it), and the app's origin knows the caller
by its own cookie. Requests with a labgate API token (scripts) are served on either
origin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from labgate.auth.authentication import authenticate, authenticate_login, expected_origin
from labgate.auth.cookies import session_cookie
from labgate.auth.live_sockets import note_use
from labgate.auth.policy import SessionRole
from labgate.auth.principal import Principal
from labgate.auth.secrets import digest
from labgate.auth.tokens import is_labgate_authorization
from labgate.errors import LabgateError
from labgate.launching.upstream import UpstreamError
from labgate.proxy.answers import (
    ProxyError,
    answer_error,
    header,
    redirect,
    refuse_websocket,
    see_other,
)
from labgate.proxy.forward import BrowserLeft, forward_http, target_of
from labgate.proxy.origins import (
    CONFIRM_PATH,
    ENTER_PATH,
    SIGN_IN_PATH,
    binding_of,
    is_binding,
)
from labgate.proxy.prefix import Prefix
from labgate.proxy.routes import PREFIX, Route, usable_route
from labgate.proxy.websocket import relay_websocket
from labgate.state import AppState
from labgate.transport.base import StreamOpenFailed

log = logging.getLogger(__name__)

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class ProxyMiddleware:
    """Sends ``/s/...`` and every request to a session's own origin to the proxy,
    everything else on to labgate's app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            # Starlette puts itself in the scope before its middleware runs.
            state: AppState = scope["app"].state.labgate
            on_app_origin = (
                state.origins.session_of(header(scope, b"host") or "")
                if state.origins.enabled
                else None
            )
            if (
                on_app_origin is not None
                or scope["path"].startswith(PREFIX)
                or (scope["path"] == CONFIRM_PATH and state.origins.enabled)
            ):
                await SessionProxy(state).handle(scope, receive, send, on_app_origin)
                return
        await self.app(scope, receive, send)


def _split(path: str) -> tuple[str, str]:
    """``/s/<id>/rest`` -> (id, "/rest"); (id, "") for ``/s/<id>`` without the slash."""
    rest = path[len(PREFIX) :]
    session_id, slash, tail = rest.partition("/")
    return session_id, (slash + tail)


class SessionProxy:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self.origins = state.origins

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, on_app_origin: str | None
    ) -> None:
        try:
            if on_app_origin is None:
                await self._on_labgate_origin(scope, receive, send)
            else:
                await self._on_app_origin(scope, receive, send, on_app_origin)
        except ProxyError as exc:
            if scope["type"] == "websocket":
                await refuse_websocket(receive, send, exc)
            else:
                if exc.link is None and on_app_origin is not None:
                    exc.link = (self.origins.labgate_origin + "/", "Back to labgate")
                await answer_error(scope, send, exc)

    async def _on_labgate_origin(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == CONFIRM_PATH:
            if scope["type"] != "http":
                raise ProxyError(404, "not_found", "There is nothing here.")
            await self._confirm(scope, send)
            return
        session_id, tail = _split(scope["path"])
        conn = HTTPConnection(_without_app_authorization(scope))
        _check_origin(scope, conn, lambda: expected_origin(conn, self.state))
        principal = await self._authenticated(conn)
        route, role = await self._route(session_id, principal, scope)
        if self.origins.enabled and principal.via == "session":
            await self._send_to_app_origin(scope, send, route, principal)
            return
        if principal.via == "session" and role is not SessionRole.OWNER and _serves_pages(route):
            # On labgate's own origin, the owner's page scripts would act with this
            # viewer's login (read their CSRF token, call the API as them).
            raise ProxyError(
                403,
                "sharing_needs_app_domain",
                "This app is shared with you, but labgate can open others' web apps only "
                "from an origin of their own: an administrator must set app_domain.",
                link=(f"{self.origins.labgate_origin}/", "Back to labgate"),
            )
        await self._serve(scope, receive, send, route, principal, role, tail, framed_by=None)

    async def _on_app_origin(
        self, scope: Scope, receive: Receive, send: Send, host_session: str
    ) -> None:
        path = scope["path"]
        if path == ENTER_PATH and scope["type"] == "http":
            await self._enter(scope, send, host_session)
            return
        if path == SIGN_IN_PATH and scope["type"] == "http":
            await self._sign_in(scope, send, host_session)
            return
        session_id, tail = _split(path) if path.startswith(PREFIX) else ("", "")
        if session_id != host_session:
            raise ProxyError(404, "not_found", "There is nothing here but the session's app.")
        conn = HTTPConnection(_without_app_authorization(scope))
        _check_origin(scope, conn, lambda: self.origins.origin(host_session))
        if conn.headers.get("authorization"):
            principal = await self._authenticated(conn)  # a labgate API token
        else:
            login = self.origins.login_of(
                conn.cookies.get(self.origins.app_cookie, ""), host_session
            )
            if login is None:
                raise ProxyError(
                    401,
                    "not_authenticated",
                    "Open this session from labgate.",
                    link=(self._labgate_url(scope), "Open it through labgate"),
                )
            principal = await self._authenticated(conn, login=login)
        route, role = await self._route(session_id, principal, scope)
        await self._serve(
            scope,
            receive,
            send,
            route,
            principal,
            role,
            tail,
            framed_by=self.origins.labgate_origin.encode(),
        )

    async def _authenticated(self, conn: HTTPConnection, *, login: int | None = None) -> Principal:
        async def look_up() -> Principal:
            try:
                if login is not None:
                    return await authenticate_login(conn, self.state, login)
                return await authenticate(conn, self.state, method="GET")
            except LabgateError as exc:
                raise ProxyError(exc.status, exc.code, exc.message) from exc

        key = _caller_key(conn, login, session_cookie(conn, self.state.settings))
        if not key:
            return await look_up()  # no credential: "please log in", said by authenticate
        return await self.state.recent_callers.find(key, look_up)

    async def _route(
        self, session_id: str, principal: Principal, scope: Scope | None = None
    ) -> tuple[Route, SessionRole]:
        """The session's route and the caller's role, if they may make this request
        (``scope``; None: a step of an app origin's sign-in, which only looks), and if
        the session is a web app that is ready."""
        route, role = await usable_route(
            self.state.routes,
            session_id,
            principal,
            acts=lambda route: scope is not None and _acts(scope, route),
            # A shared terminal never has an endpoint: it is told apart below, not
            # taken for a web app still starting.
            needs_endpoint=False,
        )
        if route.template is not None and route.template.view != "web":
            # A desktop speaks RFB, not HTTP, and a shared terminal is the owner's
            # process: each is opened in a labgate pane of its own.
            raise ProxyError(
                404,
                "not_a_web_app",
                f"This session is a {route.template.title}: open it from labgate's Sessions "
                "list, which shows it in a pane of its own.",
                link=(f"{self.origins.labgate_origin}/", "Open labgate"),
            )
        if route.endpoint is None:
            raise ProxyError(503, "session_not_ready", "This session is not ready yet.")
        return route, role

    async def _send_to_app_origin(
        self, scope: Scope, send: Send, route: Route, principal: Principal
    ) -> None:
        """A browser signed in to labgate goes to the app's own origin with a grant."""
        origin = self.origins.origin(route.session_id)
        if scope["type"] == "websocket" or scope["method"] not in _SAFE:
            raise ProxyError(
                403, "wrong_origin", f"This session's app is served from {origin}, not here."
            )
        assert principal.session_id is not None  # a cookie's principal has its session
        grant = self.origins.grant(route.session_id, principal.session_id)
        query = urlencode({"grant": grant, "next": _path_and_query(scope)})
        await redirect(send, f"{origin}{ENTER_PATH}?{query}", b"")

    async def _enter(self, scope: Scope, send: Send, host_session: str) -> None:
        """Step 2 on the app's origin: bind this browser (a cookie of this origin), then
        back to labgate's origin, which knows whose browser it is."""
        fields = _query(scope)
        grant = fields.get("grant", "")
        claims = self.origins.check_grant(grant, host_session)
        if claims is None:
            raise self._grant_invalid(host_session)
        # Only a login that may use the session gets this far (said here, not after the
        # round trip); labgate's origin asks again, for the browser's own login.
        principal = await self._authenticated(HTTPConnection(scope), login=claims.login)
        await self._route(host_session, principal)
        binding, binding_header = self.origins.new_binding()
        query = urlencode(
            {
                "session": host_session,
                "grant": grant,
                "bind": binding_of(binding),
                "next": fields.get("next", ""),
            }
        )
        location = f"{self.origins.labgate_origin}{CONFIRM_PATH}?{query}"
        await see_other(send, location, [(b"set-cookie", binding_header)])

    async def _confirm(self, scope: Scope, send: Send) -> None:
        """Step 3 on labgate's origin: the grant is this browser's login's; a pass for
        the binding the app's origin set in this browser."""
        fields = _query(scope)
        session_id = fields.get("session", "")
        principal = await self._authenticated(HTTPConnection(_without_app_authorization(scope)))
        grant = self.origins.check_grant(fields.get("grant", ""), session_id)
        binding = fields.get("bind", "")
        if grant is None or not is_binding(binding):
            raise self._grant_invalid(session_id)
        if principal.via != "session" or grant.login != principal.session_id:
            raise self._other_browser(session_id)
        await self._route(session_id, principal)
        if not await self.origins.take(grant):
            raise self._grant_invalid(session_id)
        query = urlencode(
            {
                "grant": self.origins.pass_for(session_id, grant.login, binding),
                "next": fields.get("next", ""),
            }
        )
        origin = self.origins.origin(session_id)
        await see_other(send, f"{origin}{SIGN_IN_PATH}?{query}", [])

    async def _sign_in(self, scope: Scope, send: Send, host_session: str) -> None:
        """Step 4 on the app's origin: the pass, in the browser it is bound to, sets the
        origin's own cookie; then on to the page asked for."""
        fields = _query(scope)
        conn = HTTPConnection(scope)
        claims = self.origins.check_pass(fields.get("grant", ""), host_session)
        if claims is None:
            raise self._grant_invalid(host_session)
        if not claims.binds(conn.cookies.get(self.origins.binding_cookie, "")):
            raise self._other_browser(host_session)
        if not await self.origins.take(claims):
            raise self._grant_invalid(host_session)
        principal = await self._authenticated(conn, login=claims.login)
        await self._route(host_session, principal)
        home = f"{PREFIX}{host_session}/"
        wanted = fields.get("next", "")
        # Only the session's own pages: never a redirect to elsewhere.
        target = wanted if wanted.startswith(home) else home
        cookies = [
            (b"set-cookie", self.origins.set_cookie_header(host_session, claims.login)),
            (b"set-cookie", self.origins.clear_binding_header()),
        ]
        await see_other(send, target, cookies)

    def _grant_invalid(self, session_id: str) -> ProxyError:
        return ProxyError(
            403,
            "grant_invalid",
            "This link to the app has expired or was used already.",
            link=(f"{self.origins.labgate_origin}{PREFIX}{session_id}/", "Open the session again"),
        )

    def _other_browser(self, session_id: str) -> ProxyError:
        return ProxyError(
            403,
            "grant_other_browser",
            "This link to the app was made for another browser or another login. Open "
            "the session from labgate in this browser.",
            link=(f"{self.origins.labgate_origin}{PREFIX}{session_id}/", "Open the session"),
        )

    def _labgate_url(self, scope: Scope) -> str:
        return self.origins.labgate_origin + _path_and_query(scope)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        principal: Principal,
        role: SessionRole,
        tail: str,
        *,
        framed_by: bytes | None,
    ) -> None:
        if not tail and scope["type"] == "http":
            # The app's relative links need the trailing slash.
            await redirect(send, f"{PREFIX}{route.session_id}/", scope.get("query_string", b""))
            return
        await self._forward(scope, receive, send, route, principal, role, framed_by)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        principal: Principal,
        role: SessionRole,
        framed_by: bytes | None,
    ) -> None:
        template = route.template
        strip = None if template is None or template.keeps_base_path else route.base_path
        target = target_of(scope, strip)
        client = scope.get("client")
        forwarded_for = client[0] if client else ""
        pool = self.state.routes.pool(route)
        self.state.activity.note(route.session_id)
        presence = self.state.presence
        try:
            if scope["type"] == "websocket":
                self.state.live_sockets.register_session_use(
                    principal,
                    role,
                    session_id=route.session_id,
                    owner_id=route.user_id,
                    resource_id=route.plan.resource_id,
                )
                with presence.connected(route.session_id, route.user_id, principal, role):
                    await relay_websocket(
                        scope,
                        receive,
                        send,
                        pool.opener,
                        target=target,
                        auth=route.auth_header,
                        forwarded_for=forwarded_for,
                        max_message_bytes=self.state.settings.proxy_websocket_max_message_bytes,
                        on_activity=lambda: _used(self.state, route.session_id),
                    )
            else:
                presence.visit(route.session_id, route.user_id, principal, role)
                await forward_http(
                    scope,
                    receive,
                    send,
                    pool,
                    target=target,
                    auth=route.auth_header,
                    forwarded_for=forwarded_for,
                    forwarded_proto=scope.get("scheme", "http"),
                    framed_by=framed_by,
                    prefix=Prefix(route.base_path, header(scope, b"host") or ""),
                    page_rewrites=route.page_rewrites,
                )
        except BrowserLeft:
            return
        except (UpstreamError, StreamOpenFailed, ConnectionError, OSError) as exc:
            log.info("proxy to session %s failed: %s", route.session_id, exc)
            self.state.routes.drop(route.session_id)
            raise ProxyError(
                502, "app_unreachable", "The app did not answer. It may have stopped."
            ) from exc
        except LabgateError as exc:  # connecting to the resource failed
            raise ProxyError(502, exc.code, exc.message) from exc


def _used(state: AppState, session_id: str) -> None:
    """The browser sent something on a session's WebSocket: the app and the login are
    in use."""
    state.activity.note(session_id)
    note_use()


def _serves_pages(route: Route) -> bool:
    """Whether the session's app is a web app, whose pages the proxy serves (a desktop's
    is opened in labgate's desktop pane; an unknown template's is taken for a web app)."""
    return route.template is None or route.template.view == "web"


def _acts(scope: Scope, route: Route) -> bool:
    """Whether the request may change something in the app: a WebSocket, an unsafe
    method, but a POST to a path the template lists as only reading."""
    if scope["type"] == "websocket":
        return True
    method = scope["method"]
    if method in _SAFE:
        return False
    template = route.template
    # The path as sent, which is what the app gets (not one with %2F decoded).
    sent = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    return not (
        method == "POST" and template is not None and template.guest_may_post(sent, route.base_path)
    )


def _check_origin(scope: Scope, conn: HTTPConnection, expected: Callable[[], str]) -> None:
    """A WebSocket or an unsafe method from another origin is refused (browsers always
    send Origin with those, and cannot be made to lie about it)."""
    if scope["type"] == "websocket" or scope["method"] not in _SAFE:
        origin = conn.headers.get("origin")
        if origin is not None and origin != expected():
            raise ProxyError(403, "forbidden", f"Requests from {origin} are not allowed here.")


def _caller_key(conn: HTTPConnection, login: int | None, cookie: str | None) -> str:
    """What names the caller's credential in :class:`RecentCallers` ("" for none):
    the app origin's login, the API token, or labgate's login cookie."""
    if login is not None:
        return f"login:{login}"
    authorization = conn.headers.get("authorization")
    if authorization:
        return "authorization:" + digest(authorization)
    return "cookie:" + digest(cookie) if cookie else ""


def _path_and_query(scope: Scope) -> str:
    return target_of(scope, None).decode("latin-1")


def _without_app_authorization(scope: Scope) -> Scope:
    """The scope as labgate authenticates it: an ``Authorization`` header that is not a
    labgate API token is the app's business (JupyterLab's pages, a web app's own login),
    so the caller is then known by the session cookie."""
    headers = [
        (name, value)
        for name, value in scope["headers"]
        if name != b"authorization" or is_labgate_authorization(value.decode("latin-1"))
    ]
    return scope if len(headers) == len(scope["headers"]) else {**scope, "headers": headers}


def _query(scope: Scope) -> dict[str, str]:
    """The query's fields, the first value of each."""
    fields = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {name: values[0] for name, values in fields.items()}
