"""From an OpenID provider's claims to an account (labgate.auth.oidc_mapping): the user
name (a claim, a template, a pattern that strips a domain), the e-mail only when
verified (and then as verified), the name as an OS account's only when the section says
so, roles and groups by rules on plain and nested claims. (The whole sign-in runs
against a real provider in tests/test_oidc_sign_in.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from labgate.auth.oidc_config import OidcConfig
from labgate.auth.oidc_mapping import vouched_for
from labgate.auth.providers import SignInRefused, Vouched
from labgate.db.models import Role

CLAIMS: dict[str, Any] = {
    "sub": "248289761001",
    "preferred_username": "Jane",
    "email": "jane@uni.example",
    "email_verified": True,
    "name": "Jane Doe",
    "groups": ["/physics", "/labgate-admins"],
    "realm_access": {"roles": ["beamline-staff", "offline_access"]},
}


def mapped(claims: dict[str, Any] = CLAIMS, **settings: Any) -> Vouched:
    config = OidcConfig.model_validate(
        {"issuer": "https://id.example.org", "client_id": "labgate", **settings}
    )
    return vouched_for(config, claims, provider="uni", label="Uni AAI", recheck_secret=b"rt")


def test_the_defaults_take_the_usual_claims() -> None:
    vouched = mapped()
    assert (vouched.subject, vouched.username, vouched.display_name, vouched.email) == (
        "248289761001",
        "jane",
        "Jane Doe",
        "jane@uni.example",
    )
    # No rules: roles and groups stay the administrators'.
    assert (vouched.role, vouched.groups, vouched.managed_groups) == (
        None,
        frozenset(),
        frozenset(),
    )
    assert vouched.recheck_secret == b"rt"


@pytest.mark.parametrize(
    ("settings", "username"),
    [
        ({"username_claim": "email", "username_pattern": r"([^@]+)@uni\.example"}, "jane"),
        ({"username_template": "uni-{preferred_username}"}, "uni-jane"),
        ({"username_claim": "name"}, "jane doe"),  # not a valid name: labgate refuses it later
    ],
)
def test_the_user_name_by_claim_template_or_pattern(
    settings: dict[str, Any], username: str
) -> None:
    assert mapped(**settings).username == username


@pytest.mark.parametrize(
    "settings",
    [
        {"username_claim": "email", "username_pattern": r"([^@]+)@other\.example"},
        {"username_claim": "nickname"},
        {"username_template": "{given_name}.{family_name}"},
    ],
)
def test_no_user_name_refuses_the_sign_in(settings: dict[str, Any]) -> None:
    with pytest.raises(SignInRefused) as refused:
        mapped(**settings)
    assert "Ask an administrator" in refused.value.message


def test_an_address_is_taken_only_when_verified_or_trusted() -> None:
    unverified = {**CLAIMS, "email_verified": False}
    assert (mapped(unverified).email, mapped(unverified).email_verified) == (None, False)
    assert mapped({k: v for k, v in CLAIMS.items() if k != "email_verified"}).email is None
    # Taken, it is a verified address (it names people as experiments' members).
    for taken in (
        mapped(),
        mapped({**CLAIMS, "email_verified": "true"}),
        mapped(unverified, trust_email=True),
    ):
        assert (taken.email, taken.email_verified) == ("jane@uni.example", True)


def test_the_name_is_an_os_accounts_only_when_the_section_says_so() -> None:
    assert mapped().name_is_os_account is False
    assert mapped(names_are_os_accounts=True).name_is_os_account is True


def test_roles_and_groups_by_groups_and_by_rules_on_nested_claims() -> None:
    rules = [
        {"claim": "realm_access.roles", "value": "beamline-staff", "role": "staff"},
        {"claim": "realm_access.roles", "value": "beamline-support", "group": "support"},
    ]
    vouched = mapped(groups={"/physics": "physics", "/chemistry": "chemistry"}, rules=rules)
    assert vouched.role == Role.STAFF
    assert vouched.groups == {"physics"}
    # Every group the mapping names is the mapping's to give and to take away.
    assert vouched.managed_groups == {"physics", "chemistry", "support"}
    # The highest role of those given wins; none given: user.
    assert mapped(roles={"/labgate-admins": "admin"}, rules=rules).role == Role.ADMIN
    assert mapped(roles={"/nobody": "admin"}).role == Role.USER


def test_allowed_lets_in_only_those_it_names() -> None:
    allowed = [{"claim": "groups", "pattern": "/phys.*"}]
    assert mapped(allowed=allowed).username == "jane"
    with pytest.raises(SignInRefused) as refused:
        mapped({**CLAIMS, "groups": ["/chemistry"]}, allowed=allowed)
    assert "not one that may use this labgate" in refused.value.message
