"""labgate's login cookie: its name and attributes, decided in one place from the
connection and the settings, for setting it, reading it and keeping it from apps.

Over HTTPS (``public_url`` or ``tls_certfile`` says so, or a trusted proxy does) the
cookie is ``__Host-labgate_session``. Browsers take a cookie of that name only from a
secure origin, with ``Path=/`` and without ``Domain``, so no other host can plant one
that labgate would read: not an app on a sibling origin (``<session>.apps.example.org``,
whose scripts could otherwise set ``labgate_session`` for the parent domain), not any
other site under the same parent. Over plain HTTP browsers refuse the prefix, and the
name is ``labgate_session``. labgate reads only the name of the connection it is on.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response

from labgate.auth.client import is_https
from labgate.settings import Settings

SESSION_COOKIE = "labgate_session"
HOST_PREFIX = "__Host-"
# Every cookie of labgate's own (the login, an app origin's cookies) starts so, after
# the prefixes browsers give a meaning to.
LABGATE_COOKIE_PREFIX = b"labgate_"
_BROWSER_PREFIXES = (b"__host-", b"__secure-")


def is_secure(conn: HTTPConnection, settings: Settings) -> bool:
    """Whether the browser reaches labgate over HTTPS (cookies then are Secure)."""
    return settings.secure_cookies or is_https(conn, settings.trusted_proxies)


def session_cookie_name(conn: HTTPConnection, settings: Settings) -> str:
    """The login cookie's name on this connection."""
    return HOST_PREFIX + SESSION_COOKIE if is_secure(conn, settings) else SESSION_COOKIE


def session_cookie(conn: HTTPConnection, settings: Settings) -> str | None:
    """The login cookie the browser sent, under this connection's name only."""
    return conn.cookies.get(session_cookie_name(conn, settings))


def set_session_cookie(
    response: Response, conn: HTTPConnection, settings: Settings, value: str
) -> None:
    secure = is_secure(conn, settings)
    response.set_cookie(
        HOST_PREFIX + SESSION_COOKIE if secure else SESSION_COOKIE,
        value,
        max_age=settings.session_max_age_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",  # and no Domain: host-only, as the __Host- prefix demands
    )


def delete_session_cookie(response: Response, conn: HTTPConnection, settings: Settings) -> None:
    secure = is_secure(conn, settings)
    response.delete_cookie(
        session_cookie_name(conn, settings), path="/", secure=secure, httponly=True, samesite="lax"
    )


def is_labgate_cookie(name: bytes) -> bool:
    """Whether a cookie's name is one of labgate's (with or without a browser prefix)."""
    lowered = name.strip().lower()
    for prefix in _BROWSER_PREFIXES:
        if lowered.startswith(prefix):
            lowered = lowered[len(prefix) :]
            break
    return lowered.startswith(LABGATE_COOKIE_PREFIX)
