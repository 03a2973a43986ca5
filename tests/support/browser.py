"""Debian's Chromium driven by Playwright: never a downloaded browser."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

CHROMIUM = Path("/usr/bin/chromium")
# Quiet, reproducible and offline: no sandbox (the tests may run as root), no GPU, and
# none of the background connections a closed network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def results_dir() -> Path:
    """Where screenshots go: test-results/ (``LABGATE_TEST_RESULTS`` under ``make test``)."""
    path = Path(os.environ.get("LABGATE_TEST_RESULTS", "test-results"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: run `make test-deps` (installs Debian's chromium)."
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def log_in(context: BrowserContext, url: str, user: str, password: str) -> Page:
    """A new page of ``context`` logged in to labgate at ``url`` as ``user``, its workspace
    shown."""
    page = await context.new_page()
    await page.goto(url)
    await page.get_by_test_id("login-username").fill(user)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("workspace")).to_be_visible()
    return page
