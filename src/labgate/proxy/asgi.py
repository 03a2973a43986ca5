"""The proxy's front door: ``/s/<session>/...`` for HTTP and WebSocket.

It sits outside the API's middleware (an app's pages bring their own headers and limits)
and does, for every request and every WebSocket handshake, in this order:

1. authenticate the caller (labgate session cookie or API token; no CSRF header is asked
   for, as an app's own scripts cannot send one, but a cross-site ``Origin`` on an unsafe
   method or a WebSocket is refused, and the session cookie is ``SameSite=Lax``);
2. authorise: only the session's owner (shared members come with sharing);
3. check the session is running (else a clear answer: starting, ended, unknown);
4. forward to the app through the resource's connection, with labgate's credentials
   removed and the app's own added, and note the activity.
"""

from __future__ import annotations

import json
import logging
from html import escape

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from labgate.api.deps import authenticate, expected_origin
from labgate.auth.tokens import TOKEN_PREFIX
from labgate.db.models import ENDED_SESSION_STATES, SessionState
from labgate.errors import LabgateError
from labgate.proxy.forward import BrowserLeft, forward_http, target_of
from labgate.proxy.routes import Route
from labgate.proxy.upstream import UpstreamError
from labgate.proxy.websocket import relay_websocket
from labgate.state import AppState
from labgate.transport.base import StreamOpenFailed

log = logging.getLogger(__name__)

PREFIX = "/s/"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class ProxyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class ProxyMiddleware:
    """Sends ``/s/...`` to the proxy, everything else on to labgate's app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith(PREFIX):
            # Starlette puts itself in the scope before its middleware runs.
            state: AppState = scope["app"].state.labgate
            await SessionProxy(state).handle(scope, receive, send)
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

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = scope["type"] == "websocket"
        session_id, tail = _split(scope["path"])
        try:
            route = await self._authorised_route(scope, session_id)
            if not tail and not websocket:
                # The app's relative links need the trailing slash.
                await _redirect(send, f"{PREFIX}{session_id}/", scope.get("query_string", b""))
                return
            await self._forward(scope, receive, send, route)
        except ProxyError as exc:
            if websocket:
                await _refuse_websocket(receive, send, exc)
            else:
                await _answer_error(scope, send, exc)

    async def _authorised_route(self, scope: Scope, session_id: str) -> Route:
        conn = HTTPConnection(_without_app_authorization(scope))
        method = "GET" if scope["type"] == "websocket" else scope["method"]
        if scope["type"] == "websocket" or method not in _SAFE:
            origin = conn.headers.get("origin")
            if origin is not None and origin != expected_origin(conn, self.state):
                raise ProxyError(403, "forbidden", f"Requests from {origin} are not allowed here.")
        try:
            principal = await authenticate(conn, self.state, method="GET")
        except LabgateError as exc:
            raise ProxyError(exc.status, exc.code, exc.message) from exc
        route = await self.state.routes.get(session_id) if session_id else None
        if route is None:
            raise ProxyError(404, "not_found", "There is no such session.")
        if route.user_id != principal.user_id:
            raise ProxyError(403, "forbidden", "This session is not yours.")
        if route.state in ENDED_SESSION_STATES:
            raise ProxyError(410, "session_ended", "This session has ended.")
        if route.state != SessionState.RUNNING.value or route.endpoint is None:
            raise ProxyError(503, "session_not_ready", "This session is not ready yet.")
        return route

    async def _forward(self, scope: Scope, receive: Receive, send: Send, route: Route) -> None:
        template = route.template
        strip = (
            None if template is None or template.keeps_base_path else f"{PREFIX}{route.session_id}"
        )
        target = target_of(scope, strip)
        client = scope.get("client")
        forwarded_for = client[0] if client else ""
        pool = self.state.routes.pool(route)
        self.state.activity.note(route.session_id)
        try:
            if scope["type"] == "websocket":
                await relay_websocket(
                    scope,
                    receive,
                    send,
                    pool.opener,
                    target=target,
                    auth=route.auth_header,
                    forwarded_for=forwarded_for,
                    on_activity=lambda: self.state.activity.note(route.session_id),
                )
            else:
                await forward_http(
                    scope,
                    receive,
                    send,
                    pool,
                    target=target,
                    auth=route.auth_header,
                    forwarded_for=forwarded_for,
                    forwarded_proto=scope.get("scheme", "http"),
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


def _without_app_authorization(scope: Scope) -> Scope:
    """The scope as labgate authenticates it: an ``Authorization`` header that is not a
    labgate API token is the app's business (JupyterLab's pages send their own), so the
    caller is then known by the session cookie."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not secret.strip().startswith(TOKEN_PREFIX):
                headers = [(n, v) for n, v in scope["headers"] if n != b"authorization"]
                return {**scope, "headers": headers}
    return scope


async def _redirect(send: Send, location: str, query: bytes) -> None:
    target = location + ("?" + query.decode("latin-1") if query else "")
    await send(
        {
            "type": "http.response.start",
            "status": 307,
            "headers": [(b"location", target.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _wants_html(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value
    return False


async def _answer_error(scope: Scope, send: Send, error: ProxyError) -> None:
    if _wants_html(scope):
        body = _PAGE.format(title=escape(error.message), code=escape(error.code)).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
        content_type = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse_websocket(receive: Receive, send: Send, error: ProxyError) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    # 4xxx: the refusal's HTTP status in the close code, like labgate's own sockets.
    await send({"type": "websocket.close", "code": 4000 + error.status, "reason": error.code})


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>labgate: {title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:15vh auto;max-width:32rem;color:#1d232a}}
code{{color:#56606b}}</style></head>
<body><h1>{title}</h1><p><code>{code}</code></p>
<p><a href="/">Back to labgate</a></p></body></html>
"""
