"""The Usage pane in a real browser, over a month of history written into the server's
database: every chart is drawn (canvases with pixels on them, the series the figure
has), hovering a day gives its values, a chart's CSV downloads, other ranges (7 days,
a custom one, one without history, one that ends before it starts), and the dark theme.

Screenshots go to test-results/usage-*.png to be looked at.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from playwright.async_api import Locator, Page, expect

from labgate.db.engine import Database
from labgate.db.models import ActiveDay, Experiment, SessionUsage, User
from labgate.db.types import utcnow
from labgate.usage.figures import FigureName
from tests.support.browser import chromium, results_dir
from tests.support.eventually import eventually
from tests.support.labgate_api import labgate_server
from tests.support.server import RunningServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for the usage charts"
TEMPLATES = ("jupyterlab", "tensorboard", "desktop", "webapp")
GROUPS = ("physics", "chemistry", "biology")
REASONS = ("timeout", "app_exited", "scheduler")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        yield running


def shot(name: str) -> str:
    return str(results_dir() / f"usage-{name}.png")


async def write_history(server: RunningServer) -> None:
    """A month of sessions by a dozen users, as the quota accounting would have written
    them: some over midnight, a few still running, failures, GPUs, two experiments."""
    chance = random.Random(18)
    today = utcnow().date()
    database = Database(f"sqlite+aiosqlite:///{server.data_dir / 'labgate.sqlite3'}")
    try:
        async with database.session() as db:
            users = [User(username=f"user{n:02d}") for n in range(12)]
            experiments = [Experiment(code="20261234", title="a"), Experiment(code="20261301")]
            db.add_all([*users, *experiments])
            await db.flush()
            number = 0
            for back in range(30, 0, -1):
                day = today - timedelta(days=back)
                for user in chance.sample(users, chance.randint(3, 10)):
                    db.add(ActiveDay(day=day.isoformat(), user_id=user.id))
                for _ in range(chance.randint(2, 9)):
                    number += 1
                    started = datetime.combine(day, time(chance.randint(6, 22)), UTC)
                    failed = chance.random() < 0.12
                    hours = chance.uniform(0.5, 9)
                    # Some of yesterday's still run.
                    live = back == 1 and number % 3 == 0
                    ended = None if live else started + timedelta(hours=hours)
                    db.add(
                        SessionUsage(
                            session_id=f"h{number}",
                            template=chance.choice(TEMPLATES),
                            cores=chance.choice((1, 2, 4, 8)),
                            gpus=chance.choice((0, 0, 0, 1, 2)),
                            groups=chance.sample(GROUPS, chance.randint(0, 2)),
                            experiment_id=chance.choice([None, *[e.id for e in experiments]]),
                            started_at=started,
                            ready_at=None
                            if failed
                            else started + timedelta(seconds=chance.uniform(4, 70)),
                            ended_at=ended,
                            outcome="" if live else "failed" if failed else "stopped",
                            failure_reason=chance.choice(REASONS) if failed else "",
                        )
                    )
    finally:
        await database.dispose()


async def painted(chart: Locator) -> int:
    """How many pixels of the chart's canvas are painted."""
    count: int = await chart.locator("canvas").evaluate(
        """canvas => {
            const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height)
            let painted = 0
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++
            return painted
        }"""
    )
    return count


async def log_in(page: Page, server: RunningServer) -> None:
    await page.goto(server.url)
    await page.get_by_test_id("login-username").fill("admin")
    await page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("workspace")).to_be_visible()


async def test_an_administrator_reads_the_usage_charts(server: RunningServer) -> None:
    await write_history(server)
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        page = await context.new_page()
        await page.emulate_media(color_scheme="light")
        await log_in(page, server)
        await page.get_by_test_id("admin-menu").click()
        await expect(page.get_by_test_id("admin-menu-usage")).to_be_visible()
        await page.screenshot(path=shot("00-menu"))
        await page.get_by_test_id("admin-menu-usage").click()
        pane = page.get_by_test_id("usage-pane")
        charts = pane.get_by_test_id("usage-chart")
        await expect(charts).to_have_count(len(FigureName))
        for name in FigureName:
            chart = pane.locator(f"[data-testid=usage-chart][data-figure={name.value}]")
            await expect(chart.locator("canvas")).to_have_count(1)
            await expect(chart).to_have_attribute("data-empty", "false")
            series = int(await chart.get_attribute("data-series") or 0)
            assert series >= (2 if name is not FigureName.ACTIVE_USERS else 1), name
            await expect(chart.get_by_test_id("usage-legend-value")).to_have_count(series)
            assert await painted(chart) > 2000, name
        sessions = pane.locator("[data-testid=usage-chart][data-figure=sessions]")
        assert await sessions.get_attribute("data-series") == str(len(TEMPLATES))
        await page.screenshot(path=shot("01-light"))
        await pane.evaluate("pane => pane.scrollTo(0, pane.scrollHeight)")
        await page.screenshot(path=shot("01b-light-lower"))
        await pane.evaluate("pane => pane.scrollTo(0, 0)")

        # Hovering a day: the legend gives that day's values.
        legend = sessions.get_by_test_id("usage-legend")
        await expect(legend).to_contain_text("Total")
        box = await sessions.locator(".u-over").bounding_box()
        assert box is not None
        await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        await expect(legend).to_contain_text(str(utcnow().year))
        await expect(legend).not_to_contain_text("Total")
        await sessions.screenshot(path=shot("02-hover"))

        # A chart's table as CSV: a header row, then a row per day of the range.
        async with page.expect_download() as download_info:
            await sessions.get_by_test_id("usage-csv").click()
        download = await download_info.value
        assert download.suggested_filename.startswith("labgate-sessions-")
        rows = (await download.path()).read_text().splitlines()
        assert rows[0].split(",")[0] == "day"
        assert set(rows[0].split(",")[1:]) == set(TEMPLATES)
        assert len(rows) == 1 + 30

        # The dark theme: the charts are drawn again in its colours.
        await page.emulate_media(color_scheme="dark")
        swatch = sessions.locator(".usage-chart__swatch").first
        await expect(swatch).to_have_css("background-color", "rgb(43, 181, 166)")
        await page.mouse.move(5, 5)
        await page.screenshot(path=shot("03-dark"))
        await pane.evaluate("pane => pane.scrollTo(0, pane.scrollHeight)")
        await page.screenshot(path=shot("03b-dark-lower"))

        # A narrower window: the charts follow their boxes.
        canvas = sessions.locator("canvas")
        wide = await canvas.get_attribute("width")

        async def narrowed() -> bool:
            return await canvas.get_attribute("width") != wide

        await page.set_viewport_size({"width": 900, "height": 1000})
        await eventually(narrowed, what="the chart drawn again narrower or wider")
        await pane.evaluate("pane => pane.scrollTo(0, 0)")
        await page.screenshot(path=shot("05-narrow"))

        # The last 7 days.
        await pane.get_by_test_id("usage-last-7").click()
        async with page.expect_download() as download_info:
            await sessions.get_by_test_id("usage-csv").click()
        rows = (await (await download_info.value).path()).read_text().splitlines()
        assert len(rows) == 1 + 7

        # A range without history: every chart says so.
        await pane.get_by_test_id("usage-from").fill("")
        await pane.get_by_test_id("usage-apply").click()
        await expect(pane.get_by_test_id("usage-range-error")).to_contain_text("Choose")
        await pane.get_by_test_id("usage-from").fill("2020-01-01")
        await pane.get_by_test_id("usage-to").fill("2020-01-31")
        await pane.get_by_test_id("usage-apply").click()
        await expect(pane.get_by_test_id("usage-empty")).to_have_count(len(FigureName))
        await page.screenshot(path=shot("06-empty"))

        # A range that ends before it starts: said once, above the charts.
        await pane.get_by_test_id("usage-from").fill("2020-02-01")
        await pane.get_by_test_id("usage-apply").click()
        await expect(pane.get_by_test_id("usage-range-error")).to_contain_text("ends before")
        await context.close()
