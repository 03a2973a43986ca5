"""The file browser and viewer panes in a real browser: logging in (as the administrator),
a resource's row in the Resources pane, opening its files at a folder, and finding rows,
for tests/e2e/test_browser_files.py, test_browser_viewers.py and others."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Locator, Page, expect


async def log_in(page: Page, url: str, username: str, password: str) -> None:
    """Log in as ``username`` (whose password need not be changed first): the workspace."""
    await page.goto(url)
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("pane-menu")).to_be_visible()


async def log_in_as_admin(page: Page, url: str, password: str) -> None:
    await log_in(page, url, "admin", password)


async def resource_row(page: Page, resource: str) -> Locator:
    """``resource``'s row in the Resources pane, which is brought to the front (or opened
    from the Panes menu)."""
    tab = page.locator(".dv-tab", has_text="Resources")
    if await tab.count() == 0:
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-resources").click()
    else:
        await tab.first.click()
    await expect(page.get_by_test_id("resources-pane")).to_be_visible()
    return page.locator(f"[data-testid=resource-row][data-resource-name={resource}]")


async def open_files(page: Page, resource: str, folder: str | Path | None = None) -> Locator:
    """A new file browser on ``resource`` (from the Resources pane), at ``folder`` (typed
    into the path bar) when given. Returns the pane."""
    row = await resource_row(page, resource)
    await row.get_by_test_id("resource-files").click()
    pane = page.locator("[data-testid=files-pane]:visible").last
    await expect(pane.get_by_test_id("files-grid")).to_be_visible(timeout=30_000)
    if folder is not None:
        await go_to(pane, str(folder))
    return pane


async def go_to(pane: Locator, folder: str) -> None:
    """Type ``folder`` into the path bar and wait until it is listed."""
    await pane.get_by_test_id("files-path-edit").click()
    await pane.get_by_test_id("files-path-input").fill(folder)
    await pane.get_by_test_id("files-path-input").press("Enter")
    await expect(pane).to_have_attribute("data-path", folder.rstrip("/") or "/")
    await expect(pane).to_have_attribute("data-complete", "true")


def file_row(pane: Locator, name: str) -> Locator:
    return pane.locator("[data-testid=file-row]").filter(
        has=pane.page.get_by_text(name, exact=True)
    )


async def names_shown(pane: Locator) -> list[str]:
    rows = pane.locator("[data-testid=file-row]")
    return [name for name in await rows.evaluate_all("rs => rs.map(r => r.dataset.name)")]
