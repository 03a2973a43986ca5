"""Issue 19's "done when", in Chromium against one ``labgate serve`` running as root with
every sign-in method at once: the machine's accounts through PAM (with a second factor),
a real OpenLDAP directory (its group deciding the role) and a real OpenID provider. Each
person signs in from the login page and reaches their files on ``local`` as their own
OS account (an existing one for PAM; one labgate makes at the first connection for the
directory's and the provider's people, as ``local_create_accounts`` says). The failures
a person meets on the way are told on the login page: a wrong password, a wrong code, a
locked directory account.

The other halves of the "done when" are their own browser tests: a guest joining with
an invitation and removed at its end (test_browser_guests.py), and the OpenID failures
(a tampered state, an expired code, a token for another audience:
test_browser_oidc.py). Screenshots go to test-results/institution-*.png.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.daemons import daemon_runtime_dir
from tests.support.files_ui import file_row, open_files
from tests.support.labgate_api import server_env
from tests.support.local_accounts import OsUser, remove_account
from tests.support.oidc import TestProvider, labgate_client, running_oidc_provider
from tests.support.pam import PAM_PASSWORD, TWO_FACTOR_NOTICE, PamService, pam_account, pam_service
from tests.support.processes import skip_unless_root
from tests.support.server import RunningServer, free_port, running_server
from tests.support.slapd import SUFFIX, Slapd, running_slapd

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for institution sign-in"
CLIENT_SECRET = "institution sign-in client secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"


def shot(name: str) -> str:
    return str(results_dir() / f"institution-{name}.png")


@dataclass(frozen=True)
class People:
    """Who signs in: a PAM account, two directory entries (one locked) and a person at
    the OpenID provider, each with a name of this run's."""

    pam: OsUser
    ldap: str
    locked: str
    oidc: str


def _directory_entries(ldap: str, locked: str) -> str:
    def person(uid: str, name: str, *extra: str) -> str:
        return "\n".join(
            [
                f"dn: uid={uid},{PEOPLE}",
                "objectClass: inetOrgPerson",
                f"uid: {uid}",
                f"cn: {name}",
                f"sn: {name.split()[-1]}",
                f"userPassword: {uid} password",
                *extra,
            ]
        )

    return (
        "\n\n".join(
            [
                person(ldap, "Lise Meitner", f"mail: {ldap}@example.org"),
                person(locked, "Locked Out", "pwdAccountLockedTime: 000001010000Z"),
                f"dn: cn=beamline-staff,{GROUPS}\nobjectClass: groupOfNames\ncn: beamline-staff\n"
                f"member: uid={ldap},{PEOPLE}",
            ]
        )
        + "\n"
    )


@pytest.fixture(scope="module")
def people() -> Iterator[People]:
    skip_unless_root("OS accounts on local, a PAM service and a private slapd")
    tag = secrets.token_hex(3)
    ldap, locked, oidc = f"ldp{tag}", f"ldl{tag}", f"oid{tag}"
    try:
        with pam_account(full_name="Pam Person") as account:
            yield People(pam=account, ldap=ldap, locked=locked, oidc=oidc)
    finally:
        # The accounts labgate made on local for the directory's and the provider's people.
        for made in (ldap, oidc):
            remove_account(made)


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, people: People
) -> Iterator[tuple[RunningServer, PamService]]:
    port = free_port()
    with contextlib.ExitStack() as stack:
        service = stack.enter_context(pam_service(tmp_path_factory.mktemp("pam"), two_factor=True))
        directory: Slapd = stack.enter_context(
            running_slapd(
                tmp_path_factory.mktemp("slapd"), _directory_entries(people.ldap, people.locked)
            )
        )
        provider: TestProvider = stack.enter_context(
            running_oidc_provider(
                tmp_path_factory.mktemp("op"), [labgate_client(port, CLIENT_SECRET, name="idp")]
            )
        )
        provider.set_accounts(
            [
                {
                    "sub": f"sub-{people.oidc}",
                    "login": people.oidc,
                    "password": f"{people.oidc} password",
                    "preferred_username": people.oidc,
                    "name": "Rosalind Franklin",
                    "email": f"{people.oidc}@example.org",
                    "email_verified": True,
                }
            ]
        )
        sections = {
            "pam": {"label": "Computer account", "service": service.name},
            "ldap": {
                "label": "Facility account",
                "url": directory.tls_url,
                "ca_file": str(directory.ca_path),
                "user_dn_template": f"uid={{username}},{PEOPLE}",
                "group_base": GROUPS,
                "roles": {"beamline-staff": "staff"},
            },
            "idp": {
                "kind": "oidc",
                "label": "Test AAI",
                "issuer": provider.issuer,
                "client_id": "labgate",
                "client_secret": CLIENT_SECRET,
            },
        }
        runtime_dir = stack.enter_context(daemon_runtime_dir(per_user=True))
        env = server_env(
            ADMIN_PASSWORD,
            runtime_dir,
            # As a server running as root has it by default: everyone on local, each as
            # the OS account named like them, made when it is missing.
            LABGATE_LOCAL_RESOURCE="auto",
            LABGATE_LOCAL_CREATE_ACCOUNTS="true",
            LABGATE_AUTH_PROVIDERS=json.dumps(["local", "pam", "ldap", "idp"]),
            LABGATE_AUTH=json.dumps(sections),
        )
        server = stack.enter_context(
            running_server(tmp_path_factory.mktemp("labgate"), env=env, port=port)
        )
        yield server, service


@pytest.fixture
def server(setup: tuple[RunningServer, PamService]) -> RunningServer:
    return setup[0]


@pytest.fixture
def service(setup: tuple[RunningServer, PamService]) -> PamService:
    return setup[1]


async def new_page(context: BrowserContext) -> Page:
    page = await context.new_page()
    await page.goto("/")
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    return page


async def fill_form(page: Page, username: str, password: str) -> None:
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def who_is_signed_in(page: Page) -> dict[str, object]:
    answer = await page.evaluate("fetch('/api/v1/auth/session').then((a) => a.json())")
    user: dict[str, object] = answer["user"]
    return user


async def home_on_local(page: Page, name: str) -> None:
    """The file browser on local opens at the person's own home, as their OS account
    (made at this first connection for those whose sign-in is not the machine's)."""
    await expect(page.get_by_test_id("pane-menu")).to_be_visible()
    pane = await open_files(page, "local")
    await expect(pane).to_have_attribute("data-complete", "true")
    entry = pwd.getpwnam(name)
    await expect(pane).to_have_attribute("data-path", entry.pw_dir)
    assert entry.pw_uid >= 1000
    assert Path(entry.pw_dir).stat().st_uid == entry.pw_uid


async def test_pam_ldap_and_openid_people_sign_in_and_reach_their_own_files(
    server: RunningServer, service: PamService, people: People
) -> None:
    note = people.pam.home / "only-mine.txt"
    note.write_text("PAM person's note\n")
    os.chown(note, people.pam.uid, people.pam.uid)
    note.chmod(0o600)
    async with chromium() as browser:

        async def context() -> BrowserContext:
            return await browser.new_context(
                viewport={"width": 1280, "height": 800}, base_url=server.url
            )

        # The login page: a button for the OpenID provider, the form for the rest.
        page = await new_page(await context())
        await expect(page.get_by_test_id("login-provider")).to_have_text("Sign in with Test AAI")
        await expect(page.get_by_test_id("login-subtitle")).to_contain_text("Computer account")
        await expect(page.get_by_test_id("login-subtitle")).to_contain_text("Facility account")
        await page.screenshot(path=shot("01-login-page"))

        # PAM, with a second factor: a wrong code is told, the right one signs in.
        await fill_form(page, people.pam.name, PAM_PASSWORD)
        await expect(page.get_by_test_id("login-step-message")).to_have_text(TWO_FACTOR_NOTICE)
        await page.get_by_test_id("login-answer").fill(service.wrong_code())
        await page.get_by_test_id("login-verify").click()
        await expect(page.get_by_test_id("login-error")).to_contain_text("code")
        await page.screenshot(path=shot("02-pam-wrong-code"))
        await fill_form(page, people.pam.name, PAM_PASSWORD)
        await page.get_by_test_id("login-answer").fill(service.code())
        await page.get_by_test_id("login-verify").click()
        await home_on_local(page, people.pam.name)
        await expect(
            file_row(page.locator("[data-testid=files-pane]:visible").last, note.name)
        ).to_be_visible()
        await page.screenshot(path=shot("03-pam-files"))
        assert (await who_is_signed_in(page))["display_name"] == "Pam Person"

        # LDAP: a wrong password and a locked account are told; the directory's group
        # makes the person staff, and their account on local is made for them.
        page = await new_page(await context())
        await fill_form(page, people.ldap, "not the password")
        await expect(page.get_by_test_id("login-error")).to_have_text(
            "Wrong user name or password."
        )
        await fill_form(page, people.locked, f"{people.locked} password")
        await expect(page.get_by_test_id("login-error")).to_contain_text("locked")
        await page.screenshot(path=shot("04-ldap-locked"))
        await fill_form(page, people.ldap, f"{people.ldap} password")
        await home_on_local(page, people.ldap)
        await page.screenshot(path=shot("05-ldap-files"))
        user = await who_is_signed_in(page)
        assert (user["role"], user["display_name"]) == ("staff", "Lise Meitner")

        # OpenID Connect: the button, the provider's form, back signed in.
        page = await new_page(await context())
        await page.get_by_test_id("login-provider").click()
        await expect(page.locator("h1")).to_have_text("Test identity provider")
        await page.locator("#login").fill(people.oidc)
        await page.locator("#password").fill(f"{people.oidc} password")
        await page.locator("#submit").click()
        await home_on_local(page, people.oidc)
        await page.screenshot(path=shot("06-oidc-files"))
        user = await who_is_signed_in(page)
        assert (user["username"], user["display_name"]) == (people.oidc, "Rosalind Franklin")
