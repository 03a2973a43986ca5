"""Per-session origins (``app_domain``): each session's app at a host of its own, such as
``k3v9q2m8x1c4b7n0.apps.example.org``.

An app runs its user's code. Served under labgate's origin, its pages could read
labgate's pages and call labgate's API as whoever looks at the app. On an origin of its
own the browser keeps them apart: labgate's session cookie is host-only and never sent
there, labgate's answers cannot be read from there (no CORS), and labgate's WebSockets
refuse its Origin.

Signing in to an app's origin, without a password and without labgate's cookie:

1. The browser asks labgate's origin for ``/s/<id>/<path>`` (the workspace's frame, a
   link). labgate checks the login and the right to the session and redirects to
   ``<app origin>/_labgate/enter?grant=...&next=/s/<id>/<path>``.
2. The grant is sealed with the server secret for that one session; it names the login
   session and is good for ``GRANT_SECONDS``, once: its nonce is written to the database
   when it is redeemed (``redeemed_grants``, emptied of expired ones by housekeeping), so
   no replica takes it a second time.
3. The app's origin redeems it: the login session must still be live and the caller
   allowed; it sets its own host-only cookie ``labgate_app`` (sealed, for that session:
   the login session's id) and redirects to ``next``.
4. Every later request there is authorised by that cookie against the live login session
   (logging out or being disabled ends it at once) and the session's owner.

The app keeps its path (``/s/<id>/...``) on its own origin, so a session started before
``app_domain`` was set, or after it was removed, works unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError

from labgate.db.models import RedeemedGrant
from labgate.errors import LabgateError

if TYPE_CHECKING:
    from labgate.credentials.vault import Vault
    from labgate.db.engine import Database
    from labgate.settings import Settings

PLACEHOLDER = "{session}"
COOKIE_NAME = "labgate_app"
ENTER_PATH = "/_labgate/enter"
GRANT_SECONDS = 60
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SESSION_LABEL = re.compile(r"^[a-z0-9]{1,63}$")
_GRANT_PURPOSE = "app-origin-grant:"
_COOKIE_PURPOSE = "app-origin-cookie:"
_NONCE_MAX = 32  # the column's width; labgate's nonces have 16 characters


def check_app_domain(value: str) -> str:
    """``value`` as the setting keeps it (lower case), or ValueError saying what is wrong."""
    domain = value.strip().lower()
    if not domain:
        return ""
    if not domain.startswith(PLACEHOLDER + "."):
        raise ValueError(
            "app_domain must start with '{session}.' followed by a domain, "
            "e.g. {session}.apps.example.org"
        )
    rest = domain[len(PLACEHOLDER) + 1 :]
    labels = rest.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(
            f"app_domain: {rest!r} is not a domain name (letters, digits and '-' in "
            "dot-separated labels; no scheme, port or path)"
        )
    return domain


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


class AppOrigins:
    """Where sessions' origins are, and the grants and cookies that open them."""

    def __init__(self, settings: Settings, vault: Callable[[], Vault], database: Database) -> None:
        self._vault = vault
        self._database = database
        self.enabled = bool(settings.app_domain)
        # ".apps.example.org": what follows the session's label.
        self._suffix = settings.app_domain[len(PLACEHOLDER) :] if self.enabled else ""
        public = urlsplit(settings.public_url)
        self.scheme = public.scheme or "http"
        self._port = f":{public.port}" if public.port else ""
        self.labgate_origin = f"{public.scheme}://{public.netloc}" if public.netloc else ""
        self.secure = self.scheme == "https"

    # -- hosts and origins ------------------------------------------------------------------

    def session_of(self, host: str) -> str | None:
        """The session whose origin ``host`` (a Host header) is; None for any other host."""
        if not self.enabled:
            return None
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.lower().rstrip(".")
        if not name.endswith(self._suffix):
            return None
        label = name[: -len(self._suffix)]
        return label if _SESSION_LABEL.match(label) else None

    def origin(self, session_id: str) -> str:
        return f"{self.scheme}://{session_id}{self._suffix}{self._port}"

    @property
    def frame_source(self) -> str:
        """The CSP source that allows labgate's pages to frame any session's origin."""
        return f"*{self._suffix}:*"

    # -- grants: labgate's origin -> the app's origin, once ----------------------------------

    def grant(self, session_id: str, login_session_id: int) -> str:
        claims = {
            "login": login_session_id,
            "exp": time.time() + GRANT_SECONDS,
            "nonce": secrets.token_urlsafe(12),
        }
        sealed = self._vault().seal(json.dumps(claims).encode(), _GRANT_PURPOSE + session_id)
        return _b64(sealed)

    async def redeem(self, grant: str, session_id: str) -> int | None:
        """The login session a grant for ``session_id`` names; None when it is not one,
        is for another session, has expired or was redeemed already (by any replica)."""
        claims = self._open(grant, _GRANT_PURPOSE + session_id)
        if claims is None:
            return None
        nonce, expires, login = claims.get("nonce"), claims.get("exp"), claims.get("login")
        if not isinstance(nonce, str) or not 0 < len(nonce) <= _NONCE_MAX:
            return None
        if not isinstance(expires, (int, float)) or not isinstance(login, int):
            return None
        if expires <= time.time() or not await self._first_use(nonce, expires):
            return None
        return login

    async def _first_use(self, nonce: str, expires: float) -> bool:
        """Write ``nonce`` down; False if a replica (this one too) had written it already.
        Housekeeping forgets it once the grant has expired."""
        try:
            async with self._database.session() as db:
                db.add(RedeemedGrant(nonce=nonce, expires_at=datetime.fromtimestamp(expires, UTC)))
        except IntegrityError:
            return False
        return True

    # -- the app origin's own cookie --------------------------------------------------------

    def cookie_value(self, session_id: str, login_session_id: int) -> str:
        claims = {"login": login_session_id}
        sealed = self._vault().seal(json.dumps(claims).encode(), _COOKIE_PURPOSE + session_id)
        return _b64(sealed)

    def login_of(self, cookie: str, session_id: str) -> int | None:
        """The login session behind an app origin's cookie (made for ``session_id``)."""
        claims = self._open(cookie, _COOKIE_PURPOSE + session_id)
        login = claims.get("login") if claims else None
        return login if isinstance(login, int) else None

    def set_cookie_header(self, session_id: str, login_session_id: int) -> bytes:
        value = self.cookie_value(session_id, login_session_id)
        attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
        return f"{COOKIE_NAME}={value}{attributes}".encode()

    def _open(self, text: str, purpose: str) -> dict[str, object] | None:
        sealed = _unb64(text)
        if not sealed:
            return None
        try:
            claims = json.loads(self._vault().open(sealed, purpose))
        except (LabgateError, ValueError):
            return None
        return claims if isinstance(claims, dict) else None
