"""Checking an ID token (OpenID Connect Core, 3.1.3.7) before believing a word of it.

The signature is checked with the provider's published key that the token's header
names, by an algorithm on the section's allow-list (public-key algorithms only: never
"none", never an HMAC keyed by something public). Then its claims: ``iss`` is the
issuer, ``aud`` holds labgate's ``client_id`` (and ``azp`` names it when there are
several audiences), ``exp`` is not past and ``iat`` not in the future (with
:data:`LEEWAY_SECONDS` for clocks that disagree), ``nonce`` is the sign-in's own, and
``sub`` names someone (the identity is found by it).
Each failure is a :class:`SignInRefused` whose sentence says what to do; the details go
to the log for the administrator.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from labgate.auth.oidc_keys import ProviderKeys
from labgate.auth.providers import SignInRefused

log = logging.getLogger(__name__)

#: How far the provider's clock and labgate's may disagree.
LEEWAY_SECONDS = 120
#: The longest ``sub`` (OpenID Connect Core, 2: at most 255 ASCII characters).
MAX_SUBJECT = 255


async def verified_claims(
    id_token: str,
    *,
    keys: ProviderKeys,
    algorithms: list[str],
    issuer: str,
    client_id: str,
    nonce: str | None,
    label: str,
) -> dict[str, Any]:
    """The claims of ``id_token`` once it is checked; ``nonce`` None: a token from a
    refresh, which carries none to compare."""

    def refuse(why: str, detail: object = "") -> SignInRefused:
        log.warning("%s: an ID token was refused: %s %s", label, why, detail)
        return SignInRefused(
            f"The sign-in at {label} could not be verified ({why}). Start again; tell an "
            "administrator if it happens again."
        )

    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError) as exc:
        raise refuse("its token is malformed", repr(exc)) from exc
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise refuse("its token is signed in a way this labgate does not accept", alg)
    kid = header.get("kid")
    key = await keys.key(kid if isinstance(kid, str) else None, alg)
    try:
        payload = jws.deserialize_compact(id_token, key, algorithms=[alg]).payload
        claims = json.loads(payload)
    except (JoseError, ValueError) as exc:
        raise refuse("its signature does not match", repr(exc)) from exc
    if not isinstance(claims, dict):
        raise refuse("its token holds no claims")

    if claims.get("iss") != issuer:
        raise refuse("it comes from another issuer", claims.get("iss"))
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        log.warning("%s: an ID token for the audience %r was refused", label, audience)
        raise SignInRefused(
            f"The sign-in at {label} was issued for another application, not for this "
            "labgate. Start again; tell an administrator if it happens again."
        )
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise refuse("it was issued for another application", f"azp={azp!r}")
    now = time.time()
    exp, iat = _time(claims.get("exp")), _time(claims.get("iat"))
    if exp is None or exp + LEEWAY_SECONDS < now:
        raise refuse("it has expired: is this server's clock right?", f"exp={exp!r}")
    if iat is None or iat - LEEWAY_SECONDS > now:
        raise refuse("it was issued in the future: is this server's clock right?", f"iat={iat!r}")
    if nonce is not None:
        found = claims.get("nonce")
        # As bytes: compare_digest refuses text that is not ASCII (a TypeError).
        if not isinstance(found, str) or not hmac.compare_digest(found.encode(), nonce.encode()):
            raise refuse("it belongs to another sign-in")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT:
        raise refuse("it does not say who you are", f"sub={subject!r:.300}")
    return claims


def _time(value: object) -> float | None:
    """A NumericDate claim's value (None: missing or not a number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
