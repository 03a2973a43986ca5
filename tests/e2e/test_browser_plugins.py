"""The sample plug-in (tests/sample_plugin) installed as a third party's is, with pip,
and a real server that finds it through its entry point: ``labgate plugins`` lists it;
in Chromium its "Sample" pane is in the Panes menu and opens, a ``.lgsample`` file opens
in its viewer, and its app template launched with its launcher runs and answers
through labgate's proxy. Nothing of labgate is changed for it.

Screenshots go to test-results/ (plugins-*.png) to be looked at.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.files_ui import file_row, log_in_as_admin, open_files
from tests.support.labgate_api import labgate_server
from tests.support.sample_plugin import install_sample_plugin, plugin_environment
from tests.support.server import LABGATE, RunningServer, labgate_environment

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for plug-ins"
SAMPLE_VERSION = "0.3.0"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the sample plug-in is installed in (by pip, as a user would)."""
    return install_sample_plugin(tmp_path_factory.mktemp("sample-plugin"))


@pytest.fixture(scope="module")
def server(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        **plugin_environment(site),
        "LABGATE_APP_RECONCILE_SECONDS": "2",
        "LABGATE_APP_IDLE_MINUTES": "60",
        # The administrator owns the sessions here: staff limits apply to them.
        "LABGATE_APP_STAFF_IDLE_MINUTES": "60",
    }
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"plugins-{name}.png")


@asynccontextmanager
async def logged_in(server: RunningServer) -> AsyncIterator[Page]:
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
        yield page
        # No plug-in failed to load, and nothing threw on the page.
        await expect(page.get_by_test_id("notice")).to_have_count(0)
        assert errors == []


def test_labgate_plugins_lists_the_installed_sample(site: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(LABGATE), "--data-dir", str(tmp_path / "data"), "plugins"],
        env=labgate_environment(plugin_environment(site)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert lines["sample"][1:3] == [SAMPLE_VERSION, "False"], done.stdout
    for hook in ("register_frontend_bundles", "register_file_viewers", "register_panes"):
        assert hook in lines["sample"][3], done.stdout
    # The project's own environment does not have it.
    alone = subprocess.run(
        [str(LABGATE), "--data-dir", str(tmp_path / "data"), "plugins"],
        env=labgate_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "sample" not in alone.stdout


def test_the_server_serves_the_bundle(server: RunningServer) -> None:
    info = httpx.get(f"{server.url}/api/v1/info").json()
    assert {"name": "sample", "version": SAMPLE_VERSION, "entry": "/plugins/sample/sample.js"} in (
        info["bundles"]
    )
    entry = httpx.get(f"{server.url}/plugins/sample/sample.js")
    assert entry.status_code == 200
    assert entry.headers["content-type"].startswith("text/javascript")
    assert "export function register(api)" in entry.text


async def test_the_sample_pane_is_in_the_panes_menu_and_opens(server: RunningServer) -> None:
    async with logged_in(server) as page:
        await page.get_by_test_id("pane-menu").click()
        entry = page.get_by_test_id("pane-menu-sample")
        await expect(entry).to_have_text("Sample")
        await page.screenshot(path=shot("01-panes-menu"))
        await entry.click()
        pane = page.get_by_test_id("sample-pane")
        await expect(pane).to_contain_text('front-end bundle "sample"')
        # The pane asked labgate's API through the client it was given.
        await expect(pane.get_by_test_id("sample-pane-server")).to_contain_text(
            f"sample {SAMPLE_VERSION}"
        )
        await page.screenshot(path=shot("02-sample-pane"))


async def test_a_sample_file_opens_in_the_sample_viewer(
    server: RunningServer, tmp_path: Path
) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "notes.lgsample").write_text("first line\nsecond line\nthird line\n")
    (folder / "notes.txt").write_text("an ordinary text file\n")
    async with logged_in(server) as page:
        files = await open_files(page, "local", folder)
        await file_row(files, "notes.lgsample").dblclick()
        viewer = page.locator("[data-testid=viewer-pane][data-viewer=lgsample]:visible")
        await expect(viewer.get_by_test_id("sample-viewer")).to_contain_text(
            "Sample viewer: notes.lgsample"
        )
        await expect(viewer.get_by_test_id("sample-viewer-line")).to_have_text(
            ["« first line »", "« second line »", "« third line »"]
        )
        await page.screenshot(path=shot("03-sample-viewer"))

        # labgate's own viewers are untouched.
        await page.locator(".dv-tab", has_text="samples — local").first.click()
        await file_row(files, "notes.txt").dblclick()
        text = page.locator("[data-testid=viewer-pane][data-viewer=text]:visible")
        await expect(text.get_by_test_id("text-content")).to_contain_text("an ordinary text file")


def nice_of_the_app(marker: str) -> int | None:
    """The nice value of the process whose command line holds ``marker`` (the sample
    app runs on ``local``, this machine)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if marker.encode() in command and b"python3" in command:
            return int(fields[16])  # the 19th field of stat: nice
    return None


async def test_the_sample_template_runs_with_the_sample_launcher(server: RunningServer) -> None:
    async with logged_in(server) as page:
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-launcher").click()
        card = page.get_by_test_id("launch-card-sample-page")
        await expect(card).to_be_visible()
        await page.screenshot(path=shot("04-launcher"))
        await card.click()
        dialog = page.get_by_test_id("launch-dialog")
        await dialog.get_by_test_id("launch-resource").select_option(label="local")
        await dialog.get_by_test_id("launch-launcher").select_option("sample-nice")
        await page.screenshot(path=shot("05-launch-form"))
        await dialog.get_by_test_id("launch-submit").click()

        app = page.get_by_test_id("app-pane")
        await expect(app).to_have_attribute("data-state", "running", timeout=60_000)
        frame = page.frame_locator("[data-testid=app-frame]")
        await expect(frame.locator("#sample")).to_have_text("Served by the labgate sample plug-in")
        await page.screenshot(path=shot("06-sample-app"))
        # Run by the sample's launcher: under nice.
        assert nice_of_the_app("Served by the labgate sample plug-in") == 10
