"""A workshop's guests in a real browser: an administrator makes an invitation in the
console's Guest invitations pane; in another browser (a participant's) its link opens the
joining page, the guest joins, is told their generated user name and reaches the
workspace; the administrator sees them among the invitation's guests. At the end (the
invitation's end set in the past in the database) the guest's login ends and the login
page says the account has expired; after the expiry pass (``labgate guests expire``) the
account is gone.

Screenshots go to test-results/guests-*.png to be looked at.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import update

from labgate.db.engine import Database
from labgate.db.models import User
from labgate.db.types import utcnow
from tests.support.browser import chromium, log_in, results_dir
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import LABGATE, RunningServer, labgate_environment

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for the workshop"
GUEST_PASSWORD = "the guest's own password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        yield running


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=str(results_dir() / f"guests-{name}.png"))


async def end_guest_now(server: RunningServer, username: str) -> None:
    """The invitation's end has come for ``username`` (as time would bring it)."""
    database = Database(f"sqlite+aiosqlite:///{server.data_dir / 'labgate.sqlite3'}")
    try:
        async with database.session() as db:
            await db.execute(
                update(User)
                .where(User.username == username)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
    finally:
        await database.dispose()


def run_the_expiry_pass(server: RunningServer) -> str:
    """What every server does every minute, now, from the command line."""
    done = subprocess.run(
        [str(LABGATE), "--data-dir", str(server.data_dir), "guests", "expire"],
        env=labgate_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_guest_joins_with_a_link_and_is_removed_at_the_end(server: RunningServer) -> None:
    async with chromium() as browser:
        admin_context = await browser.new_context(viewport={"width": 1360, "height": 860})
        admin = await log_in(admin_context, server.url, "admin", ADMIN_PASSWORD)
        await admin.get_by_test_id("admin-menu").click()
        await admin.get_by_test_id("admin-menu-guest-invitations").click()
        pane = admin.get_by_test_id("guest-invitations-pane")
        await expect(pane.get_by_test_id("guest-invitations-none")).to_be_visible()

        # A title is needed; then 30 seats until the default end, 18:00.
        await pane.get_by_test_id("guest-invitation-create").click()
        await expect(pane.get_by_test_id("guest-invitation-title-error")).to_contain_text(
            "Give the invitation a title"
        )
        await pane.get_by_test_id("guest-invitation-title").fill("Python for pupils")
        await pane.get_by_test_id("guest-invitation-create").click()
        row = pane.get_by_test_id("guest-invitation-row")
        await expect(row).to_have_attribute("data-state", "open")
        await expect(row.get_by_test_id("guest-invitation-seats-used")).to_contain_text(
            "0 of 30 taken, 30 left"
        )
        code = await row.get_by_test_id("guest-invitation-code").input_value()
        link = await row.get_by_test_id("guest-invitation-link").input_value()
        assert link == f"{server.url}/login?invitation={code}"
        await screenshot(admin, "01-invitation")

        # A participant's browser opens the link.
        guest_context = await browser.new_context(viewport={"width": 1280, "height": 800})
        guest = await guest_context.new_page()
        await guest.goto(link)
        join = guest.get_by_test_id("guest-join")
        await expect(join.get_by_test_id("guest-join-title")).to_have_text("Python for pupils")
        await expect(join.get_by_test_id("guest-join-seats")).to_have_text("30")
        await join.get_by_test_id("guest-join-name").fill("Ada Lovelace")
        await join.get_by_test_id("guest-join-password").fill(GUEST_PASSWORD)
        await join.get_by_test_id("guest-join-confirm").fill("not the same one")
        await join.get_by_test_id("guest-join-submit").click()
        await expect(join.get_by_test_id("guest-join-confirm-error")).to_contain_text("differ")
        await screenshot(guest, "02-join-form")
        await join.get_by_test_id("guest-join-confirm").fill(GUEST_PASSWORD)
        await join.get_by_test_id("guest-join-submit").click()
        shown = join.get_by_test_id("guest-join-username")
        await expect(shown).to_contain_text("guest-")
        username = (await shown.inner_text()).strip()
        await screenshot(guest, "03-your-user-name")
        await join.get_by_test_id("guest-join-continue").click()
        await expect(guest.get_by_test_id("workspace")).to_be_visible()
        assert "invitation=" not in guest.url
        await screenshot(guest, "04-workspace")

        # The administrator sees them among its guests.
        await pane.get_by_test_id("guest-invitations-refresh").click()
        await expect(row.get_by_test_id("guest-invitation-seats-used")).to_contain_text(
            "1 of 30 taken, 29 left"
        )
        await row.get_by_test_id("guest-invitation-guests-toggle").click()
        listed = row.locator(f"[data-testid=guest-row][data-username='{username}']")
        await expect(listed).to_contain_text("Ada Lovelace")
        await screenshot(admin, "05-guests")

        # The end: the guest's login is over, and the login page says why.
        await end_guest_now(server, username)
        await guest.reload()
        await guest.get_by_test_id("login-username").fill(username)
        await guest.get_by_test_id("login-password").fill(GUEST_PASSWORD)
        await guest.get_by_test_id("login-submit").click()
        await expect(guest.get_by_test_id("login-error")).to_have_text(
            "This guest account has expired."
        )
        await screenshot(guest, "06-expired")

        assert run_the_expiry_pass(server).strip() == f"Removed: {username}"
        await guest.get_by_test_id("login-submit").click()
        await expect(guest.get_by_test_id("login-error")).to_have_text(
            "Wrong user name or password."
        )
        admin_api = Browser(server, "admin", ADMIN_PASSWORD)
        try:
            assert admin_api.get(f"/api/v1/users/{username}").status_code == 404
        finally:
            admin_api.close()
        await pane.get_by_test_id("guest-invitations-refresh").click()
        await expect(row.get_by_test_id("guest-invitation-guests-toggle")).to_contain_text(
            "Guests (0)"
        )
        await expect(row.get_by_test_id("guest-invitation-no-guests")).to_contain_text(
            "have ended and are removed"
        )
        await screenshot(admin, "07-after-the-end")

        # Withdrawn: its link no longer works, and says so.
        await row.get_by_test_id("guest-invitation-withdraw").click()
        confirm = admin.get_by_test_id("guest-invitation-withdraw-confirm")
        await expect(confirm).to_contain_text("Nobody can join with “Python for pupils” any more.")
        await screenshot(admin, "08-withdraw")
        await confirm.get_by_test_id("guest-invitation-withdraw-confirm-confirm").click()
        await expect(row).to_have_attribute("data-state", "revoked")
        await expect(row.get_by_test_id("guest-invitation-state")).to_have_text("Withdrawn")
        latecomer = await guest_context.new_page()
        await latecomer.goto(link)
        await expect(latecomer.get_by_test_id("guest-join-unusable")).to_have_text(
            "This invitation was withdrawn. Ask whoever invited you for a new one."
        )
        await screenshot(latecomer, "09-withdrawn-link")
