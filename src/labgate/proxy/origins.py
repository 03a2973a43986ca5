"""Per-session origins (``app_domain``): each session's app at a host of its own, such as
``k3v9q2m8x1c4b7n0.apps.example.org``.

An app runs its user's code. Served under labgate's origin, its pages could read
labgate's pages and call labgate's API as whoever looks at the app. On an origin of its
own the browser keeps them apart: labgate's session cookie is host-only and never sent
there, labgate's answers cannot be read from there (no CORS), and labgate's WebSockets
refuse its Origin.

Signing in to an app's origin, without a password and without labgate's cookie, in the
browser that asked and no other:

1. The browser asks labgate's origin for ``/s/<id>/<path>`` (the workspace's frame, a
   link). labgate checks the login and the policy (``USE_SESSION``) and redirects to
   ``<app origin>/_labgate/enter?grant=G&next=/s/<id>/<path>``. The grant ``G`` is
   sealed with the server secret for that one session, names the login session, and is
   good for ``GRANT_SECONDS``.
2. The app's origin checks the seal, sets a random *binding* value ``B`` in a cookie of
   its own (host-only, for ``GRANT_SECONDS``) and sends the browser back to labgate's
   origin: ``/_labgate/confirm?session=<id>&grant=G&bind=<sha256(B)>``.
3. labgate's origin, which sees its own login cookie, takes ``G`` once (its nonce goes
   to the database, ``redeemed_grants``, so no replica takes it twice) only if the
   browser's login is the one ``G`` names, asks the policy again, and redirects to
   ``<app origin>/_labgate/sign-in?grant=P`` with a *pass* ``P``: sealed like a grant,
   for the same login, once, and bound to ``sha256(B)``.
4. The app's origin takes ``P`` once only from a browser holding ``B``; it then sets its
   own host-only cookie ``labgate_app`` (sealed, for that session: the login session's
   id), drops ``B`` and redirects to ``next`` (a page of the session, nothing else).
5. Every later request there is authorised by that cookie against the live login session
   (logging out or being disabled ends it at once) and the policy.

Why so: the app's origin cannot read labgate's cookies (a cookie for the parent domain
would be readable, and plantable, by every app on a sibling origin), so the binding is
proved by a round trip. A grant link sent to someone else (to sign the victim's browser
into the sender's app, where the victim might type secrets into code the sender wrote)
fails at step 3: the victim's login is not the one it names. A grant or pass that leaks
from the browser (history, a log) fails at step 3 or 4 in another browser: it lacks the
login, or ``B``. The pass cannot be asked for with a binding of an attacker's choosing
without a fresh grant of the victim's login, which only the victim's browser is sent.
Over HTTPS the app's origin's cookies are ``__Host-`` ones, so no sibling host can plant
a binding or a sign-in.

The app keeps its path (``/s/<id>/...``) on its own origin, so a session started before
``app_domain`` was set, or after it was removed, works unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError

from labgate.db.models import RedeemedGrant
from labgate.errors import LabgateError
from labgate.settings import APP_DOMAIN_PLACEHOLDER

if TYPE_CHECKING:
    from labgate.credentials.vault import Vault
    from labgate.db.engine import Database
    from labgate.settings import Settings

ENTER_PATH = "/_labgate/enter"  # the app's origin: takes labgate's grant, binds the browser
CONFIRM_PATH = "/_labgate/confirm"  # labgate's origin: the same browser's login, a pass
SIGN_IN_PATH = "/_labgate/sign-in"  # the app's origin: the pass, from the bound browser
GRANT_SECONDS = 60
_SESSION_LABEL = re.compile(r"^[a-z0-9]{1,63}$")
_GRANT_PURPOSE = "app-origin-grant:"
_SIGN_IN_PURPOSE = "app-origin-sign-in:"
_COOKIE_PURPOSE = "app-origin-cookie:"
_BINDING_BYTES = 32
_NONCE_MAX = 32  # the column's width; labgate's nonces have 16 characters


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


_BINDING = re.compile(r"^[0-9a-f]{64}$")


def is_binding(text: str) -> bool:
    """Whether ``text`` is what :func:`binding_of` makes."""
    return bool(_BINDING.match(text))


def binding_of(value: str) -> str:
    """What a pass carries of a browser's binding value: its SHA-256, so that the value
    itself stays in that browser's cookie."""
    return hashlib.sha256(value.encode()).hexdigest() if value else ""


@dataclass(frozen=True)
class Grant:
    """The claims of a grant or a pass, checked."""

    login: int
    expires: float
    nonce: str
    binding: str  # a pass's: binding_of(the browser's value); a grant's: ""

    def binds(self, value: str) -> bool:
        """Whether a browser whose binding cookie is ``value`` may use this pass."""
        return bool(self.binding) and hmac.compare_digest(binding_of(value), self.binding)


class AppOrigins:
    """Where sessions' origins are, and the grants and cookies that open them."""

    def __init__(self, settings: Settings, vault: Callable[[], Vault], database: Database) -> None:
        self._vault = vault
        self._database = database
        self.enabled = bool(settings.app_domain)
        # ".apps.example.org": what follows the session's label.
        self._suffix = settings.app_domain[len(APP_DOMAIN_PLACEHOLDER) :] if self.enabled else ""
        public = urlsplit(settings.public_url)
        self.scheme = public.scheme or "http"
        self._port = f":{public.port}" if public.port else ""
        self.labgate_origin = f"{public.scheme}://{public.netloc}" if public.netloc else ""
        self.secure = self.scheme == "https"
        # Over HTTPS no sibling host can plant a cookie of a __Host- name.
        prefix = "__Host-" if self.secure else ""
        self.app_cookie = prefix + "labgate_app"
        self.binding_cookie = prefix + "labgate_bind"

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

    # -- grants and passes: labgate's origin -> the app's origin, once ----------------------

    def grant(self, session_id: str, login_session_id: int) -> str:
        """Labgate's grant for ``login_session_id`` to open ``session_id`` (step 1)."""
        return self._seal(_GRANT_PURPOSE, session_id, login_session_id, "")

    def check_grant(self, grant: str, session_id: str) -> Grant | None:
        """The grant if it is one, for ``session_id``, and not expired (nothing written)."""
        return self._check(_GRANT_PURPOSE, grant, session_id)

    async def redeem(self, grant: str, session_id: str) -> int | None:
        """The login session a grant for ``session_id`` names; None when it is not one,
        is for another session, has expired or was redeemed already (by any replica)."""
        claims = self.check_grant(grant, session_id)
        if claims is None or not await self.take(claims):
            return None
        return claims.login

    def pass_for(self, session_id: str, login_session_id: int, binding: str) -> str:
        """A pass for the browser whose binding cookie hashes to ``binding`` (step 3)."""
        return self._seal(_SIGN_IN_PURPOSE, session_id, login_session_id, binding)

    def check_pass(self, text: str, session_id: str) -> Grant | None:
        """The pass if it is one, for ``session_id``, and not expired (nothing written);
        whether the browser is the one it is for, :meth:`Grant.binds` says."""
        return self._check(_SIGN_IN_PURPOSE, text, session_id)

    def _seal(self, purpose: str, session_id: str, login: int, binding: str) -> str:
        claims = {
            "login": login,
            "exp": time.time() + GRANT_SECONDS,
            "nonce": secrets.token_urlsafe(12),
            "bind": binding,
        }
        return _b64(self._vault().seal(json.dumps(claims).encode(), purpose + session_id))

    def _check(self, purpose: str, text: str, session_id: str) -> Grant | None:
        claims = self._open(text, purpose + session_id)
        if claims is None:
            return None
        nonce, expires, login = claims.get("nonce"), claims.get("exp"), claims.get("login")
        binding = claims.get("bind", "")
        if not isinstance(nonce, str) or not 0 < len(nonce) <= _NONCE_MAX:
            return None
        if not isinstance(expires, (int, float)) or not isinstance(login, int):
            return None
        if not isinstance(binding, str) or (purpose == _SIGN_IN_PURPOSE) != bool(binding):
            return None  # a pass is bound to a browser; labgate's grant is not yet
        if expires <= time.time():
            return None
        return Grant(login=login, expires=expires, nonce=nonce, binding=binding)

    async def take(self, grant: Grant) -> bool:
        """Write the grant's nonce down; False if a replica (this one too) had written it
        already. Housekeeping forgets it once the grant has expired."""
        expires_at = datetime.fromtimestamp(grant.expires, UTC)
        try:
            async with self._database.session() as db:
                db.add(RedeemedGrant(nonce=grant.nonce, expires_at=expires_at))
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
        return self._cookie(self.app_cookie, self.cookie_value(session_id, login_session_id))

    # -- the binding of a browser, on the app's origin for the length of a sign-in --------

    def new_binding(self) -> tuple[str, bytes]:
        """A fresh binding value and the header that sets it as the browser's cookie."""
        value = _b64(secrets.token_bytes(_BINDING_BYTES))
        return value, self._cookie(self.binding_cookie, value, max_age=GRANT_SECONDS)

    def clear_binding_header(self) -> bytes:
        return self._cookie(self.binding_cookie, "", max_age=0)

    def _cookie(self, name: str, value: str, *, max_age: int | None = None) -> bytes:
        # Host-only (no Domain), for the whole origin (as __Host- asks), never to scripts.
        attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
        if max_age is not None:
            attributes += f"; Max-Age={max_age}"
        return f"{name}={value}{attributes}".encode()

    def _open(self, text: str, purpose: str) -> dict[str, object] | None:
        sealed = _unb64(text)
        if not sealed:
            return None
        try:
            claims = json.loads(self._vault().open(sealed, purpose))
        except (LabgateError, ValueError):
            return None
        return claims if isinstance(claims, dict) else None
