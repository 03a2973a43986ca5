"""Signing in, in Chromium, with the tests' sign-in plug-in (tests/support/sign_in_plugin.py)
as the institution: the plain form of labgate's own accounts; a button per identity
provider above the form, whose subtitle names the password providers; a second factor
asked and answered (a wrong code and an expired step each told, back on the form); a
sign-in at an identity provider, and its refusal told on the login page; logging out
followed to the provider's sign-out; an administrator seeing a user's identities in the
console, and the user their own in Preferences.

The app runs in-process (served by uvicorn on 127.0.0.1) with the built front end, so the
test sets what the providers answer. SQLite only: the sign-in's database side is tested
on both databases in tests/test_identities.py and tests/test_identity_recheck.py.
Screenshots (light and dark) go to test-results/sign-in-*.png to be looked at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from labgate.accounts.users import create_user
from labgate.app import create_app
from labgate.db import migrate
from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.plugins.manager import Plugins
from labgate.settings import Settings
from labgate.state import AppState
from tests.support import sign_in_plugin
from tests.support.browser import chromium, results_dir
from tests.support.local_accounts import map_local_to_root
from tests.support.serving import serving
from tests.support.sign_in_plugin import CODE, PASSWORD, WRONG_CODE, ElsewhereProvider

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "the administrator's password"
INSTITUTION = {
    "auth_providers": ["codes", "local", "elsewhere", "campus"],
    "auth": {
        "elsewhere": {"label": "Helmholtz AAI"},
        "campus": {"kind": "elsewhere", "label": "Campus SSO"},
    },
}
LOCKED = "Your account at Helmholtz AAI is locked. Ask your facility's help desk to unlock it."


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'labgate.sqlite3'}")
    await migrate.upgrade(db)
    yield db
    await db.dispose()


@asynccontextmanager
async def site(
    settings: Settings, database: Database, **changes: Any
) -> AsyncIterator[tuple[str, AppState]]:
    """labgate with the sign-in plug-in and ``changes`` to its settings, served; an
    administrator ``root`` of labgate's own."""
    changed = settings.model_copy(update=changes)
    plugins = Plugins.load(changed, extra=[sign_in_plugin])
    app = create_app(changed, database=database, bootstrap=False, plugins=plugins)
    async with app.router.lifespan_context(app):
        await map_local_to_root(database)
        async with database.session() as db:
            await create_user(
                db, changed, username="root", password=ADMIN_PASSWORD, role=Role.ADMIN
            )
        async with serving(app) as url:
            yield url, app.state.labgate


@asynccontextmanager
async def browser_page(browser: Browser, url: str) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 760}, base_url=url)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        await context.close()
    assert errors == []


async def screenshots(page: Page, name: str) -> None:
    """The page in the light theme and the dark one."""
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        # Transitions finished: the theme's colours, not a moment of the change to them.
        await page.screenshot(
            path=str(results_dir() / f"sign-in-{name}-{scheme}.png"), animations="disabled"
        )
    await page.emulate_media(color_scheme="light")


async def log_in_on(page: Page, username: str, password: str) -> None:
    await page.goto("/")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("workspace")).to_be_visible()


def elsewhere_of(state: AppState) -> ElsewhereProvider:
    provider = next(p for p in state.providers if p.name == "elsewhere")
    assert isinstance(provider, ElsewhereProvider)
    return provider


async def test_the_plain_form_of_labgate_s_own_accounts(
    settings: Settings, database: Database
) -> None:
    async with (
        site(settings, database) as (url, _),
        chromium() as browser,
        browser_page(browser, url) as page,
    ):
        await page.goto("/")
        await expect(page.get_by_test_id("login-subtitle")).to_have_text(
            "with your labgate account"
        )
        await expect(page.get_by_test_id("login-provider")).to_have_count(0)
        await expect(page.get_by_test_id("login-invitation")).to_be_visible()
        await screenshots(page, "plain-form")
        await page.get_by_test_id("login-username").fill("root")
        await page.get_by_test_id("login-password").fill("not the password")
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("login-error")).to_have_text(
            "Wrong user name or password."
        )


async def test_a_second_factor_is_asked_and_its_failures_told(
    settings: Settings, database: Database
) -> None:
    async with (
        site(settings, database, **INSTITUTION) as (url, state),
        chromium() as browser,
        browser_page(browser, url) as page,
    ):
        await page.goto("/")
        await expect(page.get_by_test_id("login-subtitle")).to_have_text(
            "with your University account or labgate account"
        )
        buttons = page.get_by_test_id("login-provider")
        await expect(buttons).to_have_text(
            ["Sign in with Helmholtz AAI", "Sign in with Campus SSO"]
        )
        await screenshots(page, "providers")

        async def first_step() -> None:
            await page.get_by_test_id("login-username").fill("alice")
            await page.get_by_test_id("login-password").fill(PASSWORD)
            await page.get_by_test_id("login-submit").click()
            await expect(page.get_by_test_id("login-step-form")).to_be_visible()

        # A wrong code: back on the form, told why, the name kept.
        await first_step()
        await expect(page.get_by_test_id("login-subtitle")).to_have_text(
            "with your University account"
        )
        await expect(page.get_by_test_id("login-step-message")).to_have_text(
            "Open your authenticator app for the code of your university account."
        )
        answer = page.get_by_test_id("login-answer")
        await expect(answer).to_be_focused()
        await expect(answer).to_have_attribute("autocomplete", "one-time-code")
        await expect(answer).to_have_attribute("type", "password")
        await expect(page.get_by_label("Verification code")).to_be_visible()
        await screenshots(page, "second-factor")
        await answer.fill("654321")
        await page.get_by_test_id("login-verify").click()
        await expect(page.get_by_test_id("login-error")).to_have_text(WRONG_CODE)
        await expect(page.get_by_test_id("login-form")).to_be_visible()
        await expect(page.get_by_test_id("login-username")).to_have_value("alice")
        await screenshots(page, "wrong-code")

        # A step that waited too long (here: the server let every waiting one go).
        await first_step()
        await state.login_steps.close()
        await page.get_by_test_id("login-answer").fill(CODE)
        await page.get_by_test_id("login-verify").click()
        await expect(page.get_by_test_id("login-error")).to_have_text(
            "This sign-in waited too long for an answer (or began on another server): start again."
        )
        await expect(page.get_by_test_id("login-form")).to_be_visible()

        # Start again, then the right code: in.
        await first_step()
        await page.get_by_test_id("login-start-again").click()
        await expect(page.get_by_test_id("login-password")).to_be_focused()
        await first_step()
        await page.get_by_test_id("login-answer").fill(CODE)
        await page.get_by_test_id("login-answer").press("Enter")
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        await expect(page.get_by_test_id("user-menu")).to_contain_text("Alice")
        # Preferences say how she signs in.
        await page.get_by_test_id("user-menu").click()
        await page.get_by_test_id("user-menu-preferences").click()
        await expect(page.get_by_test_id("pref-identities")).to_contain_text(
            "University account (alice@university.example)"
        )
        await screenshots(page, "preferences")


async def test_an_identity_provider_signs_in_refuses_and_signs_out(
    settings: Settings, database: Database
) -> None:
    async with (
        site(settings, database, **INSTITUTION) as (url, state),
        chromium() as browser,
        browser_page(browser, url) as page,
    ):
        # Refused there: back on the login page, told why, the address tidied.
        elsewhere_of(state).refusal = LOCKED
        await page.goto("/")
        await page.get_by_role("link", name="Sign in with Helmholtz AAI").click()
        await expect(page.get_by_test_id("login-error")).to_have_text(LOCKED)
        assert page.url == f"{url}/login"
        await screenshots(page, "provider-refused")
        # Read once: a reload shows the page as it is.
        await page.reload()
        await expect(page.get_by_test_id("login-form")).to_be_visible()
        await expect(page.get_by_test_id("login-error")).to_have_count(0)

        # Accepted: in the workspace as the account its first sign-in made.
        elsewhere_of(state).refusal = None
        await page.get_by_role("link", name="Sign in with Helmholtz AAI").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        await expect(page.get_by_test_id("user-menu")).to_contain_text("redirected")

        # Logging out goes on to sign out at the provider, which comes back here.
        await page.get_by_test_id("user-menu").click()
        await page.get_by_test_id("user-menu-logout").click()
        await page.wait_for_url(f"{url}/login?signed_out=elsewhere")
        await expect(page.get_by_test_id("login-form")).to_be_visible()
        assert (await page.context.request.get(f"{url}/api/v1/auth/session")).status == 401


async def test_an_administrator_sees_and_unlinks_a_user_s_identities(
    settings: Settings, database: Database
) -> None:
    changes = {**INSTITUTION, "auth": {**INSTITUTION["auth"], "codes": {"second_factor": False}}}
    async with (
        site(settings, database, **changes) as (url, _),
        chromium() as browser,
        browser_page(browser, url) as alice,
        browser_page(browser, url) as admin,
    ):
        await log_in_on(alice, "alice", PASSWORD)
        await log_in_on(admin, "root", ADMIN_PASSWORD)
        await admin.get_by_test_id("admin-menu").click()
        await admin.get_by_test_id("admin-menu-users").click()
        pane = admin.get_by_test_id("users-pane")
        row = pane.locator("[data-testid=user-row][data-username=alice]")
        await expect(row.get_by_test_id("user-made-by")).to_have_text(
            "joined through University account"
        )
        await row.get_by_test_id("user-activity-open").click()
        identities = pane.get_by_test_id("user-identities")
        await expect(identities.get_by_test_id("user-identity")).to_contain_text(
            "alice@university.example"
        )
        await identities.get_by_test_id("user-identity-subject").fill("helmholtz-sub-1")
        await identities.get_by_test_id("user-identity-provider").select_option("elsewhere")
        await identities.get_by_test_id("user-identity-link-submit").click()
        await expect(identities.get_by_test_id("user-identity")).to_have_count(2)
        await identities.locator("[data-provider=elsewhere]").scroll_into_view_if_needed()
        await screenshots(admin, "console-identities")
        # Unlinking the identity she signed in with ends her session.
        await (
            identities.locator("[data-provider=codes]")
            .get_by_test_id("user-identity-unlink")
            .click()
        )
        await admin.get_by_test_id("user-identity-unlink-confirm-confirm").click()
        await expect(identities.get_by_test_id("user-identity")).to_have_count(1)
        assert (await alice.context.request.get(f"{url}/api/v1/auth/session")).status == 401
