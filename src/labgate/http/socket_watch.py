"""Every WebSocket connection runs watched (labgate.auth.live_sockets), so that it can be
closed with a clear code when its credential ends, whatever its handler is doing.

Ending a socket cancels the task that serves it. The handler unwinds through its own
clean-up (detaching from a process, closing the app's side); from then on what it sends
is dropped, a close it sends carries the ending's code and reason instead of its own, and
what it reads is the browser leaving. The cancellation is the watch's, so it ends here
and does not reach the server (which would log it as a crash).
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labgate.auth.live_sockets import LiveSockets


class SocketWatchMiddleware:
    def __init__(self, app: ASGIApp, *, sockets: LiveSockets) -> None:
        self.app = app
        self.sockets = sockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        with self.sockets.connection() as watch:
            closed = False

            async def watched_send(message: Message) -> None:
                nonlocal closed
                if watch.ending is not None:
                    if closed or message["type"] != "websocket.close":
                        return
                    code, reason = watch.ending
                    message = {"type": "websocket.close", "code": code, "reason": reason}
                if message["type"] == "websocket.close":
                    closed = True
                await send(message)

            async def watched_receive() -> Message:
                if watch.ending is not None:
                    return {"type": "websocket.disconnect", "code": watch.ending[0]}
                return await receive()

            try:
                await self.app(scope, watched_receive, watched_send)
            except asyncio.CancelledError:
                if watch.ending is None:
                    raise  # the server's own cancellation (shutting down)
            if watch.ending is not None:
                if watch.task.cancelling():
                    watch.task.uncancel()
                if not closed:
                    with contextlib.suppress(Exception):  # the browser may be gone already
                        await watched_send({"type": "websocket.close"})
