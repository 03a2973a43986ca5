"""Driving the app at the ASGI level, for what an HTTP client library hides: a client
that stops reading a response, or one that leaves in the middle of its request body."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from tests.support.eventually import PATIENCE_SECONDS


def http_scope(
    method: str, path: str, query: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> dict[str, Any]:
    """An HTTP request's scope for the in-process app, from the tests' client address."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": urlencode(query, doseq=True).encode(),
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }


@contextlib.asynccontextmanager
async def stalled_reader(app: Any, scope: dict[str, Any]) -> AsyncIterator[list[int]]:
    """A GET whose client takes the first bytes of the body, then reads nothing more and
    never leaves. Inside the block those first bytes have arrived; yields the statuses
    the app started its response with. Afterwards the request is cancelled."""
    requested = False
    started: list[int] = []
    first_bytes = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append(message["status"])
        elif message.get("body"):
            first_bytes.set()
            await asyncio.Event().wait()  # and reads nothing more

    response = asyncio.create_task(app(scope, receive, send))
    try:
        await asyncio.wait_for(first_bytes.wait(), PATIENCE_SECONDS)
        yield started
    finally:
        response.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await response


async def leaving_writer(app: Any, scope: dict[str, Any], pieces: list[bytes]) -> list[int]:
    """A request whose client sends ``pieces`` of its body, then leaves without ending
    it (a closed tab, a dropped connection); the statuses the app answered with."""
    answered: list[int] = []
    left = list(pieces)

    async def receive() -> dict[str, Any]:
        if left:
            return {"type": "http.request", "body": left.pop(0), "more_body": True}
        await asyncio.sleep(0.2)  # the client lingers a moment before it leaves
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    await app(scope, receive, send)
    return answered


def websocket_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """A WebSocket handshake's scope for the in-process app (``host`` may be in
    ``headers``, else ``testserver``)."""
    names = {name for name, _ in headers}
    host = [] if b"host" in names else [(b"host", b"testserver")]
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [*host, *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
        "subprotocols": [],
    }


async def websocket_answer(app: Any, scope: dict[str, Any], message: str = "ping") -> Any:
    """Open a WebSocket to the in-process app: the close code it was refused with (an
    int; also when it was accepted and closed at once, as the desktop socket refuses), or,
    when accepted, what came back for ``message`` (then the client leaves)."""
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})

    async def send(event: dict[str, Any]) -> None:
        await outbox.put(event)

    session = asyncio.create_task(app(scope, inbox.get, send))
    try:
        first = await asyncio.wait_for(outbox.get(), PATIENCE_SECONDS)
        if first["type"] == "websocket.close":
            return int(first.get("code", 1000))
        assert first["type"] == "websocket.accept", first
        await inbox.put({"type": "websocket.receive", "text": message})
        echoed = await asyncio.wait_for(outbox.get(), PATIENCE_SECONDS)
        if echoed["type"] == "websocket.close":
            return int(echoed.get("code", 1000))
        await inbox.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(session, PATIENCE_SECONDS)
        return echoed.get("text", echoed.get("bytes"))
    finally:
        session.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await session
