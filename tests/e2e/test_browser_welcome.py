"""The Welcome pane in a real browser: each of its buttons opens the pane it promises
(files, a new script in the editor, a terminal, the launcher, the sessions, the
resources), on the server's own machine, connecting first; and the empty workspace
leads back to it. Screenshots in light and dark go to test-results/ to be looked at."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.files_ui import log_in_as_admin
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for welcome"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"welcome-{name}.png")


async def back_to_welcome(page: Page) -> None:
    await page.locator(".dv-tab", has_text="Welcome").click()
    await expect(page.get_by_test_id("welcome-pane")).to_be_visible()


async def local_resource(page: Page) -> int:
    resources = await (await page.request.get("/api/v1/resources")).json()
    return int(next(r["id"] for r in resources["resources"] if r["kind"] == "local"))


async def home_of(page: Page, resource_id: int) -> str:
    """The home folder of the resource's account, as the files API says."""
    listing = await page.request.get(
        f"/api/v1/resources/{resource_id}/files", params={"path": "~", "limit": 1}
    )
    return str((await listing.json())["path"])


async def test_the_empty_workspace_leads_to_the_welcome(server: RunningServer) -> None:
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url
        )
        page = await context.new_page()
        await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
        await expect(page.get_by_test_id("welcome-pane")).to_be_visible()
        close_group = page.get_by_test_id("close-group")
        while await close_group.count() > 0:
            await close_group.first.click()
        empty = page.get_by_test_id("empty-open-welcome")
        await expect(empty).to_be_visible()
        await page.screenshot(path=shot("03-empty"))
        await empty.click()
        await expect(page.get_by_test_id("welcome-pane")).to_be_visible()
        await context.close()


async def test_each_button_opens_what_it_says(server: RunningServer) -> None:
    created: list[Path] = []
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, base_url=server.url
        )
        page = await context.new_page()
        try:
            await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
            welcome = page.get_by_test_id("welcome-pane")
            await expect(welcome).to_contain_text("Welcome, Administrator")
            # The buttons work on the server's own machine, not connected yet.
            local = await local_resource(page)
            await expect(page.get_by_test_id("welcome-resource")).to_have_value(str(local))
            await expect(page.get_by_test_id("welcome-tool-apps")).to_contain_text("JupyterLab")
            await page.screenshot(path=shot("01-light"))
            await page.emulate_media(color_scheme="dark")
            await page.screenshot(path=shot("02-dark"), animations="disabled")
            await page.emulate_media(color_scheme="light")

            # Files: connects first (the same Connect dialog as Resources), then browses.
            await page.get_by_test_id("welcome-files").click()
            files = page.locator("[data-testid=files-pane]:visible")
            await expect(files.get_by_test_id("files-grid")).to_be_visible(timeout=60_000)
            await expect(page.get_by_test_id("connect-dialog")).to_have_count(0)
            await expect(page.locator(".dv-tab", has_text="— local")).to_have_count(1)

            # A new script: an empty untitled.py in the home folder, open in the editor.
            home = await home_of(page, local)
            await back_to_welcome(page)
            await page.get_by_test_id("welcome-editor").click()
            editor = page.locator("[data-testid=editor-pane]:visible")
            await expect(editor).to_have_attribute("data-phase", "ready")
            shown = await editor.get_attribute("data-path")
            assert shown is not None
            script = Path(shown)
            created.append(script)
            assert script.parent == Path(home)
            assert script.name.startswith("untitled")
            assert script.suffix == ".py"
            assert script.read_bytes() == b""
            await expect(editor.get_by_test_id("editor-run")).to_be_visible()

            await back_to_welcome(page)
            await page.get_by_test_id("welcome-terminal").click()
            await expect(page.locator("[data-testid=terminal-pane]:visible")).to_have_count(1)
            await expect(page.locator(".dv-tab", has_text="Terminal: local")).to_have_count(1)

            await back_to_welcome(page)
            await page.get_by_test_id("welcome-apps").click()
            await expect(page.locator("[data-testid=launcher-pane]:visible")).to_have_count(1)

            await back_to_welcome(page)
            await page.get_by_test_id("welcome-sessions").click()
            await expect(page.locator("[data-testid=sessions-pane]:visible")).to_have_count(1)

            await back_to_welcome(page)
            await page.get_by_test_id("welcome-open-resources").click()
            await expect(page.locator("[data-testid=resources-pane]:visible")).to_have_count(1)
        finally:
            for path in created:
                if path.exists():
                    os.remove(path)
            await context.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_edit_in_a_failed_connect_opens_the_resources_dialog(server: RunningServer) -> None:
    """A computer that refuses the connection: the Connect dialog the Welcome pane opened
    offers Edit, which leads to that computer's dialog in Resources, not to nothing."""
    api = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        body = {"name": "refuses", "host": "127.0.0.1", "port": closed_port()}
        created = api.post("/api/v1/resources", json={**body, "username": "nobody"})
        assert created.status_code == 201, created.text
        refusing = int(created.json()["id"])
    finally:
        api.close()
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url
        )
        page = await context.new_page()
        await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
        # The layout the tests before left: the Welcome pane from the Panes menu.
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-welcome").click()
        await page.get_by_test_id("welcome-resource").select_option(str(refusing))
        await page.get_by_test_id("welcome-files").click()
        edit = page.get_by_test_id("connect-dialog").get_by_test_id("connect-failure-edit")
        await expect(edit).to_be_visible(timeout=60_000)
        await edit.click()
        await expect(page.get_by_test_id("connect-dialog")).to_have_count(0)
        await expect(page.locator("[data-testid=resources-pane]:visible")).to_have_count(1)
        dialog = page.get_by_test_id("resource-dialog")
        await expect(dialog.get_by_test_id("resource-form-name")).to_have_value("refuses")
        await page.screenshot(path=shot("04-edit-from-connect"))
        await context.close()
