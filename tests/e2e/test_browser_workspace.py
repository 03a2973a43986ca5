"""The workspace in a real browser against a real server: log in, arrange panes, find
the arrangement on another device, switch theme, log out.

Screenshots go to test-results/ to be looked at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.eventually import eventually
from tests.support.server import RunningServer, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for e2e"
ALICE_PASSWORD = "alice's long password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("browser-server")
    with running_server(workdir, env={"LABGATE_ADMIN_PASSWORD": ADMIN_PASSWORD}) as srv:
        with srv.client() as http:
            login = http.post(
                "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            created = http.post(
                "/api/v1/users",
                json={
                    "username": "alice",
                    "password": ALICE_PASSWORD,
                    "display_name": "Alice Example",
                },
                headers={"X-CSRF-Token": login.json()["csrf_token"]},
            )
            assert created.status_code == 201, created.text
        yield srv


def shot(name: str) -> str:
    return str(results_dir() / f"workspace-{name}.png")


async def log_in(context: BrowserContext, url: str, password: str = ALICE_PASSWORD) -> Page:
    page = await context.new_page()
    await page.goto(url)
    await page.get_by_test_id("login-username").fill("alice")
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    return page


async def saved_theme(page: Page, expected: str) -> str:
    """The theme stored on the server, once it is ``expected``."""

    async def stored() -> str:
        response = await page.request.get("/api/v1/preferences")
        theme: str = (await response.json())["preferences"]["theme"]
        assert theme == expected, theme
        return theme

    return await eventually(stored, what=f"the theme {expected!r} stored")


async def saved_layout_with_groups(page: Page, groups: int) -> dict[str, object]:
    """The layout stored on the server, once it has ``groups`` pane groups."""

    async def stored() -> dict[str, object]:
        response = await page.request.get("/api/v1/preferences")
        assert response.ok
        layout: dict[str, object] | None = (await response.json())["preferences"][
            "workspace.layout"
        ]
        assert layout is not None
        assert json.dumps(layout).count('"type": "leaf"') == groups, layout
        return layout

    return await eventually(stored, what=f"a layout with {groups} groups stored")


async def test_workspace_follows_the_user_and_logout_ends_the_session(
    server: RunningServer, tmp_path: Path
) -> None:
    async with chromium() as browser:
        laptop = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url
        )
        page = await laptop.new_page()
        await page.goto(server.url)
        await expect(page.get_by_test_id("login-form")).to_be_visible()
        await page.screenshot(path=shot("01-login"))

        # A wrong password is explained, and nothing else happens.
        await page.get_by_test_id("login-username").fill("alice")
        await page.get_by_test_id("login-password").fill("not my password")
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("login-error")).to_contain_text("Wrong user name")
        await page.screenshot(path=shot("02-login-error"))

        await page.get_by_test_id("login-password").fill(ALICE_PASSWORD)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        await expect(page.get_by_test_id("welcome-pane").first).to_contain_text("Alice")
        await page.screenshot(path=shot("03-first-login"))

        # Rearrange: a second pane, split off to the right.
        await expect(page.get_by_test_id("split-right")).to_have_count(1)
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-welcome").click()
        await page.get_by_test_id("split-right").first.click()
        await expect(page.get_by_test_id("split-right")).to_have_count(2)
        await page.screenshot(path=shot("04-rearranged"))
        # The browser saves the layout a moment after the change: wait until the server
        # has the two groups side by side.
        layout = await saved_layout_with_groups(page, 2)
        assert json.dumps(layout).count("welcome") >= 2

        # Another browser (another device): the same arrangement.
        desk = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url, color_scheme="light"
        )
        other = await log_in(desk, server.url)
        await expect(other.get_by_test_id("workspace")).to_be_visible()
        await expect(other.get_by_test_id("split-right")).to_have_count(2)
        await other.screenshot(path=shot("05-restored-elsewhere"))

        # Theme: cycle until dark; it is stored on the server and follows the user.
        html = other.locator("html")
        for _ in range(3):
            if await html.get_attribute("data-theme") == "dark":
                break
            await other.get_by_test_id("theme-toggle").click()
        await expect(html).to_have_attribute("data-theme", "dark")
        await other.screenshot(path=shot("06-dark"))
        assert await saved_theme(other, "dark") == "dark"  # the system scheme here is light
        await page.reload()
        await expect(page.locator("html")).to_have_attribute("data-theme", "dark")

        # Log out: the login page returns and the old cookie is dead on the server.
        cookie = next(c["value"] for c in await desk.cookies() if c["name"] == "labgate_session")
        await other.get_by_test_id("user-menu").click()
        await other.screenshot(path=shot("07-user-menu"))
        await other.get_by_test_id("user-menu-logout").click()
        await expect(other.get_by_test_id("login-form")).to_be_visible()
        with server.client(cookies={"labgate_session": cookie}) as http:
            replay = http.get("/api/v1/users/me")
        assert replay.status_code == 401
        # The laptop's own session is unaffected.
        assert (await page.request.get("/api/v1/users/me")).ok
        await laptop.close()
        await desk.close()
