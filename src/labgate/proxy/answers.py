"""What the proxy answers by itself, without the app: refusals and failures (JSON, a short
HTML page for a browser's navigation, a 4xxx close code for a WebSocket) and redirects
(to the trailing slash, and the steps of an app origin's sign-in)."""

from __future__ import annotations

import json
from html import escape

from starlette.types import Receive, Scope, Send


class ProxyError(Exception):
    """A refusal or failure the proxy answers itself (the app is not asked)."""

    def __init__(
        self, status: int, code: str, message: str, *, link: tuple[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        # Where the error page sends a person on: (URL, text).
        self.link = link


def header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (the first of that name), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def see_other(send: Send, location: str, cookies: list[tuple[bytes, bytes]]) -> None:
    """A step of the sign-in: on to ``location``, never cached, no Referer (the grant
    is in this URL)."""
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", location.encode()),
                *cookies,
                (b"cache-control", b"no-store"),
                (b"referrer-policy", b"no-referrer"),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def redirect(send: Send, location: str, query: bytes) -> None:
    """307 to ``location`` with ``query``."""
    target = location + ("?" + query.decode("latin-1") if query else "")
    await send(
        {
            "type": "http.response.start",
            "status": 307,
            "headers": [(b"location", target.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _wants_html(scope: Scope) -> bool:
    return "text/html" in (header(scope, b"accept") or "")


async def answer_error(scope: Scope, send: Send, error: ProxyError) -> None:
    """``error`` as JSON, or as a short page for a browser's navigation."""
    if _wants_html(scope):
        href, text = error.link or ("/", "Back to labgate")
        body = _PAGE.format(
            title=escape(error.message),
            code=escape(error.code),
            href=escape(href),
            text=escape(text),
        ).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
        content_type = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def refuse_websocket(receive: Receive, send: Send, error: ProxyError) -> None:
    """Close a WebSocket handshake with ``4000 + error.status``."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    # 4xxx: the refusal's HTTP status in the close code, like labgate's own sockets.
    await send({"type": "websocket.close", "code": 4000 + error.status, "reason": error.code})


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>labgate: {title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:15vh auto;max-width:32rem;color:#1d232a}}
code{{color:#56606b}}</style></head>
<body><h1>{title}</h1><p><code>{code}</code></p>
<p><a href="{href}">{text}</a></p></body></html>
"""
