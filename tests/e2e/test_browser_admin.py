"""The administrators' pages in a real browser: the Users pane (create a user and see
their one-time password once, change their role, disable them, which a second browser
logged in as them feels, enable them and reset their password, the last administrator
kept) and the requests for more time (an ordinary user's real request appears live with
a badge, is granted with another amount than asked, a second is refused with an answer).

Screenshots go to test-results/admin-*.png to be looked at.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer
from tests.support.sessions import another_user, launch, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for the administrators' pages"
DAVE_PASSWORD = "dave's password for asking for time"
CAROL_PASSWORD = "carol's own password, chosen at her first login"
# How long a disabled user's open tab may take to notice (the check is every second).
PATIENCE_MS = 30_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "LABGATE_LOCAL_RESOURCE": "everyone",
        # Every request for more time waits for an administrator.
        "LABGATE_APP_AUTO_EXTENSIONS": "0",
    }
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"admin-{name}.png")


async def log_in(context: BrowserContext, server: RunningServer, user: str, password: str) -> Page:
    page = await context.new_page()
    await page.goto(server.url)
    await page.get_by_test_id("login-username").fill(user)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    return page


async def choose_password(page: Page, one_time: str, password: str) -> None:
    """Answer the first login's dialog: a password of one's own instead of ``one_time``."""
    await expect(page.get_by_test_id("password-required")).to_be_visible()
    current = page.get_by_test_id("password-current")
    if await current.count():  # asked again for the one-time password (not in every version)
        await current.fill(one_time)
    await page.get_by_test_id("password-new").fill(password)
    await page.get_by_test_id("password-repeat").fill(password)
    await page.get_by_test_id("password-save").click()
    await expect(page.get_by_test_id("password-dialog")).to_be_hidden()
    await expect(page.get_by_test_id("workspace")).to_be_visible()


async def open_admin_pane(page: Page, kind: str) -> None:
    await page.get_by_test_id("admin-menu").click()
    await page.get_by_test_id(f"admin-menu-{kind}").click()


async def test_an_administrator_manages_users(server: RunningServer) -> None:
    async with chromium() as browser:
        admin_context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await log_in(admin_context, server, "admin", ADMIN_PASSWORD)
        await open_admin_pane(page, "users")
        pane = page.get_by_test_id("users-pane")
        admin_row = pane.locator("[data-testid=user-row][data-username=admin]")
        # The only administrator: the controls say why they cannot be used.
        await expect(admin_row.get_by_test_id("user-disable")).to_be_disabled()
        await expect(admin_row.get_by_test_id("user-disable")).to_have_attribute(
            "title",
            "admin is the last enabled administrator and cannot be disabled: make "
            "another user an administrator first.",
        )
        await expect(admin_row.get_by_test_id("user-role")).to_be_disabled()

        # A new user: a bad name is refused beside the field, then a one-time password.
        await pane.get_by_test_id("users-new").click()
        dialog = page.get_by_test_id("new-user-dialog")
        await dialog.get_by_test_id("new-user-username").fill("Carol Smith")
        await dialog.get_by_test_id("new-user-submit").click()
        await expect(dialog.get_by_test_id("new-user-username-error")).to_contain_text(
            "lower-case letters"
        )
        await dialog.get_by_test_id("new-user-username").fill("carol")
        await dialog.get_by_test_id("new-user-display-name").fill("Carol Smith")
        await dialog.get_by_test_id("new-user-email").fill("carol@example.org")
        await page.screenshot(path=shot("01-new-user"))
        await dialog.get_by_test_id("new-user-submit").click()
        handed = page.get_by_test_id("one-time-password-dialog")
        one_time = await handed.get_by_test_id("one-time-password").input_value()
        assert len(one_time) >= 16
        await page.screenshot(path=shot("02-one-time-password"))
        await handed.get_by_test_id("one-time-password-done").click()
        carol = pane.locator("[data-testid=user-row][data-username=carol]")
        await expect(carol.get_by_test_id("user-must-change")).to_be_visible()

        # Her role changes; the search finds her by her e-mail.
        await carol.get_by_test_id("user-role").select_option("guest")
        await pane.get_by_test_id("users-search").fill("example.org")
        await expect(pane.get_by_test_id("user-row")).to_have_count(1)
        await page.screenshot(path=shot("03-users"))
        await pane.get_by_test_id("users-search").fill("")
        assert user_field(server, "carol", "role") == "guest"

        # Logged in elsewhere, she chooses a password of her own and works.
        carol_context = await browser.new_context(viewport={"width": 1100, "height": 700})
        hers = await log_in(carol_context, server, "carol", one_time)
        await choose_password(hers, one_time, CAROL_PASSWORD)
        await hers.get_by_test_id("pane-menu").click()
        await hers.get_by_test_id("pane-menu-resources").click()
        await expect(hers.get_by_test_id("resources-pane")).to_be_visible()

        # Disabled: her open tab (its live socket) is logged out, and she cannot log in again.
        await carol.get_by_test_id("user-disable").click()
        confirm = page.get_by_test_id("user-disable-confirm")
        await expect(confirm).to_contain_text("can no longer log in")
        await page.screenshot(path=shot("04-disable"))
        await confirm.get_by_test_id("user-disable-confirm-confirm").click()
        await expect(carol.get_by_test_id("user-state")).to_have_text("Disabled")
        await expect(hers.get_by_test_id("login-submit")).to_be_visible(timeout=PATIENCE_MS)
        await hers.get_by_test_id("login-username").fill("carol")
        await hers.get_by_test_id("login-password").fill(CAROL_PASSWORD)
        await hers.get_by_test_id("login-submit").click()
        await expect(hers.get_by_test_id("login-error")).to_contain_text("disabled")

        # Enabled, with a new one-time password: that one works, and must be replaced.
        await carol.get_by_test_id("user-enable").click()
        await expect(carol.get_by_test_id("user-state")).to_have_text("Enabled")
        await carol.get_by_test_id("user-reset-password").click()
        await page.get_by_test_id("user-reset-confirm-confirm").click()
        renewed = await page.get_by_test_id("one-time-password").input_value()
        assert renewed != one_time
        await page.get_by_test_id("one-time-password-done").click()
        await hers.get_by_test_id("login-password").fill(CAROL_PASSWORD)
        await hers.get_by_test_id("login-submit").click()
        await expect(hers.get_by_test_id("login-error")).to_be_visible()
        await hers.get_by_test_id("login-password").fill(renewed)
        await hers.get_by_test_id("login-submit").click()
        await expect(hers.get_by_test_id("password-required")).to_be_visible()

        # Deleted, after a confirmation that says what goes.
        await carol.get_by_test_id("user-delete").click()
        deleting = page.get_by_test_id("user-delete-confirm")
        await expect(deleting).to_contain_text("cannot be undone")
        await page.screenshot(path=shot("05-delete"))
        await deleting.get_by_test_id("user-delete-confirm-confirm").click()
        await expect(carol).to_have_count(0)
        assert user_field(server, "carol", "role") is None


def user_field(server: RunningServer, username: str, field: str) -> object:
    api = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        answer = api.get(f"/api/v1/users/{username}")
        return answer.json()[field] if answer.status_code == 200 else None
    finally:
        api.close()


async def test_an_administrator_decides_requests_for_more_time(server: RunningServer) -> None:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    with another_user(admin, "dave", DAVE_PASSWORD) as dave:
        local = next(
            r["id"]
            for r in dave.get("/api/v1/resources").json()["resources"]
            if r["kind"] == "local"
        )
        session = launch(
            dave,
            local,
            "webapp",
            title="Long fit",
            form={"app_command": "python3 -m http.server {port} --bind 127.0.0.1"},
        )
        wait_for(dave, session["id"], "running")
        async with chromium() as browser:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await log_in(context, server, "admin", ADMIN_PASSWORD)
            await expect(page.get_by_test_id("admin-menu")).to_be_visible()
            await expect(page.get_by_test_id("admin-badge")).to_have_count(0)

            # Dave asks; the administrator's tab hears of it without a reload.
            asked = dave.post(
                f"/api/v1/sessions/{session['id']}/extend",
                json={"hours": 8, "reason": "The fit needs the night."},
            )
            assert asked.json()["extension"]["state"] == "pending", asked.text
            await expect(page.get_by_test_id("admin-badge")).to_have_text("1")
            await page.screenshot(path=shot("06-badge"))
            await open_admin_pane(page, "extension-requests")
            request = page.locator("[data-testid=extension-request][data-username=dave]")
            await expect(request).to_contain_text("Long fit")
            await expect(request).to_contain_text("Web app on local")
            await expect(request.get_by_test_id("extension-request-hours")).to_have_text("8 h")
            await expect(request.get_by_test_id("extension-request-reason")).to_have_text(
                "The fit needs the night."
            )
            await expect(request.get_by_test_id("extension-request-times")).to_contain_text("left")
            await page.screenshot(path=shot("07-request"))

            # Granted with three hours rather than eight (a bad number is said first).
            await request.get_by_test_id("extension-hours").fill("0")
            await request.get_by_test_id("extension-grant").click()
            await expect(request.get_by_test_id("extension-hours-error")).to_be_visible()
            await request.get_by_test_id("extension-hours").fill("3")
            await request.get_by_test_id("extension-grant").click()
            await expect(request).to_have_count(0)
            await expect(page.get_by_test_id("admin-badge")).to_have_count(0)
            decided = page.get_by_test_id("extension-decided").first
            await expect(decided.get_by_test_id("extension-decision")).to_have_text(
                "Granted 3 h of 8 by admin"
            )
            granted = dave.get(f"/api/v1/sessions/{session['id']}").json()["extension"]
            assert (granted["state"], granted["granted_hours"]) == ("granted", 3)

            # A second request, refused with a word for Dave, who sees it.
            dave.post(f"/api/v1/sessions/{session['id']}/extend", json={"hours": 48})
            request = page.get_by_test_id("extension-request")
            await expect(request).to_have_count(1)
            await request.get_by_test_id("extension-answer").fill("Save your work and relaunch.")
            await page.screenshot(path=shot("08-refusing"))
            await request.get_by_test_id("extension-refuse").click()
            await expect(page.get_by_test_id("extension-decided").first).to_have_attribute(
                "data-state", "refused"
            )
            refused = dave.get(f"/api/v1/sessions/{session['id']}").json()["extension"]
            assert (refused["state"], refused["answer"]) == (
                "refused",
                "Save your work and relaunch.",
            )
            await page.screenshot(path=shot("09-decided"))
            await page.emulate_media(color_scheme="dark")
            await page.screenshot(path=shot("10-decided-dark"))
        dave.post(f"/api/v1/sessions/{session['id']}/stop")
    admin.close()
