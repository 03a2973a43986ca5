"""The first hour's failures, each provoked in the browser as a newcomer meets it, with
the server running as root: what the user is told, and that the way on it offers works.

1. A labgate user whose OS account on ``local`` does not exist (``local_create_accounts``
   off): the Connect dialog names the account, the user and what to change; the
   administrator creates the account (what the message asks first, and what a real
   administrator does for a new colleague), and the user's Try again opens the editor
   in that account's home.
2. A labgate user named like a system account (``daemon``): refused, with how to map it
   by name; the administrator adds an exception in ``local``'s dialog (to an ordinary
   account), and Try again works.
3. An administrator who maps themself to root in ``local``'s dialog: the root badge on
   the resource and on terminal and editor tabs, and JupyterLab starts as root (its
   template adds ``--allow-root``).
4. A web app that fails for its own reason: the summary quotes it, the log is at its
   end, and Edit and retry with the command fixed launches it. (The launch dialog's
   failure in full, on an SSH resource, is
   tests/e2e/test_browser_sessions.py::test_a_failure_quotes_the_app_and_edit_and_retry_launches_again;
   here it is the same on ``local``, as an ordinary account.)

One server for the module; every OS account a case makes is removed at its end with
everything it ran, and root's daemons (case 3) by their runtime directory.
Screenshots go to test-results/first-hour-failures-*.png to be looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser as Chromium
from playwright.async_api import Locator, Page, expect

from tests.support.apps import AppsEnv
from tests.support.browser import chromium, results_dir
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS
from tests.support.files_ui import file_row, log_in, log_in_as_admin, open_files, resource_row
from tests.support.labgate_api import Browser, server_env
from tests.support.launch_ui import FAILS, SERVES, expect_the_failure_quoted
from tests.support.local_accounts import os_account, unique_account_name
from tests.support.processes import skip_unless_root
from tests.support.server import RunningServer, running_server
from tests.support.sessions import wait_for
from tests.support.terminal_ui import open_local_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for the first hour's failures"
USER_PASSWORD = "a user's password for the first hour's failures"
PATIENCE_MS = PATIENCE_SECONDS * 1000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """As a fresh server run as root has ``local``: for everyone (``auto``), each user as
    the OS account named like them, none created by labgate. Daemons in a runtime
    directory per account, all killed at the end."""
    skip_unless_root("running labgate users as their own OS accounts on local")
    with daemon_runtime_dir(per_user=True) as runtime_dir:
        env = server_env(
            ADMIN_PASSWORD,
            runtime_dir,
            LABGATE_LOCAL_RESOURCE="auto",
            LABGATE_APP_RECONCILE_SECONDS="2",
            LABGATE_APP_START_TIMEOUT_SECONDS="180",
        )
        with running_server(tmp_path_factory.mktemp("labgate"), env=env) as running:
            yield running


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[Browser]:
    api = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        yield api
    finally:
        api.close()


def shot(name: str) -> str:
    return str(results_dir() / f"first-hour-failures-{name}.png")


def add_user(admin: Browser, username: str) -> None:
    """A labgate user with a password of their own, as an administrator creates one."""
    created = admin.post("/api/v1/users", json={"username": username, "password": USER_PASSWORD})
    assert created.status_code == 201, created.text


async def logged_in(browser: Chromium, server: RunningServer, username: str) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 820})
    if username == "admin":
        await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
    else:
        await log_in(page, server.url, username, USER_PASSWORD)
    return page


async def new_script_fails(page: Page, code: str) -> Locator:
    """The Welcome pane's New script on ``local``, which is connected first: the Connect
    dialog, failed with ``code``."""
    await expect(page.get_by_test_id("welcome-resource")).to_contain_text("local")
    await page.get_by_test_id("welcome-editor").click()
    dialog = page.get_by_test_id("connect-dialog")
    failure = dialog.get_by_test_id("connect-failure")
    await expect(failure).to_have_attribute("data-code", code, timeout=PATIENCE_MS)
    return dialog


async def try_again_opens_the_editor(page: Page, dialog: Locator, home: Path) -> None:
    """The Connect dialog's Try again connects, and the action it was for follows: a new
    script in ``home``."""
    await dialog.get_by_test_id("connect-retry").click()
    await expect(dialog).to_be_hidden(timeout=PATIENCE_MS)
    editor = page.locator("[data-testid=editor-pane]:visible")
    await expect(editor).to_have_attribute("data-phase", "ready", timeout=PATIENCE_MS)
    await expect(editor).to_contain_text(f"{home}/untitled.py")
    await expect(page.locator(".dv-tab", has_text="untitled.py — local")).to_have_count(1)


async def edit_local(page: Page) -> Locator:
    """``local``'s dialog, from the Resources pane."""
    row = await resource_row(page, "local")
    await row.get_by_test_id("resource-edit").click()
    dialog = page.get_by_test_id("resource-dialog")
    await expect(dialog.get_by_test_id("resource-form-account-rule")).to_be_visible()
    return dialog


async def add_exception(dialog: Locator, username: str, account: str, screenshot: str) -> None:
    """An exception in ``local``'s dialog: ``username`` works as ``account``; saved."""
    await dialog.get_by_test_id("resource-form-override-add").click()
    row = dialog.get_by_test_id("resource-form-override").last
    await row.get_by_test_id("override-user").fill(username)
    await row.get_by_test_id("override-account").fill(account)
    await dialog.get_by_test_id("resource-form-overrides").scroll_into_view_if_needed()
    await dialog.page.screenshot(path=shot(screenshot))
    await dialog.get_by_test_id("resource-form-save").click()
    await expect(dialog).to_be_hidden()


async def test_a_missing_account_is_named_and_the_retry_works_once_it_exists(
    server: RunningServer, admin: Browser
) -> None:
    name = unique_account_name()
    add_user(admin, name)
    async with chromium() as browser:
        page = await logged_in(browser, server, name)
        dialog = await new_script_fails(page, "local_account_missing")
        account = dialog.get_by_test_id("chain-local-account")
        await expect(account).to_have_text(f"{name} on the labgate server")
        message = dialog.get_by_test_id("connect-failure-message")
        for words in (
            f"labgate user '{name}'",
            f"the OS account '{name}'",
            "does not exist",
            "the account rule or the exceptions of 'local'",
            "local_create_accounts",
        ):
            await expect(message).to_contain_text(words)
        hint = dialog.get_by_test_id("connect-failure-hint")
        await expect(hint).to_contain_text("Ask an administrator")
        await expect(hint).to_contain_text("Try again")
        await page.screenshot(path=shot("01-account-missing"))

        # The administrator makes the account, as the message asks first.
        with os_account(name) as account:
            await try_again_opens_the_editor(page, dialog, account.home)
            await page.screenshot(path=shot("02-account-made-and-retried"))
            assert (account.home / "untitled.py").stat().st_uid == account.uid


async def test_a_system_account_by_the_rule_is_refused_until_mapped_by_name(
    server: RunningServer, admin: Browser
) -> None:
    add_user(admin, "daemon")  # an OS account on every Debian, a system one (uid 1)
    async with chromium() as browser:
        page = await logged_in(browser, server, "daemon")
        dialog = await new_script_fails(page, "local_account_refused")
        message = dialog.get_by_test_id("connect-failure-message")
        for words in (
            "labgate user 'daemon'",
            "the OS account 'daemon'",
            "root, a system account or one with powers over the machine",
            "map 'daemon' to an ordinary account by name, as an exception of 'local'",
        ):
            await expect(message).to_contain_text(words)
        hint = dialog.get_by_test_id("connect-failure-hint")
        await expect(dialog.get_by_test_id("connect-failure")).to_contain_text("refuses")
        await expect(hint).to_contain_text("exception")
        await page.screenshot(path=shot("03-system-account-refused"))

        # The administrator maps daemon by name to an ordinary account of its own.
        admin_page = await logged_in(browser, server, "admin")
        with os_account() as account:
            await add_exception(
                await edit_local(admin_page), "daemon", account.name, "04-exception-for-daemon"
            )
            await try_again_opens_the_editor(page, dialog, account.home)
            await page.screenshot(path=shot("05-mapped-by-name-and-retried"))


async def test_jupyterlab_starts_as_root_when_an_administrator_maps_themself_to_root(
    server: RunningServer, admin: Browser, apps_env: AppsEnv, tmp_path: Path
) -> None:
    (tmp_path / "analysis.py").write_text("print('written as root')\n")
    async with chromium() as browser:
        page = await logged_in(browser, server, "admin")
        await add_exception(await edit_local(page), "admin", "root", "06-admin-mapped-to-root")
        row = page.locator("[data-testid=resource-row][data-resource-name=local]")
        await expect(row.get_by_test_id("root-badge")).to_be_visible()
        terminal = await open_local_terminal(page)
        await expect(terminal.get_by_test_id("root-badge")).to_be_visible()
        files = await open_files(page, "local", tmp_path)
        await file_row(files, "analysis.py").dblclick()
        editor = page.locator("[data-testid=editor-pane]:visible")
        await expect(editor).to_have_attribute("data-phase", "ready", timeout=PATIENCE_MS)
        await expect(editor).to_contain_text("written as root")
        editor_tab = page.locator(".dv-tab", has_text="analysis.py — local")
        await expect(editor_tab.get_by_test_id("root-badge")).to_be_visible()
        await page.screenshot(path=shot("07-root-badges"))

        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-launcher").click()
        await page.get_by_test_id("launch-card-jupyterlab").click()
        dialog = page.get_by_test_id("launch-dialog")
        await dialog.get_by_test_id("launch-resource").select_option(label="local")
        await dialog.get_by_test_id("launch-field-workdir").fill(str(tmp_path))
        # The tests' apps venv; Jupyter's own files stay out of root's home.
        environment = f"export PATH={apps_env.bin}:$PATH\n" + "\n".join(
            f"export JUPYTER_{kind}_DIR={tmp_path}/jupyter-{kind.lower()}"
            for kind in ("CONFIG", "DATA", "RUNTIME")
        )
        await dialog.get_by_test_id("launch-field-environment").fill(environment)
        await dialog.get_by_test_id("launch-submit").click()
        app = page.get_by_test_id("app-pane")
        await expect(app).to_have_attribute("data-state", "running", timeout=PATIENCE_MS)
        session_id = str(await app.get_attribute("data-session-id"))
        try:
            # JupyterLab refuses root unless told --allow-root: it shows, so it was.
            frame = page.frame_locator("[data-testid=app-frame]")
            await expect(frame.locator(".jp-LabShell")).to_be_visible(timeout=PATIENCE_MS)
            await expect(frame.locator(".jp-LauncherCard").first).to_be_visible(timeout=60_000)
            await page.screenshot(path=shot("08-jupyterlab-as-root"))
        finally:
            assert admin.post(f"/api/v1/sessions/{session_id}/stop").status_code == 200
            wait_for(admin, session_id, "stopped")


async def test_an_app_that_fails_for_its_own_reason_is_quoted_and_edit_and_retry_launches_it(
    server: RunningServer, admin: Browser
) -> None:
    with os_account() as account:
        add_user(admin, account.name)
        async with chromium() as browser:
            page = await logged_in(browser, server, account.name)
            await page.get_by_test_id("welcome-apps").click()
            await page.get_by_test_id("launch-card-webapp").click()
            dialog = page.get_by_test_id("launch-dialog")
            await dialog.get_by_test_id("launch-resource").select_option(label="local")
            await dialog.get_by_test_id("launch-field-app_command").fill(FAILS)
            await dialog.get_by_test_id("launch-submit").click()
            await expect_the_failure_quoted(dialog)
            await page.screenshot(path=shot("09-app-failure-quoted"))

            await dialog.get_by_test_id("launch-action-retry").click()
            command = dialog.get_by_test_id("launch-field-app_command")
            await expect(command).to_have_value(FAILS)
            await command.fill(SERVES)
            await dialog.get_by_test_id("launch-submit").click()
            app = page.get_by_test_id("app-pane")
            await expect(app).to_have_attribute("data-state", "running", timeout=PATIENCE_MS)
            # The app serves the account's home, where it runs.
            frame = page.frame_locator("[data-testid=app-frame]")
            await expect(frame.locator("h1")).to_have_text("Directory listing for /")
            await expect(frame.get_by_role("link", name=".bashrc")).to_be_visible()
            await page.screenshot(path=shot("10-app-retried"))
