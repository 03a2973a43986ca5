"""The Resources pane in a real browser, against a real server and a real sshd: add a
host, trust its key, log in with a password, see it connected and its system panel; a
wrong password is explained; the status follows a dropped connection live.

Screenshots go to test-results/ to be looked at.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.labgate_api import labgate_server
from tests.support.server import RunningServer
from tests.support.sshd import SshServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for resources"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"resources-{name}.png")


async def log_in(page: Page, url: str) -> None:
    await page.goto(url)
    await page.get_by_test_id("login-username").fill("admin")
    await page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("welcome-open-resources")).to_be_visible()


def row(page: Page, name: str) -> Locator:
    return page.locator(f"[data-testid=resource-row][data-resource-name={name}]")


async def add_resource(
    page: Page, sshd: SshServer, name: str, *, via: SshServer | None = None, shot_as: str = ""
) -> None:
    await page.get_by_test_id("resources-add").first.click()
    dialog = page.get_by_test_id("resource-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_test_id("resource-form-name").fill(name)
    await dialog.get_by_test_id("resource-form-host").fill(sshd.host)
    await dialog.get_by_test_id("resource-form-port").fill(str(sshd.port))
    await dialog.get_by_test_id("resource-form-username").fill(sshd.user.name)
    await dialog.get_by_test_id("resource-form-setup").fill("export LABGATE_DEMO=1")
    if via is not None:
        await dialog.get_by_test_id("resource-form-hop-add").click()
        hop = dialog.get_by_test_id("resource-form-hop").first
        await hop.get_by_test_id("hop-host").fill(via.host)
        await hop.get_by_test_id("hop-port").fill(str(via.port))
    if shot_as:
        await page.screenshot(path=shot(shot_as))
    await dialog.get_by_test_id("resource-form-save").click()
    await expect(dialog).to_be_hidden()
    await expect(row(page, name)).to_be_visible()


async def test_add_trust_log_in_and_watch_the_status(
    server: RunningServer, sshd: SshServer, tmp_path: Path
) -> None:
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 860}, base_url=server.url
        )
        page = await context.new_page()
        await log_in(page, server.url)
        await page.get_by_test_id("welcome-open-resources").click()
        await expect(page.get_by_test_id("resources-pane")).to_be_visible()
        await expect(page.get_by_test_id("events-status")).to_have_attribute("data-state", "open")
        await page.screenshot(path=shot("01-pane"))

        await add_resource(page, sshd, "testbox")
        box = row(page, "testbox")
        await expect(box.get_by_test_id("resource-status")).to_have_attribute(
            "data-state", "disconnected"
        )

        # First connection: the host key is shown to be trusted, then the password.
        await box.get_by_test_id("resource-connect").click()
        connect = page.get_by_test_id("connect-dialog")
        await expect(connect.get_by_test_id("connect-host-key")).to_be_visible()
        await expect(connect.get_by_test_id("connect-host-key-fingerprint")).to_contain_text(
            sshd.host_key_fingerprint
        )
        await page.screenshot(path=shot("02-host-key"))
        await connect.get_by_test_id("connect-host-key-trust").click()
        await expect(connect.get_by_test_id("connect-prompt")).to_have_attribute(
            "data-kind", "password"
        )
        await connect.get_by_test_id("connect-password").fill(sshd.user.password)
        await page.screenshot(path=shot("03-password"))
        await connect.get_by_test_id("connect-answer").click()
        await expect(connect).to_be_hidden(timeout=30_000)
        await expect(box.get_by_test_id("resource-status")).to_have_attribute(
            "data-state", "connected"
        )
        details = page.get_by_test_id("system-panel")
        if not await details.is_visible():
            await box.get_by_test_id("resource-details").click()
        await expect(details).to_contain_text(sshd.user.name)
        await page.screenshot(path=shot("04-connected"))

        # The SSH connection is killed: the status goes through "reconnecting" and back
        # by itself, pushed to the page.
        for pid in sshd.session_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await expect(box.get_by_test_id("resource-status")).to_have_attribute(
            "data-state", "connected", timeout=30_000
        )

        # A wrong password is explained where it happened.
        await add_resource(page, sshd, "wrongpass")
        wrong = row(page, "wrongpass")
        await wrong.get_by_test_id("resource-connect").click()
        await connect.get_by_test_id("connect-host-key-trust").click()
        await connect.get_by_test_id("connect-password").fill("not the password")
        await connect.get_by_test_id("connect-answer").click()
        failure = connect.get_by_test_id("connect-failure")
        await expect(failure).to_have_attribute("data-code", "auth_failed", timeout=30_000)
        await page.screenshot(path=shot("05-auth-failed"))
        await connect.get_by_test_id("connect-close").click()
        await expect(wrong.get_by_test_id("resource-status")).to_have_attribute(
            "data-state", "failed"
        )

        # The dark theme, for the record.
        await page.emulate_media(color_scheme="dark")
        await page.screenshot(path=shot("06-list"))
        await context.close()


# -- a host behind a jump host -----------------------------------------------------------


async def test_a_host_behind_a_jump_host(
    tmp_path: Path, jump_sshd: SshServer, target_sshd: SshServer
) -> None:
    with labgate_server(tmp_path, ADMIN_PASSWORD) as server:
        async with chromium() as browser:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 860}, base_url=server.url
            )
            page = await context.new_page()
            await log_in(page, server.url)
            await page.get_by_test_id("welcome-open-resources").click()
            await add_resource(page, target_sshd, "behind-gw", via=jump_sshd, shot_as="10-hops")
            gated = row(page, "behind-gw")
            nodes = gated.get_by_test_id("chain-node")
            await expect(nodes).to_have_count(3)  # labgate, the jump host, the target

            await gated.get_by_test_id("resource-connect").click()
            connect = page.get_by_test_id("connect-dialog")
            for hop in (jump_sshd, target_sshd):  # each server: its key, then its password
                await expect(
                    connect.get_by_test_id("connect-host-key-fingerprint")
                ).to_contain_text(hop.host_key_fingerprint)
                if hop is target_sshd:
                    await page.screenshot(path=shot("11-second-hop-key"))
                await connect.get_by_test_id("connect-host-key-trust").click()
                await expect(connect.get_by_test_id("connect-prompt-hop")).to_contain_text(
                    f"{hop.host}:{hop.port}"
                )
                await connect.get_by_test_id("connect-password").fill(hop.user.password)
                await connect.get_by_test_id("connect-answer").click()
            await expect(connect).to_be_hidden(timeout=30_000)
            await expect(gated.get_by_test_id("resource-status")).to_have_attribute(
                "data-state", "connected"
            )
            details = page.get_by_test_id("system-panel")
            if not await details.is_visible():
                await gated.get_by_test_id("resource-details").click()
            await expect(details).to_contain_text(target_sshd.user.name)
            await page.screenshot(path=shot("12-behind-gw-connected"))
            await context.close()
