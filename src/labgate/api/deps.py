"""Request dependencies: the app state, the request's transaction and the
authenticated principal.

FastAPI's glue only: who is calling is decided by :mod:`labgate.auth.authentication`
for every route, what they may do by :mod:`labgate.auth.policy`, which routes call with
the action they perform.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from labgate.auth.authentication import (
    SAFE_METHODS,
    authenticate,
    authenticate_websocket,
    pending_touch,
)
from labgate.auth.client import client_address
from labgate.auth.policy import Action, authorize
from labgate.auth.principal import Principal
from labgate.errors import LabgateError
from labgate.state import AppState


def get_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.labgate
    return state


State = Annotated[AppState, Depends(get_state)]
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
    # makes it now (and any request its caller's first active day here), with the
    # request's connection back in the pool: asking for a second connection while
    # holding one would deadlock once the pool is exhausted.
    touch = pending_touch(request)
    if touch is not None:
        async with state.database.session() as writer:
            await touch(writer)


Db = Annotated[AsyncSession, Depends(request_transaction, scope="function")]


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
