"""The settings of an OpenID Connect sign-in (``[auth.<name>]`` with ``kind = "oidc"``).

Besides where the provider is and who labgate is there (``issuer``, ``client_id``,
``client_secret``), the section says how the provider's claims become a labgate account:
which claim is the user name, the name and the e-mail, and which claim values give a
role or a group. A rule names a claim and a value it must hold (exactly, by prefix or by
a regular expression), so entitlement-style claims (``eduPersonEntitlement`` values such
as ``urn:geant:helmholtz.de:group:physics#login.helmholtz.de``) map as easily as a
plain ``groups`` claim::

    [[auth.helmholtz.rules]]
    claim = "eduPersonEntitlement"
    prefix = "urn:geant:helmholtz.de:group:physics"
    group = "physics"

A mistake in the section (an unknown setting, a pattern that is no regular expression,
an ``http://`` issuer elsewhere than on this machine) stops the server at start-up.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from labgate.auth.providers import ProviderConfig
from labgate.db.models import Role

#: Signature algorithms an ID token may use unless the section says otherwise: public-key
#: ones only (never "none"; never HMAC, whose key would be the client secret).
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
)

#: Claim values are compared as text; this many of one claim are looked at, at most.
MAX_CLAIM_VALUES = 1000


class ClaimMatch(BaseModel):
    """A claim holding a value: ``value`` (exactly), ``prefix`` (starts with) or
    ``pattern`` (a regular expression the whole value matches). A claim may be a string
    or a list of strings (then one of them must match); ``claim`` may name a nested one
    with dots (``realm_access.roles``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    claim: str = Field(min_length=1, max_length=200)
    value: str | None = None
    prefix: str | None = None
    pattern: str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> ClaimMatch:
        given = [name for name in ("value", "prefix", "pattern") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, prefix or pattern")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from exc
        return self

    def holds(self, claims: dict[str, object]) -> bool:
        """Whether one of the claim's values passes the test."""
        return any(self._passes(found) for found in claim_values(claims, self.claim))

    def _passes(self, found: str) -> bool:
        if self.value is not None:
            return found == self.value
        if self.prefix is not None:
            return found.startswith(self.prefix)
        assert self.pattern is not None
        return re.fullmatch(self.pattern, found) is not None


class ClaimRule(ClaimMatch):
    """A :class:`ClaimMatch` that gives a role, a group, or both."""

    role: Role | None = None
    group: str | None = Field(None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _gives_something(self) -> ClaimRule:
        if self.role is None and self.group is None:
            raise ValueError("a rule gives a role, a group, or both")
        return self


class OidcConfig(ProviderConfig):
    """``[auth.<name>]`` of an OpenID provider; docs/admin-guide.md, *OpenID Connect*."""

    #: The provider's issuer; its discovery document is at
    #: ``<issuer>/.well-known/openid-configuration`` and must name the same issuer.
    issuer: str = Field(min_length=1, max_length=500)
    client_id: str = Field(min_length=1, max_length=500)
    #: The client's secret, or a file holding it (``client_secret_file``); neither: a
    #: public client, which proves itself with PKCE alone.
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"  # noqa: S105 (a method's name)
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    #: ``prompt`` of the authorization request. Unset: ``consent`` when labgate asks for
    #: ``offline_access`` (OpenID Connect Core says so), none otherwise. "" sends none.
    prompt: str | None = None

    username_claim: str = "preferred_username"
    #: The user name from several claims (``"hzb-{preferred_username}"``); unset: the
    #: value of ``username_claim``.
    username_template: str = ""
    #: A regular expression the user name must match; its first group, if it has one, is
    #: the user name (``^([^@]+)@uni\\.example$`` takes the part before the domain and
    #: refuses every other domain).
    username_pattern: str = ""
    display_name_claim: str = "name"
    email_claim: str = "email"
    #: Take the e-mail claim even without ``email_verified = true`` beside it (the
    #: provider's addresses are all its administrators' own).
    trust_email: bool = False
    groups_claim: str = "groups"
    #: The provider's user names are this machine's OS account names (a facility's
    #: provider in front of the directory the machine's accounts come from): a first
    #: sign-in as ``ada`` is the OS account ``ada``'s. Off, a first sign-in under the name
    #: of an existing OS account is refused.
    names_are_os_accounts: bool = False

    #: Values of ``groups_claim`` giving a role (``{"labgate-admins" = "admin"}``).
    roles: dict[str, Role] = Field(default_factory=dict)
    #: Values of ``groups_claim`` giving a labgate group (``{"hzb-physics" = "physics"}``).
    groups: dict[str, str] = Field(default_factory=dict)
    #: Rules on any claim, giving a role, a group or both.
    rules: list[ClaimRule] = Field(default_factory=list)
    #: Who may sign in at all: one of these must hold (none given: everyone).
    allowed: list[ClaimMatch] = Field(default_factory=list)

    #: Also sign out at the provider (its ``end_session_endpoint``) when signing out.
    logout: bool = False
    #: Ask the provider again every ``identity_recheck_minutes`` whether the person may
    #: still sign in (a refresh token's grant; ``offline_access`` is asked for when the
    #: provider offers it).
    recheck: bool = True

    id_token_algorithms: list[str] = Field(default_factory=lambda: list(ASYMMETRIC_ALGORITHMS))
    http_timeout_seconds: float = Field(10.0, gt=0, le=120)
    #: A CA certificate file (PEM) to verify the provider's TLS with, instead of the
    #: system's.
    ca_file: Path | None = None
    #: How long the discovery document is kept before it is read again.
    discovery_cache_seconds: int = Field(3600, ge=0, le=7 * 86400)

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("the issuer is an https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("the issuer has no query or fragment")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError(
                "the issuer must be an https:// URL (http:// only on this machine, for tests)"
            )
        return value

    @field_validator("id_token_algorithms")
    @classmethod
    def _public_key_algorithms(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if name not in ASYMMETRIC_ALGORITHMS]
        if bad or not value:
            raise ValueError(
                f"ID tokens may be signed only with public-key algorithms "
                f"({', '.join(ASYMMETRIC_ALGORITHMS)}); not {', '.join(bad) or 'none at all'}"
            )
        return value

    @field_validator("username_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @field_validator("username_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if value and not _PLACEHOLDER.search(value):
            raise ValueError("the template names at least one claim, such as {preferred_username}")
        if _PLACEHOLDER.sub("", value).count("{") or _PLACEHOLDER.sub("", value).count("}"):
            raise ValueError("placeholders are a claim's name in braces, such as {email}")
        return value

    @field_validator("ca_file", "client_secret_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> OidcConfig:
        if self.client_secret is not None and self.client_secret_file is not None:
            raise ValueError("give client_secret or client_secret_file, not both")
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid")
        return self

    def secret(self) -> str | None:
        """The client secret (read from its file each time the provider is made)."""
        if self.client_secret_file is not None:
            return self.client_secret_file.read_text().strip() or None
        return self.client_secret.get_secret_value() if self.client_secret else None


#: ``{claim}`` in a user name template.
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.:-]{1,200})\}")


def fill_template(template: str, claims: dict[str, object]) -> str | None:
    """``template`` with each ``{claim}`` replaced by the claim's (single, text) value;
    None when one is missing."""
    missing = False

    def value_of(match: re.Match[str]) -> str:
        nonlocal missing
        found = claim_values(claims, match.group(1))
        if len(found) != 1:
            missing = True
            return ""
        return found[0]

    filled = _PLACEHOLDER.sub(value_of, template)
    return None if missing else filled


def claim_values(claims: dict[str, object], name: str) -> list[str]:
    """The values of the claim ``name`` as text (a list claim's items; nothing for a
    missing one); a dotted name is a nested claim unless a claim has that very name."""
    found: object = claims.get(name)
    if found is None and "." in name:
        found = claims
        for part in name.split("."):
            found = found.get(part) if isinstance(found, dict) else None
    items = found if isinstance(found, list) else [found]
    return [
        str(item)
        for item in items[:MAX_CLAIM_VALUES]
        if isinstance(item, str | int) and not isinstance(item, bool)
    ]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (http:// is allowed there only, for tests)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
