"""The in-process app served by uvicorn on a free port of 127.0.0.1, for tests that need
real WebSockets (httpx's ASGI transport has none) while keeping the app, its database
fixture (both backends) and its settings in the test's hands; and how such a socket
ends."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.eventually import eventually


@contextlib.asynccontextmanager
async def serving(app: Any, port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` (whose lifespan the caller runs) until the block ends, on ``port``
    (0: any free one; a given one for settings that name it, such as ``public_url``);
    yields its base URL, ``http://127.0.0.1:<port>``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", log_config=None, ws_per_message_deflate=False, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await eventually(lambda: server.started, what="uvicorn serving")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True  # open WebSockets are the test's to end, not to wait for
        with contextlib.suppress(asyncio.CancelledError):
            await task
        listener.close()


async def close_of(socket: ClientConnection, seconds: float) -> tuple[int, str]:
    """The close code and reason the server sends on ``socket`` within ``seconds``
    (whatever comes before is read and dropped); TimeoutError if it stays open."""
    async with asyncio.timeout(seconds):
        try:
            while True:
                await socket.recv()
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                raise AssertionError(f"closed without a close frame: {closed}") from closed
            return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("unreachable")
