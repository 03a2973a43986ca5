"""One HTTP request through the proxy: the browser's request to the app, the app's
answer to the browser, both streamed piece by piece (a 1 GiB download or upload never
sits in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.types import Receive, Scope, Send

from labgate.launching.upstream import UpstreamConnection, UpstreamError, UpstreamPool
from labgate.proxy import headers as header_rules
from labgate.proxy.pages import PageRewriter, rewritable
from labgate.proxy.prefix import Prefix

# Methods safe to send again on a fresh connection when a kept-alive one turns out closed.
_RETRYABLE = frozenset({b"GET", b"HEAD", b"OPTIONS"})


class BrowserLeft(Exception):
    """The browser disconnected before the request body was complete."""


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BrowserLeft()
        body: bytes = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
    return False


def target_of(scope: Scope, strip: str | None) -> bytes:
    """The request target for the app: the path as the browser sent it (raw, not
    re-encoded), without labgate's prefix when the app does not expect it."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    if strip is not None:
        raw = raw[len(strip) :] or b"/"
        if not raw.startswith(b"/"):
            raw = b"/" + raw
    query: bytes = scope.get("query_string", b"")
    return raw + (b"?" + query if query else b"")


async def forward_http(
    scope: Scope,
    receive: Receive,
    send: Send,
    pool: UpstreamPool,
    *,
    target: bytes,
    auth: tuple[bytes, bytes] | None,
    forwarded_for: str,
    forwarded_proto: str,
    framed_by: bytes | None = None,
    prefix: Prefix | None = None,
    page_rewrites: Mapping[bytes, bytes] | None = None,
) -> int:
    """Forward; returns the status the app answered. ``framed_by``: labgate's origin, when
    the app is on an origin of its own and is shown in labgate's frames; ``prefix``: where
    the app is, to keep its redirects and cookies there; ``page_rewrites``: text replaced
    in its HTML and CSS (:mod:`labgate.proxy.pages`)."""
    method = scope["method"].encode()
    request_headers = header_rules.to_app(
        scope["headers"], auth=auth, forwarded_for=forwarded_for, forwarded_proto=forwarded_proto
    )
    has_body = _has_body(scope)
    if has_body and not any(
        n in (b"content-length", b"transfer-encoding") for n, _ in request_headers
    ):
        request_headers.append((b"transfer-encoding", b"chunked"))
    connection: UpstreamConnection = await pool.connection()
    reused = connection.exchanges > 0
    try:
        response = await connection.request(
            method, target, request_headers, _request_body(receive) if has_body else None
        )
    except UpstreamError:
        if not (reused and method in _RETRYABLE and not has_body):
            raise
        # A kept-alive connection the app had closed meanwhile: once more on a new one.
        connection = await pool.connection_new()
        response = await connection.request(method, target, request_headers, None)
    headers = header_rules.to_browser(response.headers, framed_by=framed_by, prefix=prefix)
    rewriter = None
    # A part of a page (206) is not rewritten: its range would no longer fit.
    if page_rewrites and method != b"HEAD" and response.status != 206 and rewritable(headers):
        rewriter = PageRewriter(page_rewrites)
        # The length changes; the server sends the body chunked instead.
        headers = [(n, v) for n, v in headers if n != b"content-length"]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if method == b"HEAD":
        async for _ in response.body():
            pass
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return response.status
    async for piece in response.body():
        if rewriter is not None:
            piece = rewriter.feed(piece)
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    last = rewriter.end() if rewriter is not None else b""
    await send({"type": "http.response.body", "body": last, "more_body": False})
    return response.status
