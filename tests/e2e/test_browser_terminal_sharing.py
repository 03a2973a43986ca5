"""Sharing a terminal in a real browser (issue 17): alice opens a terminal on her SSH
resource, presses Share in it and shares it with bob (can use) and carol (can view) in
the Share dialog; bob and carol find it in their Sessions lists, marked shared by alice,
and open it in a terminal pane: bob's typing runs in alice's shell (a file appears on the
resource) and carol watches it live, her pane marked view only, her keys going nowhere.

Screenshots go to test-results/terminal-sharing-*.png to be looked at.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser as Chromium
from playwright.async_api import Locator, Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.eventually import eventually
from tests.support.files_ui import resource_row
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer
from tests.support.sshd import SshServer, ensure_test_user, running_sshd
from tests.support.terminal_ui import lines_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for sharing terminals in the browser"
PEOPLE = ("alice", "bob", "carol")


def password(name: str) -> str:
    return f"{name}'s password for sharing terminals"


def shot(name: str) -> str:
    return str(results_dir() / f"terminal-sharing-{name}.png")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sshd: SshServer) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        admin = Browser(running, "admin", ADMIN_PASSWORD)
        try:
            for name in PEOPLE:
                made = admin.post(
                    "/api/v1/users",
                    json={"username": name, "password": password(name), "role": "user"},
                )
                assert made.status_code == 201, made.text
        finally:
            admin.close()
        alice = Browser(running, "alice", password("alice"))
        try:
            alice.add_key_resource("box", sshd)
        finally:
            alice.close()
        yield running


@asynccontextmanager
async def person(browser: Chromium, server: RunningServer, name: str) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 820})
    try:
        page = await context.new_page()
        await page.goto(server.url + "/")
        await page.get_by_test_id("login-username").fill(name)
        await page.get_by_test_id("login-password").fill(password(name))
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        yield page
    finally:
        await context.close()


async def share_with(dialog: Locator, name: str, role: str) -> None:
    await dialog.get_by_test_id("share-name").fill(name)
    await dialog.get_by_test_id("share-role").select_option(role)
    await dialog.get_by_test_id("share-add-submit").click()
    await expect(dialog.locator(f'[data-testid="share-row"][data-name="{name}"]')).to_be_visible()


async def open_shared(page: Page) -> Locator:
    """The Sessions list's shared terminal, opened; its pane."""
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id("pane-menu-sessions").click()
    row = page.get_by_test_id("session-row").filter(has_text="shared by")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("shared by alice · ")
    await row.get_by_test_id("session-open").click()
    pane = page.get_by_test_id("shared-terminal-pane")
    await expect(pane).to_have_attribute("data-state", "attached", timeout=30_000)
    return pane


async def shows(pane: Locator, text: str) -> None:
    async def found() -> bool:
        return any(text in line for line in await lines_of(pane))

    await eventually(found, what=f"{text!r} in the terminal")


async def test_alice_shares_her_terminal_with_a_user_and_a_guest(
    server: RunningServer, sshd: SshServer
) -> None:
    work = Path(sshd.user.home)
    user_file = work / "typed-by-bob"
    guest_file = work / "typed-by-carol"
    for leftover in (user_file, guest_file):
        leftover.unlink(missing_ok=True)
    async with (
        chromium() as browser,
        person(browser, server, "alice") as alice,
        person(browser, server, "bob") as bob,
        person(browser, server, "carol") as carol,
    ):
        row = await resource_row(alice, "box")
        await row.get_by_test_id("resource-terminal").click()
        mine = alice.locator(".dv-active-group [data-testid=terminal-pane]")
        await expect(mine).to_have_attribute("data-process-id", re.compile("."), timeout=30_000)
        await mine.get_by_test_id("terminal-share").click()
        dialog = alice.get_by_test_id("share-dialog")
        await expect(dialog).to_be_visible()
        await share_with(dialog, "bob", "user")
        await share_with(dialog, "carol", "guest")
        await alice.screenshot(path=shot("dialog"))
        await dialog.get_by_role("button", name="Close").first.click()

        theirs = await open_shared(bob)
        watching = await open_shared(carol)
        await expect(watching.get_by_test_id("shared-terminal-view-only")).to_be_visible()
        await expect(theirs.get_by_test_id("shared-terminal-view-only")).to_have_count(0)

        await watching.get_by_test_id("terminal-screen").click()
        await carol.keyboard.type(f"touch {guest_file}\n")
        await theirs.get_by_test_id("terminal-screen").click()
        await bob.keyboard.type(f"touch {user_file}; echo bob-was-$((40+2))\n")
        await eventually(user_file.exists, what="bob's file on the resource")
        await shows(theirs, "bob-was-42")
        await shows(watching, "bob-was-42")
        await shows(mine, "bob-was-42")
        assert not guest_file.exists()
        await bob.screenshot(path=shot("bob"))
        await carol.screenshot(path=shot("carol"))
        await alice.screenshot(path=shot("alice"))

        # Her Sessions list names it a terminal, and its button ends the sharing only.
        await alice.get_by_test_id("pane-menu").click()
        await alice.get_by_test_id("pane-menu-sessions").click()
        listed = alice.get_by_test_id("session-row").filter(has_text="Terminal on box")
        await expect(listed.get_by_test_id("session-runs-as")).to_have_text("Terminal")
        await expect(listed.get_by_test_id("session-stop")).to_have_text("Stop sharing")
        await alice.screenshot(path=shot("alice-sessions"))
    user_file.unlink(missing_ok=True)
