"""Notices in a real browser: an announcement an administrator posts in the
Announcements pane appears as a banner in a logged-in user's tab without a reload, and
goes when deleted; the bell shows a new notification live (an administrator's decision
on a request for more time), lists it, marks it read when it is opened; a session's
details show when it was created, last used, and when it would be stopped.

Screenshots go to test-results/notices-*.png to be looked at.
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

ADMIN_PASSWORD = "admin password for notices in the browser"
ERIN_PASSWORD = "erin's password for reading notices"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "LABGATE_LOCAL_RESOURCE": "everyone",
        # Every request for more time waits for an administrator.
        "LABGATE_APP_AUTO_EXTENSIONS": "0",
    }
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"notices-{name}.png")


async def test_an_announcement_reaches_a_logged_in_user_without_reload(
    server: RunningServer,
) -> None:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    with another_user(admin, "erin", ERIN_PASSWORD):
        async with chromium() as browser:
            theirs = await browser.new_context(viewport={"width": 1280, "height": 800})
            erin = await log_in(theirs, server.url, "erin", ERIN_PASSWORD)
            await expect(erin.get_by_test_id("announcement-banner")).to_have_count(0)

            mine = await browser.new_context(viewport={"width": 1280, "height": 860})
            page = await log_in(mine, server.url, "admin", ADMIN_PASSWORD)
            await page.get_by_test_id("admin-menu").click()
            await page.get_by_test_id("admin-menu-announcements").click()
            pane = page.get_by_test_id("announcements-pane")
            # Nothing to post yet: the form says what is missing.
            await pane.get_by_test_id("announcement-save").click()
            await expect(pane.get_by_text("Write what the banner says.")).to_be_visible()
            text = "labgate is upgraded on Friday from 8 to 9; save your work before."
            await pane.get_by_test_id("announcement-text-input").fill(text)
            await pane.get_by_test_id("announcement-severity").select_option("warning")
            await expect(pane.get_by_test_id("announcement-preview")).to_contain_text(text)
            await page.screenshot(path=shot("01-announcements-pane-preview"))
            await pane.get_by_test_id("announcement-save").click()
            await expect(
                pane.get_by_test_id("announcements-current").get_by_test_id("announcement-row")
            ).to_have_count(1)

            # Erin's tab shows it at once, without a reload; so does the administrator's.
            banner = erin.get_by_test_id("announcement-banner")
            await expect(banner).to_contain_text(text)
            await expect(banner).to_have_attribute("data-severity", "warning")
            await expect(page.get_by_test_id("announcement-banner")).to_contain_text(text)
            await page.screenshot(path=shot("02-announcements-pane-posted"))
            # And her bell has its notification.
            await expect(erin.get_by_test_id("notification-unread")).to_have_text("1")
            await erin.screenshot(path=shot("03-banner"))

            # Dismissed, it stays away after a reload.
            await banner.get_by_test_id("announcement-dismiss").click()
            await expect(banner).to_have_count(0)
            await erin.reload()
            await expect(erin.get_by_test_id("workspace")).to_be_visible()
            await expect(erin.get_by_test_id("notification-bell")).to_be_visible()
            await expect(erin.get_by_test_id("announcement-banner")).to_have_count(0)

            # A second one shows; deleted, its banner goes from her tab.
            posted = admin.post(
                "/api/v1/announcements",
                json={
                    "text": "The beam is down.",
                    "severity": "critical",
                    "ends_at": "2999-01-01T00:00:00Z",
                },
            )
            assert posted.status_code == 201, posted.text
            await expect(erin.get_by_test_id("announcement-banner")).to_contain_text("beam")
            await erin.screenshot(path=shot("04-banner-critical"))
            assert admin.delete(f"/api/v1/announcements/{posted.json()['id']}").status_code == 204
            await expect(erin.get_by_test_id("announcement-banner")).to_have_count(0)
    admin.close()


async def test_the_bell_shows_a_decision_live_and_marks_it_read(server: RunningServer) -> None:
    admin = Browser(server, "admin", ADMIN_PASSWORD)
    with another_user(admin, "frank", "frank's password for the bell") as frank:
        local = next(
            r["id"]
            for r in frank.get("/api/v1/resources").json()["resources"]
            if r["kind"] == "local"
        )
        session = launch(
            frank,
            local,
            "webapp",
            title="Long fit",
            form={"app_command": "python3 -m http.server {port} --bind 127.0.0.1"},
        )
        wait_for(frank, session["id"], "running")
        asked = frank.post(
            f"/api/v1/sessions/{session['id']}/extend", json={"hours": 8, "reason": "The night."}
        )
        assert asked.json()["extension"]["state"] == "pending", asked.text
        async with chromium() as browser:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await log_in(context, server.url, "frank", "frank's password for the bell")
            await expect(page.get_by_test_id("notification-unread")).to_have_count(0)

            waiting = admin.get("/api/v1/session-extensions").json()["extensions"]
            decided = admin.post(
                f"/api/v1/session-extensions/{waiting[0]['id']}",
                json={"grant": True, "hours": 3, "answer": "Three hours is what we have."},
            )
            assert decided.status_code == 200, decided.text

            # Without a reload: the count, then the list with its time.
            await expect(page.get_by_test_id("notification-unread")).to_have_text("1")
            await page.get_by_test_id("notification-bell").click()
            items = page.get_by_test_id("notification-item")
            await expect(items).to_have_count(1)
            await expect(items.first).to_contain_text("You got 3 more hours for Long fit")
            await expect(items.first).to_contain_text("just now")
            await page.screenshot(path=shot("05-bell-list"))

            # Opening it marks it read and opens the session.
            await items.first.get_by_role("button").first.click()
            await expect(page.get_by_test_id("notification-unread")).to_have_count(0)
            await expect(page.get_by_test_id("notification-list")).to_have_count(0)
            assert frank.get("/api/v1/notifications").json()["unread"] == 0

            # The session's details, in the Sessions pane.
            await page.get_by_test_id("pane-menu").click()
            await page.get_by_test_id("pane-menu-sessions").click()
            row = page.locator(f"[data-testid=session-row][data-session-id='{session['id']}']")
            await row.get_by_test_id("session-details").locator("summary").click()
            await expect(row.get_by_test_id("session-idle-deadline")).not_to_be_empty()
            await expect(row.get_by_test_id("session-end")).not_to_have_text("no limit")
            await page.screenshot(path=shot("06-session-details"))
            frank.post(f"/api/v1/sessions/{session['id']}/stop")
    admin.close()
