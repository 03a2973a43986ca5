"""Who is calling: a bearer token or the login cookie turned into a :class:`Principal`,
with the CSRF and origin checks that cookies need.

Used by the API (through :mod:`labgate.api.deps`, FastAPI's glue) and by the proxy for
every request and WebSocket handshake; authorisation is :mod:`labgate.auth.policy`. Every
caller found is also noted as active today (:mod:`labgate.auth.active_days`).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from labgate.auth.active_days import ActiveDays
from labgate.auth.client import is_https
from labgate.auth.cookies import session_cookie
from labgate.auth.principal import Principal
from labgate.auth.sessions import (
    LiveSession,
    find_live_session,
    find_live_session_by_id,
    touch_session,
)
from labgate.auth.tokens import find_live_token, touch_token
from labgate.db.engine import Database
from labgate.errors import CsrfFailed, NotAuthenticated
from labgate.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
_PENDING_TOUCH = "labgate_pending_touch"


class AuthContext(Protocol):
    """What authentication reads: the settings and the database (the app's state)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def database(self) -> Database: ...

    @property
    def active_days(self) -> ActiveDays: ...


def pending_touch(conn: HTTPConnection) -> Callable[[AsyncSession], Awaitable[None]] | None:
    """The writes a request left to make once its transaction has ended (see
    :func:`authenticate`): a read-only one's "last used" update, the day's active-day
    row; None when there are none."""
    touch: Callable[[AsyncSession], Awaitable[None]] | None = getattr(
        conn.state, _PENDING_TOUCH, None
    )
    return touch


async def authenticate(
    conn: HTTPConnection, state: AuthContext, *, method: str, db: AsyncSession | None = None
) -> Principal:
    """Find who is calling, by bearer token or session cookie; for cookie sessions, unsafe
    methods must carry the session's CSRF token. One query, in ``db`` (the request's
    transaction) or in a read-only one of its own; a write only when the last-used time
    is more than a minute old, or for the caller's first request of the day here."""
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
        principal = token.principal()
        await _note_active(conn, state, db, principal.user_id)
        return principal

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
    conn: HTTPConnection, state: AuthContext, login_session_id: int
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
    state: AuthContext,
    db: AsyncSession | None,
    method: str,
    session: LiveSession,
) -> Principal:
    if session.stale:
        await _touch(conn, state, db, method, partial(touch_session, session_id=session.id))
    principal = session.principal()
    await _note_active(conn, state, db, principal.user_id)
    return principal


@asynccontextmanager
async def _reading(state: AuthContext, db: AsyncSession | None) -> AsyncIterator[AsyncSession]:
    """``db`` when the caller has a transaction, else a read-only one for the lookup."""
    if db is not None:
        yield db
    else:
        async with state.database.read() as reader:
            yield reader


async def _touch(
    conn: HTTPConnection,
    state: AuthContext,
    db: AsyncSession | None,
    method: str,
    touch: Callable[[AsyncSession], Awaitable[None]],
) -> None:
    """Record that a session or token was used: in the request's transaction when it
    writes anyway, after it when it only reads (see api.deps.request_transaction), or at
    once in a transaction of its own when there is no request transaction (WebSockets)."""
    if db is None:
        async with state.database.session() as writer:
            await touch(writer)
    elif method not in SAFE_METHODS:
        await touch(db)
    else:
        _defer(conn, touch)


async def _note_active(
    conn: HTTPConnection, state: AuthContext, db: AsyncSession | None, user_id: int
) -> None:
    """Record that the user is active today, once a day per replica: at once without a
    request transaction, else after it has committed (only a served request counts, and
    a rolled-back one must not leave the replica believing the day recorded)."""
    day = state.active_days.due(user_id)
    if day is None:
        return
    record = partial(state.active_days.record, user_id=user_id, day=day)
    if db is None:
        async with state.database.session() as writer:
            await record(writer)
    else:
        _defer(conn, record)


def _defer(conn: HTTPConnection, write: Callable[[AsyncSession], Awaitable[None]]) -> None:
    """Leave ``write`` for after the request's transaction, after any left before it."""
    earlier = pending_touch(conn)
    if earlier is None:
        setattr(conn.state, _PENDING_TOUCH, write)
        return

    async def both(db: AsyncSession) -> None:
        await earlier(db)
        await write(db)

    setattr(conn.state, _PENDING_TOUCH, both)


def expected_origin(conn: HTTPConnection, state: AuthContext) -> str:
    """The origin browsers show for labgate's own pages."""
    if state.settings.public_url:
        parts = urlsplit(state.settings.public_url)
        return f"{parts.scheme}://{parts.netloc}"
    scheme = "https" if is_https(conn, state.settings.trusted_proxies) else "http"
    return f"{scheme}://{conn.headers.get('host', '')}"


async def authenticate_websocket(websocket: WebSocket, state: AuthContext) -> Principal:
    """Who opens a WebSocket. Browsers cannot add a CSRF header to the handshake but
    always send Origin: a handshake from any other origin (another site, or an app served
    from a sibling origin) is refused, so a page elsewhere cannot ride the user's cookie."""
    origin = websocket.headers.get("origin")
    if origin is not None and origin != expected_origin(websocket, state):
        raise CsrfFailed(f"WebSocket connections from {origin} are not allowed.")
    return await authenticate(websocket, state, method="GET")
