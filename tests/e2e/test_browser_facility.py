"""Issue 18's "done when", in a real browser, each step as a person does it: an
administrator imports experiments, sets a quota and posts an announcement, which reaches
a user already logged in without a reload; the user picks their experiment, launches a
session with its data (a web app serving its working directory: the processed area,
with the raw data linked in it), sees their quota's use, saves the launch as a preset
and relaunches it with one click; the administrator then watches the usage charts,
which count the user's sessions, for the experiment too.

Screenshots go to test-results/facility-*.png to be looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import chromium, log_in, results_dir
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for the facility"
ALICE_PASSWORD = "alice's password for the facility"
# The app serves its working directory: the listing shows what the session was given.
SERVES = "python3 -m http.server {port} --bind 127.0.0.1"
RUNNING = 120_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"LABGATE_LOCAL_RESOURCE": "everyone", "LABGATE_APP_START_TIMEOUT_SECONDS": "120"}
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        admin = Browser(running, "admin", ADMIN_PASSWORD)
        try:
            made = admin.post(
                "/api/v1/users",
                json={"username": "alice", "password": ALICE_PASSWORD, "email": "a@uni.example"},
            )
            assert made.status_code == 201, made.text
        finally:
            admin.close()
        yield running


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("beamtime")
    places = {"raw": base / "12-34" / "raw", "processed": base / "12-34" / "processed"}
    for path in places.values():
        path.mkdir(parents=True)
    (places["raw"] / "run-0001.nxs").write_text("neutrons\n")
    return places


def shot(name: str) -> str:
    return str(results_dir() / f"facility-{name}.png")


async def open_admin_pane(page: Page, kind: str) -> None:
    await page.get_by_test_id("admin-menu").click()
    await page.get_by_test_id(f"admin-menu-{kind}").click()


async def open_pane(page: Page, kind: str) -> None:
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id(f"pane-menu-{kind}").click()


async def import_experiments(admin: Page, data: dict[str, Path]) -> None:
    await open_admin_pane(admin, "experiments-admin")
    pane = admin.get_by_test_id("experiments-admin-pane")
    await pane.get_by_test_id("experiments-import").click()
    dialog = admin.get_by_test_id("experiments-import-dialog")
    await dialog.get_by_test_id("experiments-import-data").fill(
        "code,title,instrument,starts,ends,members,locations\n"
        f"12-34,Spin waves in MnSi,IN5,2026-01-01,,alice:pi,"
        f"local:raw:{data['raw']};local:processed:{data['processed']}\n"
    )
    await dialog.get_by_test_id("experiments-import-run").click()
    await expect(dialog.get_by_test_id("experiments-import-report")).to_contain_text(
        "1 created, 0 updated, 0 unchanged, 0 refused"
    )
    await dialog.get_by_test_id("experiments-import-close").click()
    await expect(pane.locator("[data-testid=experiments-row][data-code='12-34']")).to_be_visible()
    await admin.screenshot(path=shot("01-admin-imported"))


async def set_users_quota(admin: Page) -> None:
    await open_admin_pane(admin, "quotas")
    pane = admin.get_by_test_id("quotas-pane")
    users = pane.locator("[data-testid=quota-row][data-scope=role][data-subject=user]")
    await users.get_by_test_id("quota-edit-button").click()
    dialog = admin.get_by_test_id("quota-edit")
    await dialog.get_by_test_id("quota-core_hours_per_month").fill("500")
    await dialog.get_by_test_id("quota-save").click()
    await expect(dialog).to_be_hidden()
    await expect(users.locator("[data-limit=core_hours_per_month]")).to_have_text("500")
    await admin.screenshot(path=shot("02-admin-quota"))


async def post_announcement(admin: Page, text: str) -> None:
    await open_admin_pane(admin, "announcements")
    pane = admin.get_by_test_id("announcements-pane")
    await pane.get_by_test_id("announcement-text-input").fill(text)
    await pane.get_by_test_id("announcement-severity").select_option("info")
    await pane.get_by_test_id("announcement-save").click()
    await expect(
        pane.get_by_test_id("announcements-current").get_by_test_id("announcement-row")
    ).to_have_count(1)


async def launch_with_the_data(alice: Page, experiment_id: str) -> None:
    """From the Experiments pane: a web app for 12-34, saved as a preset on the way."""
    await open_pane(alice, "experiments")
    card = alice.locator("[data-testid=experiment][data-code='12-34']")
    await expect(card).to_contain_text("Spin waves in MnSi")
    await alice.screenshot(path=shot("04-experiments"))
    await card.get_by_test_id("experiment-launch").click()
    await alice.get_by_test_id("launch-card-webapp").click()
    dialog = alice.get_by_test_id("launch-dialog")
    await expect(dialog.get_by_test_id("launch-experiment")).to_have_value(experiment_id)
    await dialog.get_by_test_id("launch-resource").select_option(label="local")
    await dialog.get_by_test_id("launch-field-app_command").fill(SERVES)
    await dialog.get_by_test_id("launch-save-preset").click()
    await dialog.get_by_test_id("launch-preset-name").fill("12-34 data server")
    await dialog.get_by_test_id("launch-preset-save").click()
    await expect(dialog.get_by_test_id("launch-preset")).to_have_count(0)
    await alice.screenshot(path=shot("05-launch-form"))
    await dialog.get_by_test_id("launch-submit").click()


async def sees_the_data(alice: Page) -> None:
    """The app runs in the processed area, with the raw data linked in it."""
    app = alice.get_by_test_id("app-pane").last
    await expect(app).to_have_attribute("data-state", "running", timeout=RUNNING)
    listing = alice.frame_locator("[data-testid=app-frame]").last
    # http.server names a link "raw@".
    await expect(listing.get_by_role("link", name="raw@")).to_be_visible(timeout=30_000)


async def test_the_facility_day(server: RunningServer, data: dict[str, Path]) -> None:
    async with chromium() as browser:
        hers = await browser.new_context(viewport={"width": 1280, "height": 860})
        alice = await log_in(hers, server.url, "alice", ALICE_PASSWORD)
        theirs = await browser.new_context(viewport={"width": 1280, "height": 860})
        admin = await log_in(theirs, server.url, "admin", ADMIN_PASSWORD)

        # The administrator imports the experiments, sets a quota, announces.
        await import_experiments(admin, data)
        await set_users_quota(admin)
        text = "Beam time 12-34 starts Monday: its data is in labgate."
        await post_announcement(admin, text)
        # Alice, logged in all along, sees it come without a reload.
        await expect(alice.get_by_test_id("announcement-banner")).to_contain_text(text)
        await alice.screenshot(path=shot("03-announcement"))

        # Alice picks her experiment and launches a session with its data.
        api = Browser(server, "alice", ALICE_PASSWORD)
        try:
            (experiment,) = api.get("/api/v1/experiments").json()["experiments"]
            await launch_with_the_data(alice, str(experiment["id"]))
            await sees_the_data(alice)
            await alice.screenshot(path=shot("06-app-with-data"))
            (first,) = api.get("/api/v1/sessions?live=true").json()["sessions"]
            assert first["experiment"]["code"] == "12-34"

            # Her quota's use, where she launches.
            await open_pane(alice, "launcher")
            launcher = alice.get_by_test_id("launcher-pane")
            usage = launcher.get_by_test_id("quota-usage")
            await expect(usage.get_by_test_id("quota-line-core_hours_per_month")).to_contain_text(
                "of 500 core-hours used this month"
            )
            await expect(usage.get_by_test_id("quota-line-max_sessions")).to_contain_text("1 of")
            await alice.screenshot(path=shot("07-quota-use"))

            # The preset relaunches the same launch with one click.
            stopped = api.post(f"/api/v1/sessions/{first['id']}/stop")
            assert stopped.status_code == 200, stopped.text
            preset = launcher.locator("[data-testid=preset]", has_text="12-34 data server")
            await preset.get_by_test_id("preset-launch").click()
            await sees_the_data(alice)
            await alice.screenshot(path=shot("08-preset-relaunched"))
            live = api.get("/api/v1/sessions?live=true").json()["sessions"]
            again = [s for s in live if s["id"] != first["id"]]
            assert [s["experiment"]["code"] for s in again] == ["12-34"], live
        finally:
            api.close()

        # The administrator watches the usage: Alice's two sessions, for 12-34.
        await open_admin_pane(admin, "usage")
        pane = admin.get_by_test_id("usage-pane")
        for figure in ("sessions", "active-users", "core-hours-by-experiment"):
            chart = pane.locator(f"[data-testid=usage-chart][data-figure={figure}]")
            await expect(chart).to_have_attribute("data-empty", "false")
        by_experiment = pane.locator(
            "[data-testid=usage-chart][data-figure=core-hours-by-experiment]"
        )
        await expect(by_experiment.get_by_test_id("usage-legend")).to_contain_text("12-34")
        await admin.screenshot(path=shot("09-usage"))
