"""A running session for in-process proxy tests, without launching anything: a small
real app (HTTP and WebSocket, on loopback) and a session row whose endpoint is that app,
on the ``local`` resource. The proxy then reaches the app as it reaches any session's:
through the resource's connection (the local transport and its agent).

The row holds a lease far in the future, so the reconcile loop leaves it alone.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from labgate.db.engine import Database
from labgate.db.models import AppSession, Resource, ResourceKind, SessionState, User
from labgate.db.types import utcnow
from labgate.sessions.tokens import SessionTokens, new_session_id

APP_PAGE = b"<h1>the app's own page</h1>"


def plain_http(connection: ServerConnection, request: Request) -> Response | None:
    """Every request that is not a WebSocket handshake gets the app's page, but
    ``.../headers``, which gets the request's headers as JSON."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    body, kind = APP_PAGE, "text/html"
    if request.path.split("?")[0].endswith("/headers"):
        body, kind = json.dumps(dict(request.headers.raw_items())).encode(), "application/json"
    headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body)))])
    return Response(200, "OK", headers, body)


async def _echo(connection: ServerConnection) -> None:
    async for message in connection:
        await connection.send(message)


PageAnswer = Callable[[ServerConnection, Request], Response | None]


@contextlib.asynccontextmanager
async def small_app(
    on_websocket: Callable[[ServerConnection], Awaitable[None]] = _echo,
    on_http: PageAnswer = plain_http,
) -> AsyncIterator[int]:
    """An app on 127.0.0.1 that answers every page with ``APP_PAGE`` (or ``on_http``'s
    answer; None for a WebSocket handshake) and echoes WebSocket messages (or serves them
    with ``on_websocket``); yields its port."""
    async with serve(
        on_websocket, "127.0.0.1", 0, process_request=on_http, max_size=None
    ) as server:
        port: int = next(iter(server.sockets)).getsockname()[1]
        yield port


async def running_session(
    database: Database, tokens: SessionTokens, owner: str, port: int, template: str = "webapp"
) -> str:
    """A ``running`` session of ``owner`` on ``local`` whose app listens at ``port``, as
    if ``template`` (the web app's by default) had started it; its id."""
    return await session_row(
        database,
        tokens,
        owner,
        template=template,
        endpoint={"kind": "tcp", "host": "127.0.0.1", "port": port},
        title="A small app",
    )


async def session_row(
    database: Database,
    tokens: SessionTokens,
    owner: str,
    *,
    template: str,
    endpoint: dict[str, Any],
    title: str,
    token: str | None = None,
    state: SessionState = SessionState.RUNNING,
    last_activity_at: datetime | None = None,
) -> str:
    """A session of ``owner`` on ``local`` in ``state`` whose app is at ``endpoint``, as
    if ``template`` had started it, with ``token`` (a new one if None); its id. Its lease
    keeps the reconciler away."""
    session_id = new_session_id()
    async with database.session() as db:
        user_id = await db.scalar(select(User.id).where(User.username == owner))
        resource_id = await db.scalar(
            select(Resource.id).where(Resource.kind == ResourceKind.LOCAL.value)
        )
        assert user_id is not None
        assert resource_id is not None
        db.add(
            AppSession(
                id=session_id,
                user_id=user_id,
                resource_id=resource_id,
                template=template,
                launcher="direct",
                title=title,
                form={},
                state=state.value,
                endpoint=endpoint,
                sealed_token=tokens.seal(token if token is not None else tokens.new(), session_id),
                last_activity_at=last_activity_at or utcnow(),
                lease_owner="a test",
                lease_until=utcnow() + timedelta(days=1),
            )
        )
    return session_id


async def must_change_password(database: Database, username: str) -> None:
    """Give ``username`` a one-time password to replace (as an administrator's reset does)."""
    async with database.session() as db:
        await db.execute(
            update(User).where(User.username == username).values(must_change_password=True)
        )


def state_of(app: Any) -> Any:
    """The in-process app's AppState."""
    return app.state.labgate
