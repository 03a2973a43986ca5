"""Keeping an app's answers inside its prefix, ``/s/<id>/``.

An app whose template strips the prefix (``keeps_base_path = false``) sees paths without
it, so its redirects (``Location: /login``) and its cookies (``Set-Cookie: ...; Path=/``)
name places outside ``/s/<id>/``: the browser would leave the app, and the cookie would
reach every app and labgate itself. The proxy puts them back into the prefix, as
jupyter-server-proxy does for the apps it serves:

- ``Location``: an absolute path (``/login``) and an absolute URL of the host the browser
  asked (``http://<that host>/login``, also ``//<that host>/login``) get the prefix in
  front of their path; relative references (``login``, ``?page=2``), URLs of other hosts
  and paths already inside the prefix are left as they are.
- ``Set-Cookie``: a ``Path`` outside the prefix gets it in front (``Path=/`` becomes
  ``Path=/s/<id>/``); a cookie without ``Path`` is left so, as the browser's default
  path is the directory of the URL it asked, which is inside the prefix already.
  ``Domain`` is removed: it would send the cookie to other hosts under that domain,
  among them other sessions' own origins (``app_domain``).

The rules apply to every app: one that knows its prefix (JupyterLab, with its base URL)
names places inside it, which are left alone, and only an escaping path is changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

# A URL with a scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":").
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_DEFAULT_PORTS = (":80", ":443")


def _without_default_port(netloc: str) -> str:
    netloc = netloc.lower()
    for port in _DEFAULT_PORTS:
        if netloc.endswith(port):
            return netloc[: -len(port)]
    return netloc


@dataclass(frozen=True)
class Prefix:
    """Where an app is on labgate's side: ``path`` (``/s/<id>``, no last slash) on the
    ``host`` the browser asked (its ``Host`` header)."""

    path: str
    host: str

    def holds(self, path: str) -> bool:
        """Whether ``path`` is the prefix or below it."""
        return path == self.path or path.startswith(self.path + "/")

    def _into(self, path: str) -> str:
        if not path:
            return self.path + "/"
        return path if self.holds(path) else self.path + path

    def _is_browsers_host(self, netloc: str) -> bool:
        return bool(self.host) and _without_default_port(netloc) == _without_default_port(self.host)

    def location(self, value: bytes) -> bytes:
        """A ``Location`` header's value with its path moved into the prefix (if it
        names a place on this host outside it)."""
        text = value.decode("latin-1").strip()
        if text.startswith("//") or _SCHEME.match(text):
            parts = urlsplit(text)
            if (parts.scheme and parts.scheme.lower() not in _WEB_SCHEMES) or (
                not self._is_browsers_host(parts.netloc)
            ):
                return value
            return urlunsplit(parts._replace(path=self._into(parts.path))).encode("latin-1")
        if text.startswith("/"):
            return self._into(text).encode("latin-1")
        return value  # relative: the browser resolves it against a URL in the prefix

    def set_cookie(self, value: bytes) -> bytes:
        """A ``Set-Cookie`` header's value with its ``Path`` inside the prefix and no
        ``Domain``."""
        pair, *attributes = value.split(b";")
        kept = [pair]
        for attribute in attributes:
            name, equals, setting = attribute.partition(b"=")
            key = name.strip().lower()
            if key == b"domain":
                continue
            path = setting.strip().decode("latin-1")
            if key == b"path" and equals and path.startswith("/") and not self.holds(path):
                attribute = b" Path=" + self._into(path).encode("latin-1")
            kept.append(attribute)
        return b";".join(kept)
