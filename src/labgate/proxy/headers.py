"""Which headers cross the proxy, and how.

Towards the app: never labgate's own credentials (its session cookie and CSRF token, a
labgate API token in Authorization), so that an app, which runs the user's code, never
holds what would let it act as its viewer against labgate. Any other ``Authorization``
(``Basic ...``, a bearer token of the app's own) is the app's and passes. The proxy adds
the app's own credential (its token), which the user never sees; it replaces a header of
the same name the browser sent. Hop-by-hop headers stay on their hop.

Towards the browser: no cookie named like labgate's (``labgate_*``, also behind a
``__Host-`` or ``__Secure-`` prefix: an app must not replace the viewer's labgate
session), and no hop-by-hop headers. ``Location`` and cookie paths are kept inside the
session's prefix (:mod:`labgate.proxy.prefix`). An app on an origin of its own
(``app_domain``) that lets only itself frame its pages (CSP ``frame-ancestors 'self'``,
``X-Frame-Options: SAMEORIGIN``, as JupyterLab does) is let be framed by labgate too, so
it shows in a pane; an app that refuses every frame (``'none'``, ``DENY``) is left so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from labgate.auth.cookies import is_labgate_cookie
from labgate.auth.tokens import is_labgate_authorization
from labgate.proxy.prefix import Prefix

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


def _without_labgate_cookies(value: bytes) -> bytes:
    kept = [
        part.strip()
        for part in value.split(b";")
        if part.strip() and not is_labgate_cookie(part.split(b"=", 1)[0])
    ]
    return b"; ".join(kept)


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Headers named in Connection are hop-by-hop too."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    return tokens


def to_app(
    headers: Sequence[tuple[bytes, bytes]],
    *,
    auth: tuple[bytes, bytes] | None,
    forwarded_for: str,
    forwarded_proto: str,
    keep_upgrade: bool = False,
) -> list[tuple[bytes, bytes]]:
    """The browser's request headers as the app gets them (names are lower-case, as ASGI
    gives them)."""
    drop = HOP_BY_HOP | _connection_tokens(headers)
    if keep_upgrade:
        drop = drop - {b"upgrade", b"connection"}
    if auth is not None:
        drop = drop | {auth[0]}  # the app's credential, not the browser's
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name in drop:
            continue
        if name == b"authorization" and is_labgate_authorization(value.decode("latin-1")):
            continue
        if name in (b"x-csrf-token", b"x-forwarded-for", b"x-forwarded-proto", b"forwarded"):
            continue
        if name == b"cookie":
            value = _without_labgate_cookies(value)
            if not value:
                continue
        out.append((name, value))
    if auth is not None:
        out.append(auth)
    out.append((b"x-forwarded-for", forwarded_for.encode()))
    out.append((b"x-forwarded-proto", forwarded_proto.encode()))
    return out


def _let_frame(policy: bytes, parent: bytes) -> bytes:
    """A CSP with ``parent`` added to its ``frame-ancestors`` sources (unless 'none')."""
    directives = []
    for directive in policy.split(b";"):
        words = directive.split()
        if words and words[0].lower() == b"frame-ancestors":
            sources = [w.lower() for w in words[1:]]
            if b"'none'" not in sources and parent not in sources and b"*" not in sources:
                directive = directive.rstrip() + b" " + parent
        directives.append(directive)
    return b";".join(directives)


def to_browser(
    headers: Sequence[tuple[bytes, bytes]],
    *,
    framed_by: bytes | None = None,
    prefix: Prefix | None = None,
) -> list[tuple[bytes, bytes]]:
    """The app's response headers as the browser gets them; ``framed_by``: labgate's
    origin, when the app has an origin of its own and shows in labgate's frames;
    ``prefix``: where the app is, to keep its redirects and cookies there."""
    drop = HOP_BY_HOP | _connection_tokens(headers)
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in drop:
            continue
        if lowered == b"set-cookie" and is_labgate_cookie(value.split(b"=", 1)[0]):
            continue
        if prefix is not None:
            if lowered == b"location":
                value = prefix.location(value)
            elif lowered == b"set-cookie":
                value = prefix.set_cookie(value)
        if framed_by is not None:
            if lowered == b"content-security-policy":
                value = _let_frame(value, framed_by)
            elif lowered == b"x-frame-options" and value.strip().lower() == b"sameorigin":
                # The same rule, said so that it names labgate too.
                lowered, value = b"content-security-policy", b"frame-ancestors 'self' " + framed_by
        out.append((lowered, value))
    return out
