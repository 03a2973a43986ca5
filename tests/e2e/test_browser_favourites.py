"""Favourites and presets in a real browser: a starred app template comes first in the
launcher, a starred resource first in the Resources pane, a starred folder first in the
file browser's Places; a launch saved as a preset from the launch dialog, then
relaunched from the launcher with one click, its app opening in a pane; a preset
renamed, one that fails saying so, one removed.

Screenshots go to test-results/favourites-*.png to be looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.files_ui import go_to, log_in_as_admin, open_files, resource_row
from tests.support.labgate_api import Browser, labgate_server
from tests.support.launch_ui import SERVES
from tests.support.server import RunningServer
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for favourites in the browser"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"LABGATE_APP_RECONCILE_SECONDS": "2"}
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"favourites-{name}.png")


async def open_launcher(page: Page) -> None:
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id("pane-menu-launcher").click()
    await expect(page.get_by_test_id("launcher-pane")).to_be_visible()


async def card_order(page: Page) -> list[str]:
    """The app cards' template ids, in the launcher's order (once they are listed)."""
    await expect(page.get_by_test_id("launch-card-tensorboard")).to_be_visible()
    cards = page.get_by_test_id("launcher-cards").locator("[data-testid^=launch-card-]")
    ids = [await card.get_attribute("data-testid") for card in await cards.all()]
    return [str(i).removeprefix("launch-card-") for i in ids]


async def test_stars_come_first_and_a_preset_relaunches_with_one_click(
    server: RunningServer, sshd: SshServer, tmp_path: Path
) -> None:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        admin.add_key_resource("box", sshd)
    finally:
        admin.close()
    projects = tmp_path / "projects"
    for name in ("alpha", "beta"):
        (projects / name).mkdir(parents=True)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 820})
        await log_in_as_admin(page, server.url, ADMIN_PASSWORD)

        # A template starred comes first among the apps.
        await open_launcher(page)
        before = await card_order(page)
        assert before[0] != "tensorboard", before
        star = page.get_by_test_id("launch-star-tensorboard")
        await expect(star).to_have_attribute("aria-pressed", "false")
        await star.click()
        await expect(star).to_have_attribute("aria-pressed", "true")
        await expect(page.get_by_test_id("launcher-cards").locator("li").first).to_contain_text(
            "TensorBoard"
        )
        assert await card_order(page) == ["tensorboard", *(t for t in before if t != "tensorboard")]

        # A resource starred comes first in the Resources pane (box is after local by name).
        box = await resource_row(page, "box")
        await box.get_by_test_id("resource-star").click()
        rows = page.get_by_test_id("resource-row")
        await expect(rows.first).to_have_attribute("data-resource-name", "box")
        await expect(rows.first.get_by_test_id("resource-star")).to_have_attribute(
            "aria-pressed", "true"
        )
        await page.screenshot(path=shot("00-resources-starred-first"))

        # A folder starred from the file browser comes first among its places.
        files = await open_files(page, "local", projects / "beta")
        await files.get_by_test_id("files-star").click()
        await expect(files.get_by_test_id("files-star")).to_have_attribute("aria-pressed", "true")
        await go_to(files, str(projects / "alpha"))
        await expect(files.get_by_test_id("files-star")).to_have_attribute("aria-pressed", "false")
        await files.get_by_test_id("files-places").click()
        places = page.get_by_test_id("files-place")
        await expect(places.first).to_have_text("beta")
        await expect(places.nth(1)).to_have_text("Home folder")
        await page.screenshot(path=shot("01-file-browser-places"))
        await places.first.click()
        await expect(files).to_have_attribute("data-path", str(projects / "beta"))

        # A launch saved as a preset from the launch dialog, with its form.
        await open_launcher(page)
        await page.get_by_test_id("launch-card-webapp").click()
        dialog = page.get_by_test_id("launch-dialog")
        await dialog.get_by_test_id("launch-resource").select_option(label="local")
        await dialog.get_by_test_id("launch-field-app_command").fill(SERVES)
        await dialog.get_by_test_id("launch-save-preset").click()
        name = dialog.get_by_test_id("launch-preset-name")
        # Offered with a name of its own, in view, ready to be typed over.
        await expect(name).to_have_value("Web app on local")
        await expect(name).to_be_focused()
        await expect(name).to_be_in_viewport()
        await name.fill("Quick web server")
        await page.screenshot(path=shot("02-save-as-preset"))
        await dialog.get_by_test_id("launch-preset-save").click()
        await expect(dialog.get_by_test_id("launch-preset")).to_have_count(0)
        await dialog.get_by_test_id("launch-close").click()
        preset = page.get_by_test_id("preset")
        await expect(preset).to_have_count(1)
        await expect(preset).to_have_attribute("data-title", "Quick web server")
        await expect(preset).to_contain_text("Web app on local")
        await page.screenshot(path=shot("03-launcher-presets-and-stars"))

        # One click: a new session, its app opened in a pane once it runs.
        await preset.get_by_test_id("preset-launch").click()
        app = page.get_by_test_id("app-pane")
        await expect(app).to_have_attribute("data-state", "running", timeout=60_000)
        frame = page.frame_locator("[data-testid=app-frame]")
        await expect(frame.locator("h1")).to_contain_text("Directory listing")
        await page.screenshot(path=shot("04-preset-launched"))

        # A preset renamed in place; one whose app fails says so where it was launched.
        await page.locator(".dv-tab", has_text="Launch an app").click()
        await preset.get_by_test_id("preset-rename").click()
        rename = preset.get_by_test_id("preset-rename-input")
        await rename.fill("Serve my home")
        await rename.press("Enter")
        await expect(preset).to_have_attribute("data-title", "Serve my home")
        await page.get_by_test_id("launch-card-webapp").click()
        dialog = page.get_by_test_id("launch-dialog")
        await dialog.get_by_test_id("launch-resource").select_option(label="local")
        await dialog.get_by_test_id("launch-field-app_command").fill("echo no such app; exit 3")
        await dialog.get_by_test_id("launch-save-preset").click()
        await dialog.get_by_test_id("launch-preset-name").fill("Broken app")
        await dialog.get_by_test_id("launch-preset-save").click()
        await dialog.get_by_test_id("launch-close").click()
        broken = page.locator("[data-testid=preset][data-title='Broken app']")
        await broken.get_by_test_id("preset-launch").click()
        await expect(broken.get_by_test_id("preset-state")).to_have_text("Failed", timeout=60_000)
        await expect(broken.get_by_test_id("preset-failure")).to_contain_text("status 3")
        await expect(broken.get_by_role("button", name="Details")).to_be_visible()
        await page.screenshot(path=shot("05-presets-renamed-and-failed"))
        await broken.get_by_test_id("preset-remove").click()
        await expect(page.get_by_test_id("preset")).to_have_count(1)

        # Stars and presets are kept: a reload shows them as they were.
        await page.reload()
        await open_launcher(page)
        await expect(page.get_by_test_id("preset")).to_have_count(1)
        first = page.get_by_test_id("launcher-cards").locator("[data-testid^=launch-card-]").first
        await expect(first).to_have_attribute("data-testid", "launch-card-tensorboard")
