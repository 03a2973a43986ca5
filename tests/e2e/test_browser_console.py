"""The administration console in a real browser: an administrator creates a group and
adds a member, sees the shared resources with their live sessions and checks one now,
sees an app template file that was refused and switches TensorBoard off (gone from the
launcher, its launch refused), filters everybody's sessions and stops one, is told why
they cannot join it as support, filters the audit log, and sees a user's sessions and
their usage against their role's quota. The Administration menu lists the
console's panes in its order.

Screenshots go to test-results/console-*.png to be looked at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer
from tests.support.sessions import another_user, launch, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for the console"
ERIN_PASSWORD = "erin's password for her sessions"
SERVES = "python3 -m http.server {port} --bind 127.0.0.1"
BROKEN = 'id = "broken"\ntitle = "Broken"\ncommand = "serve {nothing} {port}"\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    templates: Path = tmp_path_factory.mktemp("templates")
    (templates / "broken.toml").write_text(BROKEN)
    env = {"LABGATE_LOCAL_RESOURCE": "everyone", "LABGATE_APP_TEMPLATES_DIR": str(templates)}
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"console-{name}.png")


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=shot(name))


async def open_admin_pane(page: Page, kind: str) -> None:
    await page.get_by_test_id("admin-menu").click()
    await page.get_by_test_id(f"admin-menu-{kind}").click()


async def test_an_administrator_runs_the_console(server: RunningServer) -> None:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    with another_user(admin, "erin", ERIN_PASSWORD) as erin:
        local = next(
            r["id"]
            for r in erin.get("/api/v1/resources").json()["resources"]
            if r["kind"] == "local"
        )
        first = launch(erin, local, "webapp", title="Fit A", form={"app_command": SERVES})
        second = launch(erin, local, "webapp", title="Fit B", form={"app_command": SERVES})
        for session in (first, second):
            wait_for(erin, session["id"], "running")
        async with chromium() as browser:
            context = await browser.new_context(viewport={"width": 1360, "height": 860})
            page = await context.new_page()
            await page.goto(server.url)
            await page.get_by_test_id("login-username").fill("admin")
            await page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
            await page.get_by_test_id("login-submit").click()

            # The menu: people first, what happened last.
            await page.get_by_test_id("admin-menu").click()
            kinds = await page.locator("[data-testid^=admin-menu-]").evaluate_all(
                "items => items.map(i => i.dataset.testid.replace('admin-menu-', ''))"
            )
            assert kinds == [
                "users",
                "groups",
                "guest-invitations",
                "experiments-admin",
                "shared-resources",
                "app-templates",
                "quotas",
                "all-sessions",
                "extension-requests",
                "usage",
                "announcements",
                "audit-log",
            ], kinds
            await screenshot(page, "01-menu")
            await page.keyboard.press("Escape")

            # Groups: a new one, with Erin in it.
            await open_admin_pane(page, "groups")
            pane = page.get_by_test_id("groups-pane")
            await pane.get_by_test_id("groups-new-name").fill("Bad Name")
            await pane.get_by_test_id("groups-create").click()
            await expect(pane.get_by_test_id("groups-new-error")).to_be_visible()
            await pane.get_by_test_id("groups-new-name").fill("physics")
            await pane.get_by_test_id("groups-new-description").fill("The physics department")
            await pane.get_by_test_id("groups-create").click()
            members = pane.get_by_test_id("group-members")
            await expect(members).to_have_attribute("data-group", "physics")
            await members.get_by_test_id("group-member-name").fill("erin")
            await members.get_by_test_id("group-member-add").click()
            await expect(members.get_by_test_id("group-member")).to_have_text(["erin"])
            row = pane.locator("[data-testid=group-row][data-group=physics]")
            await expect(row.get_by_test_id("group-member-count")).to_have_text("1")
            await screenshot(page, "02-groups")
            assert admin.get("/api/v1/groups/physics").json()["members"] == ["erin"]

            # Shared resources: labgate's machine with Erin's two sessions, checked now.
            await open_admin_pane(page, "shared-resources")
            pane = page.get_by_test_id("shared-resources-pane")
            row = pane.locator("[data-testid=shared-resource-row][data-resource=local]")
            await expect(row.get_by_test_id("shared-resource-sessions")).to_contain_text(
                "2 of 1 user"
            )
            await row.get_by_test_id("shared-resource-check").click()
            await expect(row.get_by_test_id("shared-resource-checked")).to_contain_text("reachable")
            await expect(row.get_by_test_id("resource-status")).to_contain_text("Connected")
            await screenshot(page, "03-shared-resources")

            # App templates: the refused file and why; TensorBoard switched off.
            await open_admin_pane(page, "app-templates")
            pane = page.get_by_test_id("app-templates-pane")
            refused = pane.locator("[data-testid=app-template-refused][data-file='broken.toml']")
            await expect(refused).to_contain_text("{nothing} is not a placeholder")
            board = pane.locator("[data-testid=app-template-row][data-template=tensorboard]")
            await expect(board.get_by_test_id("app-template-source")).to_contain_text("plug-in")
            await board.get_by_test_id("app-template-toggle").click()
            await expect(board.get_by_test_id("app-template-state")).to_have_text("Off")
            await expect(board).to_contain_text("by admin")
            await screenshot(page, "04-app-templates")
            await page.get_by_test_id("pane-menu").click()
            await page.get_by_test_id("pane-menu-launcher").click()
            launcher = page.get_by_test_id("launcher-pane")
            await expect(launcher.get_by_test_id("launch-card-jupyterlab")).to_be_visible()
            await expect(launcher.get_by_test_id("launch-card-tensorboard")).to_have_count(0)
            await screenshot(page, "05-launcher-without-tensorboard")
            refusal = erin.post(
                "/api/v1/sessions",
                json={"template": "tensorboard", "resource_id": local, "form": {"logdir": "~"}},
            )
            assert refusal.status_code == 422, refusal.text
            assert refusal.json()["error"]["details"][0]["field"] == "body.template"

            # All sessions: Erin's running ones; one stopped; joining is explained.
            await open_admin_pane(page, "all-sessions")
            pane = page.get_by_test_id("all-sessions-pane")
            await pane.get_by_test_id("all-sessions-user").fill("erin")
            await pane.get_by_test_id("all-sessions-state").select_option("running")
            await pane.get_by_test_id("all-sessions-apply").click()
            rows = pane.get_by_test_id("all-session-row")
            await expect(rows).to_have_count(2)
            await pane.get_by_test_id("all-sessions-user").fill("nobody")
            await pane.get_by_test_id("all-sessions-apply").click()
            await expect(pane.get_by_test_id("all-sessions-none")).to_be_visible()
            await pane.get_by_test_id("all-sessions-user").fill("erin")
            await pane.get_by_test_id("all-sessions-apply").click()
            await expect(rows).to_have_count(2)
            target = pane.locator(f"[data-testid=all-session-row][data-session='{first['id']}']")
            await target.get_by_test_id("all-session-join").click()
            await expect(target.get_by_test_id("all-session-error")).to_contain_text(
                "support group"
            )
            await screenshot(page, "06-all-sessions-join-refused")
            await target.get_by_test_id("all-session-stop").click()
            await expect(target.get_by_test_id("session-state")).to_have_attribute(
                "data-state", "stopping"
            )
            await screenshot(page, "07-all-sessions-stopping")
            wait_for(erin, first["id"], "stopped")
            await pane.get_by_test_id("all-sessions-apply").click()
            await expect(rows).to_have_count(1)

            # The audit log: the group's creation, found by its kind and the last hour.
            await open_admin_pane(page, "audit-log")
            pane = page.get_by_test_id("audit-log-pane")
            await expect(pane.get_by_test_id("audit-row").first).to_be_visible()
            await pane.get_by_test_id("audit-event").fill("group_created")
            await pane.get_by_test_id("audit-apply").click()
            await expect(pane.get_by_test_id("audit-row")).to_have_count(1)
            await expect(pane.get_by_test_id("audit-row")).to_contain_text("physics")
            await pane.get_by_test_id("audit-event").fill("app_template_disabled")
            await pane.get_by_test_id("audit-since").fill("2020-01-01T00:00")
            await pane.get_by_test_id("audit-until").fill("2020-01-02T00:00")
            await pane.get_by_test_id("audit-apply").click()
            await expect(pane.get_by_test_id("audit-none")).to_be_visible()
            await pane.get_by_test_id("audit-until").fill("")
            await pane.get_by_test_id("audit-apply").click()
            await expect(pane.get_by_test_id("audit-row")).to_contain_text("tensorboard")
            await screenshot(page, "08-audit-log")

            # Users: Erin's sessions, live and recent; no usage kept here.
            await open_admin_pane(page, "users")
            pane = page.get_by_test_id("users-pane")
            erin_row = pane.locator("[data-testid=user-row][data-username=erin]")
            await erin_row.get_by_test_id("user-activity-open").click()
            activity = pane.get_by_test_id("user-activity")
            await expect(
                activity.get_by_test_id("user-live-sessions").get_by_test_id("user-session")
            ).to_have_count(1)
            await expect(activity.get_by_test_id("user-recent-sessions")).to_contain_text("Fit A")
            # Her role's quota (the settings' defaults): her one live session counted.
            await expect(activity.get_by_test_id("user-usage")).to_contain_text(
                re.compile(r"Role user.*Sessions: 1 of \d+")
            )
            await screenshot(page, "09-user-activity")
            await page.emulate_media(color_scheme="dark")
            await open_admin_pane(page, "all-sessions")
            await screenshot(page, "10-all-sessions-dark")
        admin.put("/api/v1/admin/app-templates/tensorboard", json={"enabled": True})
        erin.post(f"/api/v1/sessions/{second['id']}/stop")
    admin.close()
