"""The in-process app served by uvicorn on a free port of 127.0.0.1, for tests that need
real WebSockets (httpx's ASGI transport has none) while keeping the app, its database
fixture (both backends) and its settings in the test's hands."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

PATIENCE_SECONDS = 10


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` (whose lifespan the caller runs) until the block ends; yields its
    base URL, ``http://127.0.0.1:<port>``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", log_config=None, ws_per_message_deflate=False, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with asyncio.timeout(PATIENCE_SECONDS):
            while not server.started:
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True  # open WebSockets are the test's to end, not to wait for
        with contextlib.suppress(asyncio.CancelledError):
            await task
        listener.close()
