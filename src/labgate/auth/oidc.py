"""Signing in at an OpenID provider (OpenID Connect, the authorization code flow).

The ``oidc`` provider is a :class:`~labgate.auth.providers.RedirectProvider`: the login
page's button sends the browser to the provider's authorization endpoint with a random
``state`` (the callback must bring it back), a random ``nonce`` (the ID token must carry
it) and a PKCE challenge (only labgate, holding the verifier, can exchange the code);
the three are kept sealed in the sign-in cookie, so any replica finishes the sign-in.
At the callback the code is exchanged for tokens, the ID token is checked
(labgate.auth.oidc_tokens) and, with the userinfo endpoint's answer, mapped to an
account (labgate.auth.oidc_mapping).

With ``recheck`` on (the default) labgate asks for ``offline_access`` where the
provider offers it and keeps the refresh token, sealed, with the identity; every
``identity_recheck_minutes`` it uses it (:meth:`OidcProvider.recheck`): a provider that
refuses to refresh (the account disabled or removed there, the grant revoked) ends the
person's labgate sessions.

OAuth's parts come from Authlib (its tokens, the PKCE challenge, the authorization URL);
the HTTP is httpx's, and the JOSE joserfc's, which Authlib itself now builds on.
"""

from __future__ import annotations

import base64
import hmac
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from labgate.auth.oidc_config import OidcConfig
from labgate.auth.oidc_keys import ProviderDocument, ProviderHttp, ProviderKeys
from labgate.auth.oidc_mapping import is_allowed, vouched_for
from labgate.auth.oidc_tokens import verified_claims
from labgate.auth.providers import (
    ProviderUnavailable,
    Recheck,
    Redirect,
    SignInRefused,
    Vouched,
)
from labgate.plugins import hookimpl
from labgate.settings import Settings

log = logging.getLogger(__name__)

#: How much of a provider's own error description the login page shows.
MAX_DESCRIPTION = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


class TokenRefused(Exception):
    """The token endpoint refused a grant; ``error`` is its OAuth error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class OidcProvider:
    """Sign-in at one OpenID provider (``[auth.<name>]``, ``kind = "oidc"``)."""

    kind: ClassVar[Literal["redirect"]] = "redirect"
    name = "oidc"
    Config = OidcConfig

    def __init__(self, settings: Settings, config: OidcConfig) -> None:
        self.settings = settings
        self.config = config
        self.label = config.label or "OpenID Connect"
        self.client_secret = config.secret()
        self.http = ProviderHttp(config, self.label)
        self.keys = ProviderKeys(config, self.http)

    async def begin(self, callback_url: str) -> Redirect:
        document = await self.keys.document()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        scopes = list(self.config.scopes)
        offline = self.config.recheck and "offline_access" in document.scopes_supported
        if offline and "offline_access" not in scopes:
            scopes.append("offline_access")
        prompt = self.config.prompt
        if prompt is None:
            prompt = "consent" if "offline_access" in scopes else ""
        url = prepare_grant_uri(
            document.authorization_endpoint,
            self.config.client_id,
            "code",
            redirect_uri=callback_url,
            scope=" ".join(scopes),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            prompt=prompt or None,
        )
        return Redirect(str(url), flow={"state": state, "nonce": nonce, "verifier": verifier})

    async def finish(
        self, flow: Mapping[str, str], params: Mapping[str, str], callback_url: str
    ) -> Vouched:
        expected = flow.get("state", "")
        # As bytes: compare_digest refuses text that is not ASCII (a TypeError, a 500).
        given = params.get("state", "").encode()
        if not expected or not hmac.compare_digest(given, expected.encode()):
            raise SignInRefused(
                "The sign-in could not be verified (its state does not match). Start again."
            )
        if "error" in params:
            raise self._provider_error(params)
        document = await self.keys.document()
        if "iss" in params and params["iss"] != document.issuer:
            raise SignInRefused(
                f"The sign-in came back from another provider than {self.label}. Start again."
            )
        code = params.get("code")
        if not code:
            raise SignInRefused(f"{self.label} sent no sign-in code back. Start again.")
        try:
            tokens = await self._token_grant(
                document,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": callback_url,
                    "code_verifier": flow.get("verifier", ""),
                },
            )
        except TokenRefused as exc:
            raise self._grant_refused(exc) from exc
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused(
                f"{self.label} gave no ID token: its client settings may lack the openid "
                "scope. Tell an administrator."
            )
        claims = await verified_claims(
            id_token,
            keys=self.keys,
            algorithms=self.config.id_token_algorithms,
            issuer=document.issuer,
            client_id=self.config.client_id,
            nonce=flow.get("nonce", ""),
            label=self.label,
        )
        access_token = tokens.get("access_token")
        if document.userinfo_endpoint and isinstance(access_token, str):
            claims = {**await self._userinfo(document, access_token, claims["sub"]), **claims}
        refresh_token = tokens.get("refresh_token")
        keep = self.config.recheck and isinstance(refresh_token, str) and refresh_token
        return vouched_for(
            self.config,
            claims,
            provider=self.name,
            label=self.label,
            recheck_secret=str(refresh_token).encode() if keep else None,
        )

    async def logout_url(self, after_url: str) -> str | None:
        if not self.config.logout:
            return None
        document: ProviderDocument | None
        try:
            document = await self.keys.document()
        except (SignInRefused, ProviderUnavailable):
            document = self.keys.known_document()
        if document is None or document.end_session_endpoint is None:
            return None
        separator = "&" if "?" in document.end_session_endpoint else "?"
        return (
            f"{document.end_session_endpoint}{separator}client_id="
            f"{quote(self.config.client_id, safe='')}"
            f"&post_logout_redirect_uri={quote(after_url, safe='')}"
        )

    async def recheck(self, subject: str, secret: bytes | None) -> Recheck:
        """Whether the provider still refreshes the sign-in of ``subject`` (its refresh
        token, ``secret``) and, when the section has ``allowed`` tests, whether the fresh
        claims still pass them: True, with the new refresh token if the provider rotated
        it; False when it refuses (``invalid_grant``) or the claims no longer pass; None
        when it cannot be asked."""
        if secret is None:
            return Recheck(None)
        try:
            document = await self.keys.document()
            tokens = await self._token_grant(
                document, {"grant_type": "refresh_token", "refresh_token": secret.decode()}
            )
            allowed = await self._still_allowed(document, tokens, subject)
        except TokenRefused as exc:
            if exc.error == "invalid_grant":
                return Recheck(False)
            log.warning("%s: re-checking %s: %s", self.label, subject, exc)
            return Recheck(None)
        except (SignInRefused, ProviderUnavailable) as exc:
            log.warning("%s: re-checking %s: %s", self.label, subject, exc.message)
            return Recheck(None)
        rotated = tokens.get("refresh_token")
        new_secret = rotated.encode() if isinstance(rotated, str) and rotated else None
        return Recheck(allowed, secret=new_secret if new_secret != secret else None)

    async def _still_allowed(
        self, document: ProviderDocument, tokens: dict[str, Any], subject: str
    ) -> bool:
        """Whether the claims a refresh brought (its ID token's and userinfo's) still
        pass ``allowed``; True without tests, or without claims to test."""
        if not self.config.allowed:
            return True
        claims: dict[str, Any] = {}
        id_token = tokens.get("id_token")
        if isinstance(id_token, str):
            claims = await verified_claims(
                id_token,
                keys=self.keys,
                algorithms=self.config.id_token_algorithms,
                issuer=document.issuer,
                client_id=self.config.client_id,
                nonce=None,
                label=self.label,
            )
            if claims.get("sub") != subject:
                raise SignInRefused(f"{self.label} refreshed someone else's sign-in.")
        access_token = tokens.get("access_token")
        if document.userinfo_endpoint and isinstance(access_token, str):
            claims = {**await self._userinfo(document, access_token, subject), **claims}
        return not claims or is_allowed(self.config, claims)

    async def _token_grant(
        self, document: ProviderDocument, form: dict[str, str]
    ) -> dict[str, Any]:
        """The token endpoint's answer to ``form``, the client authenticated as the
        section says; :class:`TokenRefused` with the provider's error code."""
        form = dict(form)
        headers: dict[str, str] = {}
        if self.client_secret is None:
            form["client_id"] = self.config.client_id
        elif self.config.token_auth_method == "client_secret_post":  # noqa: S105 (a name)
            form.update(client_id=self.config.client_id, client_secret=self.client_secret)
        else:
            # RFC 6749, 2.3.1: both are form-encoded before they are joined.
            pair = f"{quote(self.config.client_id, safe='')}:{quote(self.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            async with self.http.client() as http:
                answer = await http.post(document.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise self.http.unreachable("tokens", exc) from exc
        if answer.status_code >= 500:
            raise ProviderUnavailable(
                f"{self.label} could not finish the sign-in (it answered "
                f"{answer.status_code}). Try again later."
            )
        found = self.http.json_of(answer, "token answer")
        if answer.status_code != 200:
            raise TokenRefused(
                str(found.get("error", "unknown")), _one_line(found.get("error_description"))
            )
        return found

    async def _userinfo(
        self, document: ProviderDocument, access_token: str, subject: str
    ) -> dict[str, Any]:
        assert document.userinfo_endpoint is not None
        try:
            async with self.http.client() as http:
                answer = await http.get(
                    document.userinfo_endpoint,
                    headers={"Authorization": f"Bearer {access_token}"},
                )
        except httpx.HTTPError as exc:
            raise self.http.unreachable("details about you", exc) from exc
        if answer.status_code != 200:
            log.warning("%s: userinfo answered %s", self.label, answer.status_code)
            raise ProviderUnavailable(
                f"{self.label} would not tell labgate your details (it answered "
                f"{answer.status_code}). Start again; tell an administrator if it goes on."
            )
        found = self.http.json_of(answer, "details about you")
        if found.get("sub") != subject:
            log.warning(
                "%s: userinfo is about %r, the ID token about %r",
                self.label,
                found.get("sub"),
                subject,
            )
            raise SignInRefused(
                f"{self.label} described someone else than who signed in. Start again."
            )
        return found

    def _provider_error(self, params: Mapping[str, str]) -> SignInRefused:
        error = _one_line(params.get("error"))
        description = _one_line(params.get("error_description"))
        if error == "access_denied" and not description:
            description = "you or the provider declined"
        said = description or error or "no reason given"
        return SignInRefused(f"{self.label} did not sign you in: {said}. Start again.")

    def _grant_refused(self, exc: TokenRefused) -> SignInRefused:
        if exc.error == "invalid_grant":
            return SignInRefused("The sign-in took too long or was used already. Start again.")
        log.warning("%s: the token endpoint refused the code: %s", self.label, exc)
        if exc.error in ("invalid_client", "unauthorized_client"):
            return SignInRefused(
                f"{self.label} does not accept this labgate's client settings "
                f"({exc.error}). Tell an administrator."
            )
        return SignInRefused(
            f"{self.label} refused to finish the sign-in ({exc.error}). Start again; tell "
            "an administrator if it happens again."
        )


def _one_line(value: object) -> str:
    """A provider's text as one short line of printable characters."""
    if not isinstance(value, str):
        return ""
    text = " ".join(_CONTROL.sub(" ", value).split())
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1].rstrip() + "…"
    return text.rstrip(".")


@hookimpl
def register_auth_providers() -> list[type[OidcProvider]]:
    return [OidcProvider]
