"""The launch dialog in a real browser when an app fails for a reason of its own: a web
app that prints a long log, then its reason, and exits 1, and the command that serves
instead, for tests/e2e/test_browser_sessions.py and test_browser_first_hour_failures.py.
"""

from __future__ import annotations

import re

from playwright.async_api import Locator, expect

from tests.support.eventually import PATIENCE_SECONDS, eventually

# Prints a long log, then its reason, and exits 1: the reason is at the end of the log
# (unbuffered, as a terminal would have it, not before a buffer flushed at the exit).
FAILS = (
    "python3 -u -c \"import sys; [print('loading part', n) for n in range(300)];"
    " print('error: the port {port} is taken by another app', file=sys.stderr); sys.exit(1)\""
)
FAILS_BECAUSE = "is taken by another app"
SERVES = "python3 -m http.server {port} --bind 127.0.0.1"


async def scrolled_to_the_end(log: Locator) -> bool:
    """The log box is scrolled to its end (and has more than it shows)."""
    found: bool = await log.evaluate(
        "box => box.scrollHeight > box.clientHeight"
        " && box.scrollTop + box.clientHeight >= box.scrollHeight - 8"
    )
    return found


async def expect_the_failure_quoted(dialog: Locator) -> None:
    """The launch of :data:`FAILS` in ``dialog`` failed, and says so as a user needs it:
    the summary, the app's own reason quoted under it, the last step failed (none
    claims the app started), and the log open at its end, where the reason is."""
    progress = dialog.get_by_test_id("launch-progress")
    await expect(progress).to_have_attribute(
        "data-state", "failed", timeout=PATIENCE_SECONDS * 1000
    )
    summary = dialog.get_by_test_id("launch-failure-summary")
    await expect(summary).to_have_text("Web app exited with status 1.")
    await expect(dialog.get_by_test_id("launch-failure-quote")).to_contain_text(FAILS_BECAUSE)
    last = dialog.get_by_test_id("launch-step").last
    await expect(last).to_have_attribute("data-status", "failed")
    await expect(last).to_contain_text("Failed: Web app exited with status 1.")
    await expect(progress).not_to_contain_text("started")
    log = dialog.get_by_test_id("launch-log")
    await expect(log).to_have_text(re.compile(rf"{FAILS_BECAUSE}\s*$"))
    await eventually(lambda: scrolled_to_the_end(log), what="the log at its end")
