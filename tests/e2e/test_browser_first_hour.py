"""The first hour, walked as a newcomer walks it after `make run` on a fresh machine,
with the server running as root: an empty data directory, the printed one-time password,
a password of one's own, then on ``local`` (as an ordinary OS account that labgate makes
for the administrator, never root) a script written and run in the editor, a terminal,
and JupyterLab set up with one click and running a notebook cell.

As `make run` does, the server creates missing accounts on ``local``
(``local_create_accounts``). Unlike `make run` it installs the apps from the tests'
wheel directory, since tests do not reach the internet. The administrator gets a name of
its own for the run (``lgt`` and hex), so that the OS account made for it is removed at
the end, with everything it ran.

Screenshots go to test-results/first-hour-*.png to be looked at.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import FrameLocator, Locator, Page, expect

from labgate.launching import apps_environment
from tests.support.apps import AppsEnv
from tests.support.browser import chromium, results_dir
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.local_accounts import remove_account
from tests.support.processes import skip_unless_root
from tests.support.server import RunningServer, banner_credentials, running_server
from tests.support.terminal_ui import lines_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

OWN_PASSWORD = "a password of my own for the first hour"
SCRIPT = 'import getpass, os\nprint("hello from", getpass.getuser(), "uid", os.getuid())\n'
PATIENCE_MS = PATIENCE_SECONDS * 1000


def shot(name: str) -> str:
    return str(results_dir() / f"first-hour-{name}.png")


@pytest.fixture
def newcomer() -> Iterator[str]:
    """The administrator's name for this run; its OS account, which the server makes,
    is removed at the end with every process it has."""
    skip_unless_root("making OS accounts on local")
    name = "lgt" + secrets.token_hex(4)
    try:
        yield name
    finally:
        remove_account(name)


@pytest.fixture
def server(tmp_path: Path, newcomer: str, apps_env: AppsEnv) -> Iterator[RunningServer]:
    env = {
        "LABGATE_ADMIN_USERNAME": newcomer,
        "LABGATE_LOCAL_CREATE_ACCOUNTS": "true",
        "LABGATE_APP_SETUP_WHEEL_DIRECTORY": str(apps_env.wheels),
        "LABGATE_APP_RECONCILE_SECONDS": "2",
        "LABGATE_APP_START_TIMEOUT_SECONDS": "180",
    }
    with running_server(tmp_path, env=env, data_dir=tmp_path / "fresh-data") as running:
        yield running


async def terminal_text(pane: Locator) -> str:
    return "\n".join(await lines_of(pane))


async def until_terminal_shows(pane: Locator, pattern: str) -> re.Match[str]:
    async def found() -> re.Match[str] | None:
        return re.search(pattern, await terminal_text(pane), re.MULTILINE)

    return await eventually(found, what=f"/{pattern}/ in the terminal")


async def back_to_welcome(page: Page) -> Locator:
    await page.locator(".dv-tab", has_text="Welcome").click()
    welcome = page.get_by_test_id("welcome-pane")
    await expect(welcome).to_be_visible()
    return welcome


async def log_in_the_first_time(page: Page, username: str, one_time: str) -> None:
    await page.goto("/")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(one_time)
    await page.get_by_test_id("login-submit").click()
    dialog = page.get_by_test_id("password-dialog")
    await expect(dialog).to_be_visible()
    # The one-time password was just typed: only the new one is asked for, twice.
    await expect(page.get_by_test_id("password-current")).to_have_count(0)
    await page.screenshot(path=shot("01-own-password"))
    await page.get_by_test_id("password-new").fill(OWN_PASSWORD)
    await page.get_by_test_id("password-repeat").fill(OWN_PASSWORD)
    await page.get_by_test_id("password-save").click()
    await expect(dialog).to_be_hidden()


async def write_and_run_a_script(page: Page, account: str) -> None:
    await page.get_by_test_id("welcome-editor").click()
    editor = page.locator("[data-testid=editor-pane]:visible")
    await expect(editor).to_have_attribute("data-phase", "ready", timeout=PATIENCE_MS)
    # A new script in the account's own home, on local, as the account.
    await expect(page.locator(".dv-tab", has_text="untitled.py — local")).to_have_count(1)
    await expect(editor).to_contain_text(f"/home/{account}/untitled.py")
    await editor.locator(".cm-content").click()
    for line in SCRIPT.splitlines():
        await page.keyboard.type(line)
        await page.keyboard.press("Enter")
        await page.keyboard.press("Home")  # no auto-indent carried to the next line
    await editor.get_by_test_id("editor-run").click()
    output = editor.get_by_test_id("run-output")
    await expect(output).to_contain_text(re.compile(rf"hello from {account} uid [1-9]\d+"))
    await page.screenshot(path=shot("03-script-ran"))


async def open_a_terminal(page: Page, account: str) -> None:
    await page.get_by_test_id("welcome-terminal").click()
    pane = page.locator("[data-testid=terminal-pane]:visible")
    await expect(pane).to_have_attribute("data-phase", "attached", timeout=PATIENCE_MS)
    await pane.locator("textarea").focus()
    await page.keyboard.type('echo "I am $(id -un), $(env | grep -c ^LABGATE_) labgate settings"')
    await page.keyboard.press("Enter")
    await until_terminal_shows(pane, rf"^I am {account}, 0 labgate settings$")
    await page.screenshot(path=shot("04-terminal"))


async def run_a_cell(frame: FrameLocator) -> None:
    """A new notebook from JupyterLab's launcher; 6 * 7 gives 42 through the kernel."""
    await frame.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    editor = frame.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first
    await expect(editor).to_be_visible(timeout=60_000)
    # The kernel started and connected through the proxied WebSocket.
    await expect(frame.get_by_text("| Idle")).to_be_visible(timeout=PATIENCE_MS)
    await editor.click()
    await editor.locator(".cm-content").type("6 * 7")
    await editor.press("Shift+Enter")
    await expect(frame.locator(".jp-OutputArea-output").first).to_have_text("42", timeout=60_000)


async def set_up_and_launch_jupyterlab(page: Page) -> None:
    await back_to_welcome(page)
    await page.get_by_test_id("welcome-apps").click()
    await page.get_by_test_id("launch-card-jupyterlab").click()
    dialog = page.get_by_test_id("launch-dialog")
    await expect(dialog.get_by_test_id("launch-resource")).to_have_value(re.compile(r"\d+"))
    await dialog.get_by_test_id("launch-resource").select_option(label="local")
    await dialog.get_by_test_id("launch-submit").click()

    # A fresh machine has no JupyterLab: the failure says so and offers the way on.
    progress = dialog.get_by_test_id("launch-progress")
    await expect(progress).to_have_attribute("data-state", "failed", timeout=PATIENCE_MS)
    await expect(dialog.get_by_test_id("launch-failure")).to_contain_text("was not found")
    # The steps say what happened: the wait for an answer ended with the failure.
    steps = dialog.get_by_test_id("launch-step")
    await expect(steps.last).to_have_attribute("data-status", "failed")
    await expect(steps.nth(-2)).to_have_attribute("data-status", "ended")
    offer = dialog.get_by_test_id("app-setup")
    start = offer.get_by_test_id("app-setup-start")
    await expect(start).to_have_text(apps_environment.OFFER)
    await page.screenshot(path=shot("05-jupyterlab-missing"))

    await start.click()
    await expect(offer.get_by_test_id("app-setup-progress")).to_be_visible()
    await page.screenshot(path=shot("06-setting-up"))
    await expect(offer).to_have_attribute("data-state", "succeeded", timeout=PATIENCE_MS)
    await page.screenshot(path=shot("07-set-up"))

    await offer.get_by_test_id("app-setup-relaunch").click()
    app = page.get_by_test_id("app-pane")
    await expect(app).to_have_attribute("data-state", "running", timeout=PATIENCE_MS)
    frame = page.frame_locator("[data-testid=app-frame]")
    await expect(frame.locator(".jp-LabShell")).to_be_visible(timeout=PATIENCE_MS)
    await run_a_cell(frame)
    # The environment labgate set up asks nothing about Jupyter's news feed.
    await expect(frame.get_by_text("official Jupyter news")).to_have_count(0)
    await page.screenshot(path=shot("08-notebook-cell"))


async def test_a_newcomer_reaches_the_editor_a_terminal_and_jupyterlab(
    server: RunningServer, newcomer: str
) -> None:
    username, one_time = banner_credentials(server.stderr)
    assert username == newcomer
    # The banner says which account the administrator gets on local.
    assert f"as the OS account '{newcomer}'" in server.stderr
    assert "created at the first connection" in server.stderr
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 820}, base_url=server.url
        )
        page = await context.new_page()
        await log_in_the_first_time(page, username, one_time)

        welcome = page.get_by_test_id("welcome-pane")
        await expect(welcome).to_be_visible()
        await expect(page.get_by_test_id("welcome-resource")).to_contain_text("local")
        await page.screenshot(path=shot("02-welcome"))

        await write_and_run_a_script(page, newcomer)
        await back_to_welcome(page)
        await open_a_terminal(page, newcomer)
        # Nowhere root: no badge on a tab, nor on the resource.
        await expect(page.get_by_test_id("root-badge")).to_have_count(0)
        await set_up_and_launch_jupyterlab(page)
        await expect(page.get_by_test_id("root-badge")).to_have_count(0)
        await context.close()
    # The files were the new account's, in its own home.
    home = Path("/home") / newcomer
    assert (home / "untitled.py").read_text() == SCRIPT
    assert (home / "untitled.py").stat().st_uid == (home).stat().st_uid != 0
    environment = home / apps_environment.ENVIRONMENTS_DIR / apps_environment.digest()
    assert (environment / apps_environment.STAMP_NAME).is_file()
    overrides = environment / "share/jupyter/lab/settings/overrides.json"
    assert '"fetchNews": "false"' in overrides.read_text()
