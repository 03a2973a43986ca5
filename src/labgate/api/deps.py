"""Request dependencies: the app state and the authenticated principal.

Authentication happens here for every route; authorisation is decided by
:mod:`labgate.auth.policy`, which routes call with the action they perform.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from labgate.auth.policy import Action, authorize
from labgate.auth.principal import Principal
from labgate.auth.sessions import (
    LiveSession,
    find_live_session,
    find_live_session_by_id,
    touch_session,
)
from labgate.auth.tokens import find_live_token, touch_token
from labgate.errors import CsrfFailed, LabgateError, NotAuthenticated
from labgate.http.client import client_address, is_https
from labgate.http.cookies import session_cookie
from labgate.state import AppState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def get_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.labgate
    return state


State = Annotated[AppState, Depends(get_state)]
_PENDING_TOUCH = "labgate_pending_touch"
_AFTER_COMMIT = "labgate_after_commit"


def after_commit(request: Request, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the request's transaction is committed (for background work
    that reads what the route wrote, e.g. a session's launch)."""
    callbacks: list[Callable[[], None]] = getattr(request.state, _AFTER_COMMIT, [])
    callbacks.append(callback)
    setattr(request.state, _AFTER_COMMIT, callbacks)


def recheck_sockets(request: Request, state: AppState, user_id: int) -> None:
    """Once the request's change is committed, check ``user_id``'s open WebSockets here
    at once (a logout, a new password, disabling, a revoked token: the other replicas
    notice within a second by themselves; labgate.auth.live_sockets)."""
    after_commit(request, lambda: state.live_sockets.recheck(user_id))


async def request_transaction(request: Request, state: State) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: shared and read-only for GET and HEAD, writing
    otherwise. Authentication and the route run in it; it commits when the route returns
    without error, before the response is sent, and rolls back on any error."""
    transaction = (
        state.database.read() if request.method in SAFE_METHODS else state.database.session()
    )
    async with transaction as db:
        yield db
    if request.method not in SAFE_METHODS:
        # A change may have revoked a login or token: the proxy asks the database again.
        state.recent_callers.forget_all()
    # Work the route asked to begin once its changes are visible to others.
    for callback in getattr(request.state, _AFTER_COMMIT, ()):
        callback()
    # A read-only request that found its session or token due for a "last used" update
    # makes it now, with the request's connection back in the pool: asking for a second
    # connection while holding one would deadlock once the pool is exhausted.
    touch: Callable[[AsyncSession], Awaitable[None]] | None = getattr(
        request.state, _PENDING_TOUCH, None
    )
    if touch is not None:
        async with state.database.session() as writer:
            await touch(writer)


Db = Annotated[AsyncSession, Depends(request_transaction, scope="function")]


async def authenticate(
    conn: HTTPConnection, state: AppState, *, method: str, db: AsyncSession | None = None
) -> Principal:
    """Find who is calling, by bearer token or session cookie; for cookie sessions, unsafe
    methods must carry the session's CSRF token. One query, in ``db`` (the request's
    transaction) or in a read-only one of its own; a write only when the last-used time
    is more than a minute old."""
    authorization = conn.headers.get("authorization", "")
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        token = None
        if scheme.lower() == "bearer":
            async with _reading(state, db) as reader:
                token = await find_live_token(reader, secret.strip())
        if token is None:
            raise NotAuthenticated("The API token is invalid, expired or revoked.")
        if token.stale:
            await _touch(conn, state, db, method, partial(touch_token, token_id=token.id))
        return token.principal()

    cookie = session_cookie(conn, state.settings)
    session = None
    if cookie:
        async with _reading(state, db) as reader:
            session = await find_live_session(reader, cookie, state.settings)
    if session is None:
        raise NotAuthenticated("Please log in.")
    if method not in SAFE_METHODS:
        sent = conn.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise CsrfFailed("Missing or wrong X-CSRF-Token header. Reload the page and try again.")
    return await _session_principal(conn, state, db, method, session)


async def authenticate_login(
    conn: HTTPConnection, state: AppState, login_session_id: int
) -> Principal:
    """Who is calling on an app's own origin, whose cookie names the login session it was
    opened from (see labgate.proxy.origins): that session must still be live."""
    async with state.database.read() as reader:
        session = await find_live_session_by_id(reader, login_session_id, state.settings)
    if session is None:
        raise NotAuthenticated("Your labgate login has ended. Log in again.")
    return await _session_principal(conn, state, None, "GET", session)


async def _session_principal(
    conn: HTTPConnection,
    state: AppState,
    db: AsyncSession | None,
    method: str,
    session: LiveSession,
) -> Principal:
    if session.stale:
        await _touch(conn, state, db, method, partial(touch_session, session_id=session.id))
    return session.principal()


@asynccontextmanager
async def _reading(state: AppState, db: AsyncSession | None) -> AsyncIterator[AsyncSession]:
    """``db`` when the caller has a transaction, else a read-only one for the lookup."""
    if db is not None:
        yield db
    else:
        async with state.database.read() as reader:
            yield reader


async def _touch(
    conn: HTTPConnection,
    state: AppState,
    db: AsyncSession | None,
    method: str,
    touch: Callable[[AsyncSession], Awaitable[None]],
) -> None:
    """Record that a session or token was used: in the request's transaction when it
    writes anyway, after it when it only reads (see request_transaction), or at once in
    a transaction of its own when there is no request transaction (WebSockets)."""
    if db is None:
        async with state.database.session() as writer:
            await touch(writer)
    elif method not in SAFE_METHODS:
        await touch(db)
    else:
        setattr(conn.state, _PENDING_TOUCH, touch)


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
    db: Db,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await authenticate(request, state, method=request.method, db=db)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def _caller(
    request: Request,
    state: State,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await authenticate(request, state, method=request.method)


#: The caller, looked up in a short transaction of its own, for routes that must not
#: hold the request's transaction while they work (streams, password hashing).
Caller = Annotated[Principal, Depends(_caller)]


def client_of(request: Request, state: AppState) -> str:
    return client_address(request, state.settings.trusted_proxies)


async def accept_websocket(
    websocket: WebSocket, action: Action, *, resource_id: int | None = None
) -> Principal | None:
    """Authenticate and authorise a WebSocket before accepting it. On failure the
    handshake is closed with 4401 (not logged in) or 4403 (not allowed), the error code
    as the reason, and None is returned. Once accepted, the socket is closed the same way
    when its credential ends or ``action`` (on ``resource_id``) stops being allowed
    (labgate.auth.live_sockets)."""
    state = get_state(websocket)
    try:
        principal = await authenticate_websocket(websocket, state)
        authorize(principal, action)
    except LabgateError as exc:
        await websocket.close(code=4401 if exc.status == 401 else 4403, reason=exc.code)
        return None
    await websocket.accept()
    state.live_sockets.register(principal, action, resource_id=resource_id)
    return principal
