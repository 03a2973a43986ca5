"""The "root" badge in the browser: on ``local`` mapped to root (as the tests' servers
map it, explicitly), the Resources pane and every terminal tab there warn that commands
run as root; mapped to an ordinary OS account, neither does.

Screenshots go to test-results/local-accounts-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import expect

from tests.support.browser import chromium, results_dir
from tests.support.files_ui import log_in_as_admin
from tests.support.labgate_api import Browser, labgate_server
from tests.support.local_accounts import OsUser, local_resource_of, os_account
from tests.support.processes import skip_unless_root
from tests.support.server import RunningServer
from tests.support.terminal_ui import open_local_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for local accounts"
ROOT_TOOLTIP = "Commands here run as root, the machine's administrator account"


@pytest.fixture(scope="module")
def account() -> Iterator[OsUser]:
    skip_unless_root("running labgate users as OS accounts")
    with os_account() as made:  # removed after the server, with all it ran
        yield made


@pytest.fixture(scope="module")
def server(account: OsUser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("labgate")
    # Two accounts on local (root, then the test's): a daemon directory for each.
    with labgate_server(workdir, ADMIN_PASSWORD, per_user_daemons=True) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"local-accounts-{name}.png")


async def test_the_root_badge_shows_where_commands_run_as_root(
    server: RunningServer, account: OsUser
) -> None:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        local = local_resource_of(admin.get("/api/v1/resources").json()["resources"])
        assert (local["remote_username"], local["runs_as_root"]) == ("root", True)
        async with chromium() as browser:
            page = await browser.new_page(viewport={"width": 1280, "height": 760})
            await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
            tab = await open_local_terminal(page)
            badge = tab.get_by_test_id("root-badge")
            await expect(badge).to_be_visible()
            await expect(badge).to_have_attribute("title", ROOT_TOOLTIP)
            await page.locator(".dv-tab", has_text="Resources").click()
            row = page.locator("[data-testid=resource-row][data-resource-name=local]")
            await expect(row.get_by_test_id("root-badge")).to_be_visible()
            await expect(row.get_by_test_id("root-badge")).to_have_attribute("title", ROOT_TOOLTIP)
            await page.screenshot(path=shot("01-root"))

            # The administrator maps themself to an ordinary account: no badge anywhere.
            changed = admin.patch(
                f"/api/v1/resources/{local['id']}",
                json={"account_overrides": {"admin": account.name}},
            )
            assert changed.status_code == 200, changed.text
            assert changed.json()["runs_as_root"] is False
            await page.reload()
            await expect(page.get_by_test_id("resources-pane")).to_be_visible()
            await expect(row).to_be_visible()
            await expect(row.get_by_test_id("root-badge")).to_have_count(0)
            tab = await open_local_terminal(page)
            await expect(tab).to_be_visible()
            await expect(tab.get_by_test_id("root-badge")).to_have_count(0)
            await page.screenshot(path=shot("02-ordinary-account"))

            # Where the mapping is changed: local's dialog, for administrators.
            await page.locator(".dv-tab", has_text="Resources").click()
            await row.get_by_test_id("resource-edit").click()
            dialog = page.get_by_test_id("resource-dialog")
            await expect(dialog.get_by_test_id("resource-form-account-rule")).to_be_visible()
            await expect(dialog.get_by_test_id("override-account")).to_have_value(account.name)
            await dialog.get_by_test_id("resource-form-sharing").scroll_into_view_if_needed()
            await page.screenshot(path=shot("03-local-accounts-dialog"))
    finally:
        admin.close()
