"""The workspace's promise end to end: the local resource (the server's own machine, as
the account running labgate) and an SSH resource (another account, through a real sshd)
side by side in the browser, files moved from one to the other and back, by cut and
paste and by drag and drop, each a job through the server with its progress.

One labgate server reaches both accounts here, so its daemons' runtime directory has
``{uid}`` in it: each account its own.

Screenshots go to test-results/local-ssh-*.png.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.files_ui import file_row, go_to, log_in_as_admin, open_files
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for local and ssh"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("labgate")
    with labgate_server(workdir, ADMIN_PASSWORD, per_user_daemons=True) as running:
        yield running


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"local-ssh-{name}.png")


async def paste_into(page: Page, pane: Locator) -> None:
    """Ctrl+V in ``pane``; waits for the job it starts to succeed."""
    await pane.get_by_test_id("files-grid").focus()
    await pane.get_by_test_id("files-grid").press("Control+v")
    job = pane.locator("[data-testid=transfer-row][data-kind=job]").last
    await expect(job).to_have_attribute("data-state", "succeeded", timeout=60_000)


async def test_local_and_ssh_side_by_side_moving_files_between_them(
    server: RunningServer, sshd: SshServer, tmp_path: Path
) -> None:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        admin.add_key_resource("cluster", sshd)
    finally:
        admin.close()
    here = tmp_path / "analysis"  # the server's account's (local)
    (here / "plots").mkdir(parents=True)
    (here / "results.csv").write_text("x,y\n1,2\n")
    (here / "plots" / "fig.txt").write_text("a figure\n")
    user = sshd.user
    there = user.home / "labgate-side-by-side"  # the test account's (over SSH)
    shutil.rmtree(there, ignore_errors=True)
    there.mkdir()
    os.chown(there, user.uid, user.gid)
    try:
        async with chromium() as browser:
            page = await browser.new_page(viewport={"width": 1400, "height": 820})
            await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
            await open_files(page, "local", here)
            await open_files(page, "cluster", there)
            # Side by side: the SSH pane to the right of the local one.
            await page.get_by_test_id("split-right").first.click()
            await page.locator(".dv-tab", has_text="analysis — local").first.click()
            panes = page.locator("[data-testid=files-pane]:visible")
            await expect(panes).to_have_count(2)
            local, remote = panes.first, panes.last
            await expect(local).to_have_attribute("data-path", str(here))
            await expect(remote).to_have_attribute("data-path", str(there))
            await page.screenshot(path=shot("01-side-by-side"))

            # Cut on the local machine, paste over SSH: moved, and owned there by the
            # SSH account.
            await file_row(local, "results.csv").click()
            await file_row(local, "plots").click(modifiers=["Control"])
            await local.get_by_test_id("files-grid").press("Control+x")
            await paste_into(page, remote)
            await expect(file_row(remote, "plots")).to_be_visible()
            await expect(file_row(local, "results.csv")).to_have_count(0)
            await page.screenshot(path=shot("02-moved-to-ssh"))
            assert (there / "results.csv").read_text() == "x,y\n1,2\n"
            assert (there / "plots" / "fig.txt").read_text() == "a figure\n"
            assert (there / "results.csv").stat().st_uid == user.uid
            assert (there / "plots" / "fig.txt").stat().st_uid == user.uid
            assert sorted(p.name for p in here.iterdir()) == []

            # And back by drag and drop: a copy, owned here by the server's account.
            await file_row(remote, "results.csv").drag_to(local.get_by_test_id("files-scroller"))
            copied = local.locator("[data-testid=transfer-row][data-kind=job]").last
            await expect(copied).to_have_attribute("data-state", "succeeded", timeout=60_000)
            await expect(file_row(local, "results.csv")).to_be_visible()
            await page.screenshot(path=shot("03-copied-back"))
            assert (here / "results.csv").read_text() == "x,y\n1,2\n"
            assert (here / "results.csv").stat().st_uid == os.getuid()
            assert (there / "results.csv").exists()  # dragged: copied, not moved

            # Cut over SSH, paste locally: the folder comes home.
            await go_to(remote, str(there))
            await file_row(remote, "plots").click()
            await remote.get_by_test_id("files-grid").press("Control+x")
            await paste_into(page, local)
            await expect(file_row(local, "plots")).to_be_visible()
            assert (here / "plots" / "fig.txt").read_text() == "a figure\n"
            assert not (there / "plots").exists()
    finally:
        shutil.rmtree(there, ignore_errors=True)
