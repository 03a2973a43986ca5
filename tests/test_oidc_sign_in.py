"""Signing in with OpenID Connect (labgate.auth.oidc) against a real OpenID provider
(panva's oidc-provider under Node.js, tests/support/oidc.py) and a real ``labgate
serve``, followed over HTTP as a browser would: the account made and updated by the
mapping, and every way a sign-in fails told on the login page (a tampered state, an
expired code, a token for another audience or naming nobody, a provider that cannot be
reached, a person the provider or the rules turn away); signing keys rotated at the
provider; logging out there too; a discovery document's plain-HTTP endpoints refused.
The provider's re-check (a refresh token's grant) and a code used twice are tested on
the provider class itself, against the same real provider.
"""

from __future__ import annotations

import contextlib
import json
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labgate.auth.oidc import OidcProvider
from labgate.auth.oidc_config import OidcConfig
from labgate.auth.oidc_keys import ProviderDocument
from labgate.auth.oidc_mapping import vouched_for
from labgate.auth.providers import Recheck, SignInRefused, load_providers
from labgate.db.models import Role
from labgate.errors import ConfigurationError
from labgate.plugins.manager import Plugins
from labgate.settings import Settings
from tests.support.labgate_api import labgate_server
from tests.support.oidc import (
    TestProvider,
    labgate_client,
    running_oidc_provider,
    through_provider,
)
from tests.support.server import RunningServer, free_port

pytestmark = [pytest.mark.e2e]

ADMIN_PASSWORD = "admin password for oidc sign-in"
CLIENT_SECRET = "a client secret: with odd/characters"
SCOPES = ["openid", "profile", "email", "groups", "eduperson_entitlement"]
PHYSICS = "urn:geant:helmholtz.de:group:physics#login.helmholtz.de"
SIGN_IN = "/api/v1/auth/providers/oidc/login"


def section(issuer: str, **more: Any) -> dict[str, Any]:
    """labgate's settings for the test provider: entitlements and groups mapped."""
    return {
        "kind": "oidc",
        "label": "Test AAI",
        "issuer": issuer,
        "client_id": "labgate",
        "client_secret": CLIENT_SECRET,
        "scopes": SCOPES,
        "logout": True,
        "roles": {"labgate-admins": "admin"},
        "groups": {"hzb-optics": "optics"},
        "rules": [
            {"claim": "eduPersonEntitlement", "prefix": PHYSICS.split("#")[0], "group": "physics"},
            {
                "claim": "eduPersonEntitlement",
                "pattern": r"urn:geant:.*:role=staff#.*",
                "role": "staff",
            },
        ],
        "allowed": [{"claim": "eduPersonEntitlement", "prefix": "urn:geant:helmholtz.de:"}],
        **more,
    }


def account(login: str, **more: Any) -> dict[str, Any]:
    return {
        "sub": f"sub-{login}",
        "login": login,
        "password": f"{login} password",
        "preferred_username": login,
        "name": login.title(),
        "email": f"{login}@example.org",
        "email_verified": True,
        "groups": [],
        "eduPersonEntitlement": [PHYSICS],
        **more,
    }


ACCOUNTS = [
    account(
        "alice",
        name="Alice Physicist",
        groups=["hzb-optics"],
        eduPersonEntitlement=[PHYSICS, "urn:geant:helmholtz.de:group:physics:role=staff#x"],
    ),
    account("bob"),
    account("carol"),
    account("dave"),
    account("erin", email_verified=False),
    account("mallory", eduPersonEntitlement=["urn:geant:elsewhere.org:group:x"]),
]


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestProvider, RunningServer]]:
    port = free_port()
    with running_oidc_provider(
        tmp_path_factory.mktemp("op"), [labgate_client(port, CLIENT_SECRET)]
    ) as provider:
        provider.set_accounts(ACCOUNTS)
        down = f"http://127.0.0.1:{free_port()}"  # nobody listens there
        env = {
            "LABGATE_AUTH_PROVIDERS": json.dumps(["local", "oidc", "down"]),
            "LABGATE_AUTH": json.dumps(
                {"oidc": section(provider.issuer), "down": section(down, label="Down AAI")}
            ),
        }
        with labgate_server(
            tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env, port=port
        ) as server:
            yield provider, server


@pytest.fixture
def provider(setup: tuple[TestProvider, RunningServer]) -> Iterator[TestProvider]:
    op = setup[0]
    yield op
    op.control()  # switches off for the next test


@pytest.fixture
def server(setup: tuple[TestProvider, RunningServer]) -> RunningServer:
    return setup[1]


def begin(http: httpx.Client, server: RunningServer, name: str = "oidc") -> str:
    """Start a sign-in at labgate; the provider's URL it sends the browser to."""
    started = http.get(f"{server.url}/api/v1/auth/providers/{name}/login?next=/files")
    assert started.status_code == 303, started.text
    return started.headers["location"]


def callback(http: httpx.Client, url: str) -> httpx.Response:
    answer = http.get(url)
    assert answer.status_code == 303, answer.text
    return answer


@contextlib.contextmanager
def sign_in(server: RunningServer, login: str) -> Iterator[httpx.Client]:
    """A browser signed in at labgate through the provider as ``login``."""
    with httpx.Client(trust_env=False) as http:
        back = callback(
            http, through_provider(http, begin(http, server), login, f"{login} password")
        )
        assert back.headers["location"] == "/files", sign_in_error(http, server)
        yield http


def session_of(http: httpx.Client, server: RunningServer) -> dict[str, Any]:
    found = http.get(f"{server.url}/api/v1/auth/session")
    assert found.status_code == 200, found.text
    user: dict[str, Any] = found.json()["user"]
    return user


def sign_in_error(http: httpx.Client, server: RunningServer) -> str | None:
    said = http.get(f"{server.url}/api/v1/auth/sign-in-error")
    assert said.status_code == 200, said.text
    error: str | None = said.json()["error"]
    return error


def refused(http: httpx.Client, server: RunningServer, answer: httpx.Response) -> str:
    """The sentence the login page shows for a sign-in sent back to it."""
    assert answer.headers["location"] == "/login?sign_in=failed"
    message = sign_in_error(http, server)
    assert message, "no reason was given"
    assert session_of_status(http, server) == 401
    return message


def session_of_status(http: httpx.Client, server: RunningServer) -> int:
    return http.get(f"{server.url}/api/v1/auth/session").status_code


def test_the_first_sign_in_creates_the_account_by_the_mapping(server: RunningServer) -> None:
    with sign_in(server, "alice") as http:
        user = session_of(http, server)
    assert user["username"] == "alice"
    assert user["display_name"] == "Alice Physicist"
    assert user["email"] == "alice@example.org"
    # The staff role and the physics group from entitlements, optics from a group.
    assert user["role"] == "staff"
    assert sorted(user["groups"]) == ["optics", "physics"]


def test_a_later_sign_in_applies_the_mapping_again(
    server: RunningServer, provider: TestProvider
) -> None:
    with sign_in(server, "bob") as http:
        first = session_of(http, server)
    assert (first["role"], first["groups"]) == ("user", ["physics"])
    changed = account(
        "bob",
        name="Robert",
        groups=["labgate-admins", "hzb-optics"],
        eduPersonEntitlement=["urn:geant:helmholtz.de:group:chemistry#x"],
    )
    provider.set_accounts([changed if one["login"] == "bob" else one for one in ACCOUNTS])
    try:
        with sign_in(server, "bob") as http:
            second = session_of(http, server)
    finally:
        provider.set_accounts(ACCOUNTS)
    assert second["id"] == first["id"]
    assert (second["display_name"], second["role"]) == ("Robert", "admin")
    # Out of physics (the rule no longer holds), into optics.
    assert second["groups"] == ["optics"]


def test_an_unverified_address_is_not_taken(server: RunningServer) -> None:
    with sign_in(server, "erin") as http:
        assert session_of(http, server)["email"] is None


def test_someone_the_rules_do_not_allow_is_turned_away(server: RunningServer) -> None:
    with httpx.Client(trust_env=False) as http:
        back = callback(
            http, through_provider(http, begin(http, server), "mallory", "mallory password")
        )
        message = refused(http, server, back)
    assert "not one that may use this labgate" in message


def test_a_tampered_state_is_refused(server: RunningServer) -> None:
    with httpx.Client(trust_env=False) as http:
        url = httpx.URL(through_provider(http, begin(http, server), "carol", "carol password"))
        params = dict(url.params)
        params["state"] = params["state"][:-2] + ("xy" if params["state"][-2:] != "xy" else "zz")
        message = refused(http, server, callback(http, str(url.copy_with(params=params))))
    assert message == "The sign-in could not be verified (its state does not match). Start again."


def test_an_expired_code_is_refused(server: RunningServer, provider: TestProvider) -> None:
    provider.control(code_ttl_seconds=1)
    with httpx.Client(trust_env=False) as http:
        back = through_provider(http, begin(http, server), "carol", "carol password")
        time.sleep(2.5)  # what is tested: the code's second at the provider passes
        message = refused(http, server, callback(http, back))
    assert message == "The sign-in took too long or was used already. Start again."


def test_a_token_for_another_audience_is_refused(
    server: RunningServer, provider: TestProvider
) -> None:
    provider.control(id_token_audience="another-application")
    with httpx.Client(trust_env=False) as http:
        back = through_provider(http, begin(http, server), "carol", "carol password")
        message = refused(http, server, callback(http, back))
    assert "was issued for another application" in message
    assert message.startswith("The sign-in at Test AAI")


@pytest.mark.parametrize("subject", [None, "", "  ", 42, ["sub-carol"], "s" * 256])
def test_a_token_that_names_nobody_is_refused(
    server: RunningServer, provider: TestProvider, subject: object
) -> None:
    """An ID token without a usable ``sub`` (none, empty, not text, too long), signed
    with the provider's real key: a sentence, not a server error."""
    provider.control(id_token_sub=subject)
    with httpx.Client(trust_env=False) as http:
        back = through_provider(http, begin(http, server), "carol", "carol password")
        message = refused(http, server, callback(http, back))
    assert message == (
        "The sign-in at Test AAI could not be verified (it does not say who you are). "
        "Start again; tell an administrator if it happens again."
    )


def test_a_state_that_is_not_ascii_is_refused(server: RunningServer) -> None:
    with httpx.Client(trust_env=False) as http:
        url = httpx.URL(through_provider(http, begin(http, server), "carol", "carol password"))
        params = {**dict(url.params), "state": "état-é"}
        message = refused(http, server, callback(http, str(url.copy_with(params=params))))
    assert message == "The sign-in could not be verified (its state does not match). Start again."


def test_a_sign_in_cancelled_at_the_provider_says_so(server: RunningServer) -> None:
    with httpx.Client(trust_env=False) as http:
        back = through_provider(http, begin(http, server), "carol", "", cancel=True)
        message = refused(http, server, callback(http, back))
    assert message == (
        "Test AAI did not sign you in: The person cancelled the sign-in at the test "
        "provider. Start again."
    )


def test_a_provider_that_cannot_be_reached_is_said(server: RunningServer) -> None:
    with httpx.Client(trust_env=False) as http:
        started = http.get(f"{server.url}/api/v1/auth/providers/down/login")
        assert started.status_code == 303
        message = refused(http, server, started)
    assert message == (
        "Down AAI cannot be reached just now, so you cannot sign in with it. Try again "
        "later, or sign in another way."
    )


def test_a_provider_gone_during_the_sign_in_is_said(
    server: RunningServer, provider: TestProvider
) -> None:
    with httpx.Client(trust_env=False) as http:
        back = through_provider(http, begin(http, server), "carol", "carol password")
        provider.stop()
        try:
            message = refused(http, server, callback(http, back))
        finally:
            provider.start()
    assert "Test AAI cannot be reached just now" in message


def test_keys_rotated_at_the_provider_are_read_again(
    server: RunningServer, provider: TestProvider
) -> None:
    with sign_in(server, "dave"):
        pass  # labgate holds the first key now
    kid = provider.rotate_key()
    assert kid == "key-2"
    with sign_in(server, "dave") as http:
        assert session_of(http, server)["username"] == "dave"
    # The new key was signed with, and labgate read the keys again to find it.
    assert "request GET /jwks" in provider.log


def test_logging_out_goes_to_the_provider_too(server: RunningServer) -> None:
    with sign_in(server, "carol") as http:
        csrf = http.get(f"{server.url}/api/v1/auth/session").json()["csrf_token"]
        out = http.post(f"{server.url}/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 200, out.text
        logout_url = httpx.URL(out.json()["logout_url"])
        assert session_of_status(http, server) == 401
        # The provider knows the client and where it comes back to: it asks to confirm.
        confirm = http.get(logout_url)
        assert confirm.status_code == 200, confirm.text
    assert dict(logout_url.params) == {
        "client_id": "labgate",
        "post_logout_redirect_uri": f"{server.url}/login",
    }


# -- the provider class itself, against the same real provider ------------------------


def provider_of(op: TestProvider, **more: Any) -> OidcProvider:
    config = OidcConfig.model_validate(section(op.issuer, **more))
    made = OidcProvider(Settings(), config)
    made.name = "oidc"
    return made


async def signed_in(
    made: OidcProvider, server: RunningServer, login: str
) -> tuple[dict[str, str], dict[str, str], str]:
    """(flow, callback parameters, callback URL) of a sign-in as ``login`` at the real
    provider, for ``made`` to finish."""
    callback_url = f"{server.url}/api/v1/auth/providers/oidc/callback"
    redirect = await made.begin(callback_url)
    with httpx.Client(trust_env=False) as http:
        back = httpx.URL(through_provider(http, redirect.url, login, f"{login} password"))
    return redirect.flow, dict(back.params), callback_url


async def test_the_refresh_token_rechecks_the_identity(
    server: RunningServer, provider: TestProvider
) -> None:
    made = provider_of(provider)
    flow, params, callback_url = await signed_in(made, server, "carol")
    vouched = await made.finish(flow, params, callback_url)
    assert vouched.subject == "sub-carol"
    assert vouched.recheck_secret
    assert await made.recheck(vouched.subject, vouched.recheck_secret) == Recheck(True)

    # Rotated refresh tokens: the new one is kept.
    provider.control(rotate_refresh_tokens=True)
    rotated = await made.recheck(vouched.subject, vouched.recheck_secret)
    assert rotated.holds is True
    assert rotated.secret
    assert rotated.secret != vouched.recheck_secret
    provider.control()

    # No longer in the facility's virtual organisation: the rules turn the person away.
    elsewhere = account("carol", eduPersonEntitlement=["urn:geant:elsewhere.org:group:x"])
    provider.set_accounts([elsewhere if one["login"] == "carol" else one for one in ACCOUNTS])
    try:
        assert await made.recheck(vouched.subject, rotated.secret) == Recheck(False)
    finally:
        provider.set_accounts(ACCOUNTS)
    assert await made.recheck(vouched.subject, rotated.secret) == Recheck(True)

    # The account disabled at the provider: it refuses.
    disabled = account("carol", disabled=True)
    provider.set_accounts([disabled if one["login"] == "carol" else one for one in ACCOUNTS])
    try:
        assert await made.recheck(vouched.subject, rotated.secret) == Recheck(False)
    finally:
        provider.set_accounts(ACCOUNTS)


async def test_a_recheck_with_the_provider_down_decides_nothing(
    server: RunningServer, provider: TestProvider
) -> None:
    made = provider_of(provider)
    flow, params, callback_url = await signed_in(made, server, "carol")
    vouched = await made.finish(flow, params, callback_url)
    provider.stop()
    try:
        assert await made.recheck(vouched.subject, vouched.recheck_secret) == Recheck(None)
    finally:
        provider.start()
    assert await made.recheck(vouched.subject, None) == Recheck(None)


async def test_a_code_used_twice_is_refused(server: RunningServer, provider: TestProvider) -> None:
    made = provider_of(provider, recheck=False)
    flow, params, callback_url = await signed_in(made, server, "carol")
    vouched = await made.finish(flow, params, callback_url)
    assert vouched.recheck_secret is None  # recheck off: no refresh token kept
    with pytest.raises(SignInRefused) as replayed:
        await made.finish(flow, params, callback_url)
    assert replayed.value.message == "The sign-in took too long or was used already. Start again."


async def test_a_sign_in_back_from_another_issuer_is_refused(
    server: RunningServer, provider: TestProvider
) -> None:
    made = provider_of(provider)
    flow, params, callback_url = await signed_in(made, server, "carol")
    with pytest.raises(SignInRefused) as mixed_up:
        await made.finish(flow, {**params, "iss": "https://id.example.org"}, callback_url)
    assert "another provider than Test AAI" in mixed_up.value.message


async def test_names_are_os_accounts_only_when_the_section_says_so(
    server: RunningServer, provider: TestProvider
) -> None:
    for setting in (False, True):
        made = provider_of(provider, recheck=False, names_are_os_accounts=setting)
        vouched = await made.finish(*await signed_in(made, server, "carol"))
        assert (vouched.username, vouched.name_is_os_account) == ("carol", setting)
        # The provider vouches for the address (email_verified): a verified one.
        assert (vouched.email, vouched.email_verified) == ("carol@example.org", True)


async def test_no_logout_at_the_provider_unless_asked(provider: TestProvider) -> None:
    made = provider_of(provider, logout=False)
    assert await made.logout_url("http://127.0.0.1/login") is None


# -- the discovery document: endpoints over https -----------------------------------------

ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint")


def discovery(issuer: str, **endpoints: str) -> dict[str, Any]:
    """A discovery document whose endpoints are under ``issuer``, but for ``endpoints``."""
    found: dict[str, Any] = {"issuer": issuer}
    for key in (*ENDPOINTS, "end_session_endpoint"):
        found[key] = f"{issuer}/{key}"
    return {**found, **endpoints}


@pytest.mark.parametrize("key", [*ENDPOINTS, "end_session_endpoint"])
def test_an_https_issuer_with_a_plain_http_endpoint_is_refused(key: str) -> None:
    issuer = "https://id.example.org"
    plain = discovery(issuer, **{key: f"http://id.example.org/{key}"})
    with pytest.raises(SignInRefused) as refused:
        ProviderDocument.read(plain, "Uni AAI", issuer)
    assert refused.value.message == (
        f"Uni AAI's discovery document names an endpoint without https ({key}), which "
        "labgate does not use. Tell an administrator."
    )
    # On this machine neither: the issuer is https, so must its endpoints be.
    local = discovery(issuer, **{key: f"http://127.0.0.1:9/{key}"})
    with pytest.raises(SignInRefused):
        ProviderDocument.read(local, "Uni AAI", issuer)
    assert ProviderDocument.read(discovery(issuer), "Uni AAI", issuer).token_endpoint == (
        "https://id.example.org/token_endpoint"
    )


def test_a_test_issuer_on_this_machine_keeps_its_endpoints_there() -> None:
    issuer = "http://127.0.0.1:8080"
    read = ProviderDocument.read(discovery(issuer), "Test AAI", issuer)
    assert read.jwks_uri == "http://127.0.0.1:8080/jwks_uri"
    assert read.end_session_endpoint == "http://127.0.0.1:8080/end_session_endpoint"
    # An http issuer on this machine may not send the keys' way elsewhere in plain HTTP.
    elsewhere = discovery(issuer, jwks_uri="http://id.example.org/jwks")
    with pytest.raises(SignInRefused) as refused:
        ProviderDocument.read(elsewhere, "Test AAI", issuer)
    assert "without https (jwks_uri)" in refused.value.message
    with_https = discovery(issuer, jwks_uri="https://id.example.org/jwks")
    assert ProviderDocument.read(with_https, "Test AAI", issuer).jwks_uri == (
        "https://id.example.org/jwks"
    )


# -- settings refused at start-up ------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"issuer": "http://id.example.org"}, "http:// only on this machine"),
        ({"id_token_algorithms": ["RS256", "HS256"]}, "not HS256"),
        (
            {"rules": [{"claim": "groups", "value": "a", "prefix": "b", "group": "x"}]},
            "exactly one",
        ),
        ({"rules": [{"claim": "groups", "value": "a"}]}, "gives a role, a group, or both"),
        ({"username_pattern": "(unclosed"}, "not a regular expression"),
        ({"scopes": ["profile"]}, "openid"),
        ({"client_secret_file": "/nonexistent/secret"}, "is not a file"),
        ({"colour": "blue"}, "auth.oidc.colour"),
    ],
)
def test_bad_settings_stop_the_server(change: dict[str, Any], said: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        auth_providers=["oidc"],
        auth={"oidc": {**section("https://id.example.org"), **change}},
    )
    plugins = Plugins.load(settings)
    with pytest.raises(ConfigurationError) as stopped:
        load_providers(settings, plugins)
    assert said in stopped.value.message


def test_the_admin_guides_example_is_valid_and_maps_as_it_says(tmp_path: Path) -> None:
    guide = (Path(__file__).parents[1] / "docs" / "admin-guide.md").read_text()
    part = guide.split("### OpenID Connect", 1)[1].split("\n### ", 1)[0]
    example = next(block for block in part.split("```toml\n")[1:] if "[auth.helmholtz]" in block)
    values = tomllib.loads(example.split("```", 1)[0])
    secret = tmp_path / "helmholtz-secret"
    secret.write_text("the secret\n")
    values["auth"]["helmholtz"]["client_secret_file"] = str(secret)
    settings = Settings(data_dir=tmp_path, **values)
    (made,) = [p for p in load_providers(settings, Plugins.load(settings)) if p.name != "local"]
    assert isinstance(made, OidcProvider)
    assert made.client_secret == "the secret"
    claims = {
        "sub": "a1b2",
        "eduperson_principal_name": "Jane.Doe@hzb.example",
        "eduperson_entitlement": [
            "urn:geant:helmholtz.de:group:HZB#login.helmholtz.de",
            "urn:geant:helmholtz.de:group:HZB:physics:beamline-7#login.helmholtz.de",
            "urn:geant:helmholtz.de:group:HZB:physics:role=staff#login.helmholtz.de",
        ],
    }
    vouched = vouched_for(made.config, claims, provider="helmholtz", label="x", recheck_secret=None)
    assert (vouched.username, vouched.role, vouched.groups) == (
        "jane.doe",
        Role.STAFF,
        frozenset({"physics"}),
    )
    with pytest.raises(SignInRefused):  # not in the facility's virtual organisation
        vouched_for(
            made.config,
            {**claims, "eduperson_entitlement": ["urn:geant:helmholtz.de:group:DESY#x"]},
            provider="helmholtz",
            label="x",
            recheck_secret=None,
        )
