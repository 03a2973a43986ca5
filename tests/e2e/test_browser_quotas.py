"""Quotas in a real browser: a user sees their usage and limits where they launch and in
the user menu's Usage dialog; a launch over their role's quota is refused in the launch
dialog with the quota's message (which limit, what is in use, when it frees up); an
administrator sees the role defaults in the Quotas pane and adds a group's quota there.

Screenshots go to test-results/quotas-*.png to be looked at.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import expect

from tests.support.browser import chromium, log_in, results_dir
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer
from tests.support.sessions import another_user, launch, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for the quotas"
ERIN_PASSWORD = "erin's password for her quota"
SERVES = "python3 -m http.server {port} --bind 127.0.0.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"LABGATE_LOCAL_RESOURCE": "everyone"}
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"quotas-{name}.png")


def local_resource(api: Browser) -> int:
    resources = api.get("/api/v1/resources").json()["resources"]
    return int(next(r["id"] for r in resources if r["kind"] == "local"))


async def test_a_refused_launch_shows_the_quota_message(server: RunningServer) -> None:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        limits = {"max_sessions": 1, "max_cores": 8, "core_hours_per_month": 500}
        assert admin.put("/api/v1/quotas/role/user", json=limits).status_code == 200
        with another_user(admin, "erin", ERIN_PASSWORD) as erin:
            rid = local_resource(erin)
            running = launch(erin, rid, "webapp", form={"app_command": SERVES})
            wait_for(erin, running["id"], "running")

            async with chromium() as browser:
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                page = await log_in(context, server.url, "erin", ERIN_PASSWORD)
                await page.get_by_test_id("pane-menu").click()
                await page.get_by_test_id("pane-menu-launcher").click()
                pane = page.get_by_test_id("launcher-pane")
                usage = pane.get_by_test_id("quota-usage")
                await expect(usage.get_by_test_id("quota-line-max_sessions")).to_contain_text(
                    "1 of 1 sessions running"
                )
                await expect(usage.get_by_test_id("quota-line-max_cores")).to_contain_text(
                    "1 of 8 cores in use"
                )
                await expect(
                    usage.get_by_test_id("quota-line-core_hours_per_month")
                ).to_contain_text("of 500 core-hours used this month")
                await page.screenshot(path=shot("01-launcher-usage"))

                await pane.get_by_test_id("launch-card-webapp").click()
                dialog = page.get_by_test_id("launch-dialog")
                await dialog.get_by_test_id("launch-resource").select_option(label="local")
                await dialog.get_by_test_id("launch-field-app_command").fill(SERVES)
                await dialog.get_by_test_id("launch-submit").click()
                error = dialog.get_by_test_id("launch-error")
                await expect(error).to_have_attribute("data-quota", "true")
                await expect(error).to_contain_text(
                    "Over a quota. Your role's limit of 1 session at once would be exceeded: "
                    "1 of 1 sessions in use."
                )
                await expect(error).to_contain_text(f'It frees up when "{running["title"]}" ends')
                # Nothing was launched: the form stays, to change or close.
                await expect(dialog.get_by_test_id("launch-progress")).to_have_count(0)
                await page.screenshot(path=shot("02-refused"))
                await dialog.get_by_test_id("launch-close").click()

                await page.get_by_test_id("user-menu").click()
                await page.get_by_test_id("user-menu-usage").click()
                usage_dialog = page.get_by_test_id("usage-dialog")
                await expect(
                    usage_dialog.get_by_test_id("quota-line-max_sessions")
                ).to_contain_text("1 of 1 sessions running")
                await page.screenshot(path=shot("03-usage-dialog"))
            assert erin.post(f"/api/v1/sessions/{running['id']}/stop").status_code == 200
    finally:
        admin.close()


async def test_an_administrator_sees_and_sets_quotas(server: RunningServer) -> None:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        made = admin.post("/api/v1/groups", json={"name": "physics"})
        assert made.status_code == 201, made.text
        async with chromium() as browser:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await log_in(context, server.url, "admin", ADMIN_PASSWORD)
            await page.get_by_test_id("admin-menu").click()
            await page.get_by_test_id("admin-menu-quotas").click()
            pane = page.get_by_test_id("quotas-pane")
            guest = pane.locator("[data-testid=quota-row][data-subject=guest]")
            await expect(guest).to_have_attribute("data-source", "settings")
            await expect(guest.locator("[data-limit=max_sessions]")).to_have_text("2")

            await pane.get_by_test_id("quotas-new").click()
            dialog = page.get_by_test_id("quota-edit")
            await dialog.get_by_test_id("quota-subject").select_option(label="physics")
            await dialog.get_by_test_id("quota-max_gpus").fill("4")
            await dialog.get_by_test_id("quota-gpu_hours_per_month").fill("lots")
            await dialog.get_by_test_id("quota-save").click()
            await expect(dialog).to_contain_text("A whole number from 0 on")
            await dialog.get_by_test_id("quota-gpu_hours_per_month").fill("200")
            await expect(dialog).not_to_contain_text("A whole number from 0 on")
            await page.screenshot(path=shot("04-quota-dialog"))
            await dialog.get_by_test_id("quota-save").click()
            await expect(dialog).to_be_hidden()

            physics = pane.locator("[data-testid=quota-row][data-scope=group]")
            await expect(physics).to_contain_text("Group physics")
            await expect(physics.locator("[data-limit=max_gpus]")).to_have_text("4")
            await expect(physics.locator("[data-limit=gpu_hours_per_month]")).to_have_text("200")
            await page.screenshot(path=shot("05-quotas-pane"))
    finally:
        admin.close()
