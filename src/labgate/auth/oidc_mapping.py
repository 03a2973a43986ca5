"""From an OpenID provider's claims to whom labgate lets in (a :class:`Vouched`).

The section's mapping (labgate.auth.oidc_config) decides the user name, display name,
e-mail, role and groups. Roles and groups the mapping names are the mapping's to decide:
at every sign-in the person gets the highest role a rule gives (``user`` when the
mapping gives roles but none to them), and exactly the groups the rules give out of the
groups the rules name. A mapping that names no role leaves the role to the
administrators (a new account is a ``user``).

The e-mail is taken only when the provider vouches for it (``email_verified``) or the
section trusts it (``trust_email``), so the address it gives is a verified one. The user
name is an OS account's name only when the section says the provider's names are the
machine's (``names_are_os_accounts``); otherwise a first sign-in under the name of an
existing OS account is refused (labgate.accounts.identities).
"""

from __future__ import annotations

import re

from labgate.auth.oidc_config import OidcConfig, claim_values, fill_template
from labgate.auth.providers import SignInRefused, Vouched, mapped_role
from labgate.db.models import Role


def vouched_for(
    config: OidcConfig,
    claims: dict[str, object],
    *,
    provider: str,
    label: str,
    recheck_secret: bytes | None,
) -> Vouched:
    """Whom ``claims`` (the ID token's and userinfo's, checked) sign in as; raises
    :class:`SignInRefused` when ``allowed`` does not let them in or no user name can be
    made of them."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise SignInRefused(f"{label} did not say who you are (no 'sub' claim). Start again.")
    if not is_allowed(config, claims):
        raise SignInRefused(
            f"{label} signed you in, but your account there is not one that may use this "
            "labgate. Ask an administrator if you think it should be."
        )
    username = _username(config, claims, label)
    display_name = _first(claims, config.display_name_claim)
    email = _email(config, claims)
    role, groups, managed = _roles_and_groups(config, claims)
    return Vouched(
        provider=provider,
        subject=subject,
        username=username,
        label=email or username,
        display_name=display_name,
        email=email,
        # Only an address the provider vouches for (or the settings trust) is taken at all.
        email_verified=email is not None,
        name_is_os_account=config.names_are_os_accounts,
        groups=groups,
        managed_groups=managed,
        role=role,
        recheck_secret=recheck_secret,
    )


def is_allowed(config: OidcConfig, claims: dict[str, object]) -> bool:
    """Whether ``allowed`` lets the person with ``claims`` in (no tests: everyone)."""
    return not config.allowed or any(match.holds(claims) for match in config.allowed)


def _first(claims: dict[str, object], name: str) -> str:
    found = claim_values(claims, name)
    return found[0].strip() if found else ""


def _username(config: OidcConfig, claims: dict[str, object], label: str) -> str:
    if config.username_template:
        name = fill_template(config.username_template, claims)
        source = f"the template {config.username_template}"
    else:
        name = _first(claims, config.username_claim) or None
        source = f"the claim '{config.username_claim}'"
    if not name:
        raise SignInRefused(
            f"{label} did not give a user name for you ({source}). Ask an administrator "
            "to check the sign-in settings."
        )
    if config.username_pattern:
        match = re.fullmatch(config.username_pattern, name)
        if match is None:
            raise SignInRefused(
                f"{label} names you '{name[:100]}', which is not a name this labgate "
                "takes. Ask an administrator to create your account and link your sign-in."
            )
        name = match.group(1) if match.re.groups else match.group(0)
    return name.lower()


def _email(config: OidcConfig, claims: dict[str, object]) -> str | None:
    address = _first(claims, config.email_claim)
    if not address or "@" not in address or len(address) > 320:
        return None
    verified = claims.get("email_verified")
    # Some providers send the flag as text.
    if config.trust_email or verified is True or verified == "true":
        return address
    return None


def _roles_and_groups(
    config: OidcConfig, claims: dict[str, object]
) -> tuple[Role | None, frozenset[str], frozenset[str]]:
    member_of = set(claim_values(claims, config.groups_claim))
    roles = {role for value, role in config.roles.items() if value in member_of}
    groups = {group for value, group in config.groups.items() if value in member_of}
    managed = set(config.groups.values())
    for rule in config.rules:
        if rule.group is not None:
            managed.add(rule.group)
        if rule.holds(claims):
            if rule.role is not None:
                roles.add(rule.role)
            if rule.group is not None:
                groups.add(rule.group)
    decides_roles = bool(config.roles) or any(rule.role is not None for rule in config.rules)
    return mapped_role(decides_roles, roles), frozenset(groups), frozenset(managed)
