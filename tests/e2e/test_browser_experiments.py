"""Experiments in a real browser: a member finds their experiment in the Experiments
pane, launches JupyterLab for it (the launch form has it chosen and says what is
attached), and finds its data in JupyterLab's working directory (the processed area,
with a link to the raw data); an administrator sees it in the Experiments pane of the
Administration menu and imports a file with a bad line.

Screenshots go to test-results/experiments-*.png to be looked at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.apps import AppsEnv
from tests.support.browser import chromium, results_dir
from tests.support.labgate_api import Browser, labgate_server
from tests.support.local_accounts import local_resource_of
from tests.support.server import RunningServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for experiments"
ALICE_PASSWORD = "alice's password for experiments"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # Everyone may use local (mapped to root in the tests): Alice launches there.
    env = {"LABGATE_LOCAL_RESOURCE": "everyone", "LABGATE_APP_START_TIMEOUT_SECONDS": "120"}
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("facility")
    places = {"raw": base / "12-34" / "raw", "processed": base / "12-34" / "processed"}
    for path in places.values():
        path.mkdir(parents=True)
    (places["raw"] / "run-0001.nxs").write_text("neutrons\n")
    return places


@pytest.fixture(scope="module")
def experiment(server: RunningServer, data: dict[str, Path], apps_env: AppsEnv) -> int:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        local = local_resource_of(admin.get("/api/v1/resources").json()["resources"])
        changed = admin.patch(
            f"/api/v1/resources/{local['id']}",
            json={"setup_lines": [f"export PATH={apps_env.bin}:$PATH"]},
        )
        assert changed.status_code == 200, changed.text
        made = admin.post(
            "/api/v1/users",
            json={"username": "alice", "password": ALICE_PASSWORD, "email": "alice@uni.example"},
        )
        assert made.status_code == 201, made.text
        created = admin.post(
            "/api/v1/experiments",
            json={
                "code": "12-34",
                "title": "Spin waves in MnSi",
                "instrument": "IN5",
                "starts_at": "2026-01-01T00:00:00Z",
                "members": [{"email": "ALICE@uni.example", "role": "pi"}, {"username": "bob"}],
                "locations": [
                    {"resource_id": local["id"], "kind": "raw", "path": str(data["raw"])},
                    {
                        "resource_id": local["id"],
                        "kind": "processed",
                        "path": str(data["processed"]),
                    },
                ],
            },
        )
        assert created.status_code == 201, created.text
        experiment_id: int = created.json()["id"]
        return experiment_id
    finally:
        admin.close()


def shot(name: str) -> str:
    return str(results_dir() / f"experiments-{name}.png")


@asynccontextmanager
async def logged_in(server: RunningServer, username: str, password: str) -> AsyncIterator[Page]:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 820})
        await page.goto(server.url)
        await page.get_by_test_id("login-username").fill(username)
        await page.get_by_test_id("login-password").fill(password)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        yield page


async def test_a_member_launches_jupyterlab_for_their_experiment_and_finds_the_data(
    server: RunningServer, experiment: int, data: dict[str, Path]
) -> None:
    async with logged_in(server, "alice", ALICE_PASSWORD) as page:
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-experiments").click()
        card = page.locator("[data-testid=experiment][data-code='12-34']")
        await expect(card).to_be_visible()
        await expect(card).to_contain_text("Spin waves in MnSi")
        await expect(card.get_by_test_id("experiment-dates")).to_have_text("running")
        await expect(card.get_by_test_id("experiment-location")).to_have_count(2)
        await page.screenshot(path=shot("01-pane"))

        # A data location opens in the file browser, which has the experiment's places
        # as bookmarks.
        await card.locator("[data-testid=experiment-location][data-kind=raw]").click()
        files = page.get_by_test_id("files-pane")
        await expect(files).to_have_attribute("data-path", str(data["raw"]))
        await files.get_by_test_id("files-experiment-places").click()
        places = page.get_by_test_id("files-experiment-place")
        await expect(places).to_have_count(2)
        await page.screenshot(path=shot("01b-file-browser-bookmarks"))
        await places.last.click()
        await expect(files).to_have_attribute("data-path", str(data["processed"]))
        await page.locator(".dv-tab", has_text="Experiments").first.click()

        await card.get_by_test_id("experiment-launch").click()
        await expect(page.get_by_test_id("launcher-experiment")).to_be_visible()
        await page.get_by_test_id("launch-card-jupyterlab").click()
        dialog = page.get_by_test_id("launch-dialog")
        await expect(dialog.get_by_test_id("launch-experiment")).to_have_value(str(experiment))
        attached = dialog.get_by_test_id("launch-experiment-data")
        await expect(attached).to_contain_text(str(data["raw"]))
        await page.screenshot(path=shot("02-launch-form"))
        await dialog.get_by_test_id("launch-submit").click()

        app = page.get_by_test_id("app-pane")
        await expect(app).to_have_attribute("data-state", "running", timeout=180_000)
        frame = page.frame_locator("[data-testid=app-frame]")
        await expect(frame.locator(".jp-LabShell")).to_be_visible(timeout=60_000)
        # The working directory is the processed area, with the raw data linked in it.
        listing = frame.locator(".jp-DirListing-content")
        raw = listing.locator(".jp-DirListing-item", has_text="raw")
        await expect(raw).to_be_visible(timeout=60_000)
        await page.screenshot(path=shot("03-jupyterlab-working-directory"))
        await raw.dblclick()
        await expect(listing.locator(".jp-DirListing-item", has_text="run-0001.nxs")).to_be_visible(
            timeout=30_000
        )
        await page.screenshot(path=shot("04-jupyterlab-raw-data"))
        assert (data["processed"] / "raw").is_symlink()

        # The Sessions pane says which experiment the session is for.
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-sessions").click()
        row = page.get_by_test_id("session-row").first
        await expect(row.get_by_test_id("session-experiment")).to_have_text("for experiment 12-34")
        await page.screenshot(path=shot("05-sessions"))
        await row.get_by_test_id("session-stop").click()


async def test_an_administrator_sees_and_imports_experiments(
    server: RunningServer, experiment: int
) -> None:
    async with logged_in(server, "admin", ADMIN_PASSWORD) as page:
        await page.get_by_test_id("admin-menu").click()
        await page.get_by_test_id("admin-menu-experiments-admin").click()
        pane = page.get_by_test_id("experiments-admin-pane")
        await expect(
            pane.locator("[data-testid=experiments-row][data-code='12-34']")
        ).to_be_visible()
        await page.screenshot(path=shot("06-admin-pane"))
        await pane.get_by_test_id("experiments-import").click()
        dialog = page.get_by_test_id("experiments-import-dialog")
        await dialog.get_by_test_id("experiments-import-data").fill(
            "code,title,members,locations\n56-78,Magnons,alice:member,\n90-12,Lost,eve:boss,\n"
        )
        await dialog.get_by_test_id("experiments-import-run").click()
        report = dialog.get_by_test_id("experiments-import-report")
        await expect(report).to_contain_text("1 created, 0 updated, 0 unchanged, 1 refused")
        await expect(dialog.get_by_test_id("experiments-import-refused")).to_contain_text(
            "line 3 (90-12): the role of eve"
        )
        await page.screenshot(path=shot("07-admin-import"))
        await dialog.get_by_test_id("experiments-import-close").click()
        await expect(
            pane.locator("[data-testid=experiments-row][data-code='56-78']")
        ).to_be_visible()
        await (
            pane.locator("[data-testid=experiments-row][data-code='12-34']")
            .get_by_test_id("experiments-edit")
            .click()
        )
        await expect(page.get_by_test_id("experiment-dialog")).to_be_visible()
        await page.screenshot(path=shot("08-admin-edit"))
