"""Request dependencies: the app state and the authenticated principal.

Authentication happens here for every route; authorisation is decided by
:mod:`labgate.auth.policy`, which routes call with the action they perform.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from labgate.auth.principal import Principal, Scope
from labgate.auth.sessions import COOKIE_NAME, resolve_session
from labgate.auth.tokens import expand_scopes, resolve_token
from labgate.db.models import Role
from labgate.errors import CsrfFailed, NotAuthenticated
from labgate.http.client import client_address, is_https
from labgate.state import AppState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def get_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.labgate
    return state


State = Annotated[AppState, Depends(get_state)]


def role_scopes(role: Role) -> frozenset[Scope]:
    return frozenset(Scope) if role is Role.ADMIN else frozenset({Scope.READ, Scope.WRITE})


async def authenticate(conn: HTTPConnection, state: AppState, *, method: str) -> Principal:
    """Find who is calling, by bearer token or session cookie; for cookie sessions, unsafe
    methods must carry the session's CSRF token."""
    authorization = conn.headers.get("authorization", "")
    async with state.database.session() as db:
        if authorization:
            scheme, _, secret = authorization.partition(" ")
            token = await resolve_token(db, secret.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                raise NotAuthenticated("The API token is invalid, expired or revoked.")
            role = Role(token.user.role)
            return Principal(
                user_id=token.user_id,
                username=token.user.username,
                role=role,
                via="token",
                scopes=expand_scopes(token.scopes) & role_scopes(role),
                token_id=token.id,
                must_change_password=token.user.must_change_password,
            )
        cookie = conn.cookies.get(COOKIE_NAME)
        session = await resolve_session(db, cookie, state.settings) if cookie else None
        if session is None:
            raise NotAuthenticated("Please log in.")
        if method not in SAFE_METHODS:
            sent = conn.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise CsrfFailed(
                    "Missing or wrong X-CSRF-Token header. Reload the page and try again."
                )
        role = Role(session.user.role)
        return Principal(
            user_id=session.user_id,
            username=session.user.username,
            role=role,
            via="session",
            scopes=role_scopes(role),
            session_id=session.id,
            must_change_password=session.user.must_change_password,
        )


def expected_origin(conn: HTTPConnection, state: AppState) -> str:
    """The origin browsers show for labgate's own pages."""
    if state.settings.public_url:
        parts = urlsplit(state.settings.public_url)
        return f"{parts.scheme}://{parts.netloc}"
    scheme = "https" if is_https(conn, state.settings.trusted_proxies) else "http"
    return f"{scheme}://{conn.headers.get('host', '')}"


async def authenticate_websocket(websocket: WebSocket, state: AppState) -> Principal:
    """Who opens a WebSocket. Browsers cannot add a CSRF header to the handshake but
    always send Origin: a handshake from any other origin (another site, or an app served
    from a sibling origin) is refused, so a page elsewhere cannot ride the user's cookie."""
    origin = websocket.headers.get("origin")
    if origin is not None and origin != expected_origin(websocket, state):
        raise CsrfFailed(f"WebSocket connections from {origin} are not allowed.")
    return await authenticate(websocket, state, method="GET")


# Declared so the API docs offer "Authorize" with a token; authenticate() reads the header.
_bearer = HTTPBearer(auto_error=False, description="An API token: `lgt_...`")


async def current_principal(
    request: Request,
    state: State,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await authenticate(request, state, method=request.method)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def client_of(request: Request, state: AppState) -> str:
    return client_address(request, state.settings.trusted_proxies)
