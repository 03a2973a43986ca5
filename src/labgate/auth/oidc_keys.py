"""What an OpenID provider publishes about itself: its discovery document and its keys.

Both are kept in memory: the document for ``discovery_cache_seconds``, the key set until
an ID token names a key (``kid``) it does not hold. The provider has rotated its keys
then, so the set is read again; for that reason at most once every
:data:`KEYS_REFETCH_SECONDS`, so that a stream of tokens naming made-up keys cannot make
labgate hammer the provider.

Every read goes over HTTPS verified with the system's CAs or ``ca_file``, within
``http_timeout_seconds``: a discovery document naming an endpoint without https is
refused (keys read over plain HTTP would make the ID token's signature worthless), but
for an http:// issuer on this machine, for tests. A provider that cannot be reached is
a :class:`ProviderUnavailable`, and one that answers nonsense a :class:`SignInRefused`
telling the person to tell an administrator.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from labgate.auth.oidc_config import OidcConfig, is_loopback
from labgate.auth.providers import ProviderUnavailable, SignInRefused

log = logging.getLogger(__name__)

#: Keys are read again for an unknown ``kid`` at most this often.
KEYS_REFETCH_SECONDS = 30.0
#: Larger documents (discovery, keys, token and userinfo answers) are refused.
MAX_DOCUMENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class ProviderDocument:
    """The parts of the discovery document labgate uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    scopes_supported: frozenset[str]

    @classmethod
    def read(cls, found: dict[str, Any], label: str, issuer: str) -> ProviderDocument:
        """The document ``found`` at ``issuer`` (the settings'); every endpoint must be
        https://, but for an http:// issuer on this machine (tests), whose endpoints
        may be http:// on this machine too."""
        plain_http_allowed = _on_this_machine(issuer)

        def url(key: str, *, required: bool = True) -> str | None:
            value = found.get(key)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                if required:
                    raise SignInRefused(
                        f"{label}'s discovery document has no {key}. Tell an administrator."
                    )
                return None
            if not value.startswith("https://") and not (
                plain_http_allowed and _on_this_machine(value)
            ):
                log.error("%s: its discovery document's %s is not https: %r", label, key, value)
                raise SignInRefused(
                    f"{label}'s discovery document names an endpoint without https "
                    f"({key}), which labgate does not use. Tell an administrator."
                )
            return value

        def names(key: str) -> frozenset[str]:
            value = found.get(key)
            if not isinstance(value, list):
                return frozenset()
            return frozenset(item for item in value if isinstance(item, str))

        return cls(
            issuer=str(found.get("issuer", "")),
            authorization_endpoint=url("authorization_endpoint") or "",
            token_endpoint=url("token_endpoint") or "",
            jwks_uri=url("jwks_uri") or "",
            userinfo_endpoint=url("userinfo_endpoint", required=False),
            end_session_endpoint=url("end_session_endpoint", required=False),
            scopes_supported=names("scopes_supported"),
        )


class ProviderHttp:
    """HTTP to one OpenID provider: a new client per use (sign-ins and re-checks are
    rare next to everything else the server does), TLS verified as the section says."""

    def __init__(self, config: OidcConfig, label: str) -> None:
        self.label = label
        self.timeout = config.http_timeout_seconds
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(config.ca_file)) if config.ca_file else True
        )

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self.timeout,
            verify=self.verify,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    async def get_json(self, url: str, what: str) -> dict[str, Any]:
        """GET ``url``'s JSON object (``what`` names it in messages)."""
        try:
            async with self.client() as http:
                answer = await http.get(url)
        except httpx.HTTPError as exc:
            raise self.unreachable(what, exc) from exc
        if answer.status_code != 200:
            log.warning("%s: %s answered %s", self.label, url, answer.status_code)
            raise ProviderUnavailable(
                f"{self.label} could not give its {what} (it answered {answer.status_code}). "
                "Try again later, or tell an administrator if it goes on."
            )
        return self.json_of(answer, what)

    def json_of(self, answer: httpx.Response, what: str) -> dict[str, Any]:
        if len(answer.content) > MAX_DOCUMENT_BYTES:
            raise SignInRefused(f"{self.label}'s {what} is too large. Tell an administrator.")
        try:
            found = answer.json()
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise SignInRefused(f"{self.label}'s {what} is not JSON. Tell an administrator.")
        return found

    def unreachable(self, what: str, exc: Exception) -> ProviderUnavailable:
        log.warning("%s cannot be reached for its %s: %r", self.label, what, exc)
        return ProviderUnavailable(
            f"{self.label} cannot be reached just now, so you cannot sign in with it. "
            "Try again later, or sign in another way."
        )


class ProviderKeys:
    """One provider's discovery document and key set, read when needed and kept."""

    def __init__(self, config: OidcConfig, http: ProviderHttp) -> None:
        self.issuer = config.issuer
        self.cache_seconds = config.discovery_cache_seconds
        self.http = http
        self._document: ProviderDocument | None = None
        self._document_until = 0.0
        self._keys: KeySet | None = None
        self._refetched_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    async def document(self) -> ProviderDocument:
        """The discovery document, read again when older than the cache time."""
        if self._document is not None and time.monotonic() < self._document_until:
            return self._document
        async with self._lock:
            if self._document is None or time.monotonic() >= self._document_until:
                found = await self.http.get_json(self.discovery_url, "discovery document")
                document = ProviderDocument.read(found, self.http.label, self.issuer)
                if document.issuer != self.issuer:
                    log.error(
                        "%s: the discovery document names the issuer %r, the settings %r",
                        self.http.label,
                        document.issuer,
                        self.issuer,
                    )
                    raise SignInRefused(
                        f"{self.http.label} names itself differently from labgate's settings "
                        "(its issuer). Tell an administrator."
                    )
                self._document = document
                self._document_until = time.monotonic() + self.cache_seconds
            return self._document

    def known_document(self) -> ProviderDocument | None:
        """The document last read, however old (None: never read)."""
        return self._document

    async def key(self, kid: str | None, alg: str) -> Any:
        """The key that signed a token whose header names ``kid`` and ``alg``; the set
        is read again (rarely) when it has no such key."""
        found = self._pick(kid, alg)
        if found is not None:
            return found
        async with self._lock:
            found = self._pick(kid, alg)
            if found is None and self._may_read_keys():
                await self._read_keys()
                found = self._pick(kid, alg)
        if found is None:
            log.warning("%s: no key %r (%s) in its key set", self.http.label, kid, alg)
            raise SignInRefused(
                f"{self.http.label} signed your sign-in with a key it does not publish. "
                "Start again; tell an administrator if it happens again."
            )
        return found

    def _may_read_keys(self) -> bool:
        """The first time, always; again (a key rotated), not too often."""
        now = time.monotonic()
        if self._keys is None:
            return True
        if self._refetched_at is not None and now - self._refetched_at < KEYS_REFETCH_SECONDS:
            return False
        self._refetched_at = now
        return True

    async def _read_keys(self) -> None:
        document = self._document
        assert document is not None, "the document is read before any token"
        found = await self.http.get_json(document.jwks_uri, "signing keys")
        usable = [
            key
            for key in found.get("keys", [])
            if isinstance(key, dict) and key.get("use", "sig") == "sig"
        ]
        try:
            self._keys = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError) as exc:
            log.error("%s: its key set cannot be read: %r", self.http.label, exc)
            raise SignInRefused(
                f"{self.http.label}'s signing keys cannot be read. Tell an administrator."
            ) from exc

    def _pick(self, kid: str | None, alg: str) -> Any:
        if self._keys is None:
            return None
        family = _KEY_TYPES.get(alg[:2], "OKP")
        candidates = [
            key
            for key in self._keys
            if key.key_type == family
            and (kid is None or key.kid == kid)
            and key.get("alg") in (None, alg)
        ]
        # Without a kid, only an unambiguous key will do.
        if len(candidates) == 1 or (kid is not None and candidates):
            return candidates[0]
        return None


def _on_this_machine(url: str) -> bool:
    """Whether ``url`` is http:// on this machine's loopback."""
    parts = urlsplit(url)
    return parts.scheme == "http" and is_loopback(parts.hostname or "")


#: The key type each algorithm family (by its first two letters) needs.
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
