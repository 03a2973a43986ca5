"""The address of the client behind a request, believing only trusted proxies."""

from __future__ import annotations

from starlette.requests import HTTPConnection


def client_address(conn: HTTPConnection, trusted_proxies: list[str]) -> str:
    peer = conn.client.host if conn.client else ""
    if peer in trusted_proxies:
        forwarded = conn.headers.get("x-forwarded-for", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        # Walk back from the nearest hop, skipping our own proxies.
        for hop in reversed(hops):
            if hop not in trusted_proxies:
                return hop[:64]
    return peer


def is_https(conn: HTTPConnection, trusted_proxies: list[str]) -> bool:
    peer = conn.client.host if conn.client else ""
    if peer in trusted_proxies and conn.headers.get("x-forwarded-proto") == "https":
        return True
    return conn.url.scheme in ("https", "wss")
