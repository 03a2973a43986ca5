"""Refuse request bodies over the configured size with 413, before they are buffered.

The JSON API's bodies are parsed in memory, so they are small (``max_body_bytes``).
Routes that stream their body somewhere instead (a file upload, passed on to the
resource a window at a time) are marked with :func:`streams_body` and have a limit of
their own (``max_upload_bytes``, 0 for none).

Which limit applies is decided when the app first reads the body: routing has happened
by then, and the scope names the endpoint (Starlette's routing contract). Nothing has
been read yet at that point, so a declared Content-Length over the limit is still
refused before a byte is buffered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labgate.http.errors import error_body

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_STREAMS_BODY = "_labgate_streams_body"


def streams_body(endpoint: Endpoint) -> Endpoint:
    """Mark a route's endpoint as one that streams its request body rather than reading
    it into memory: the upload limit applies to it, not the JSON API's."""
    setattr(endpoint, _STREAMS_BODY, True)
    return endpoint


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, max_streamed_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # 0: bodies that are streamed through have no limit here.
        self.max_streamed_bytes = max_streamed_bytes

    def limit_for(self, scope: Scope) -> int | None:
        """The limit for the route the request reached (None: no limit)."""
        if getattr(scope.get("endpoint"), _STREAMS_BODY, False):
            return self.max_streamed_bytes or None
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int | None = None
        decided = False
        received = 0
        refused = False

        async def counting_receive() -> Message:
            # Past the limit, answer 413 at once and tell the app the client has gone, so
            # it stops reading; whatever it answers then is dropped.
            nonlocal limit, decided, received, refused
            if refused:
                return {"type": "http.disconnect"}
            if not decided:
                decided = True
                limit = self.limit_for(scope)
                declared = dict(scope["headers"]).get(b"content-length", b"")
                if limit is not None and declared.isdigit() and int(declared) > limit:
                    refused = True
                    await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if limit is not None and received > limit:
                    refused = True
                    await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            error_body(
                "payload_too_large",
                f"The request body is larger than the limit of {limit} bytes.",
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
