"""A terminal pane as a browser test opens and reads it: from ``local``'s row in the
Resources pane, and the lines of its xterm.js buffer."""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from tests.support.files_ui import resource_row

# The whole buffer of a pane's terminal (scrollback included), one string per line.
READ_BUFFER = """el => {
  const buffer = el.xterm.buffer.active
  const lines = []
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true))
  return lines
}"""


async def lines_of(pane: Locator) -> list[str]:
    """What the terminal pane ``pane`` holds, one string per line."""
    lines: list[str] = await pane.get_by_test_id("terminal-screen").evaluate(READ_BUFFER)
    return lines


async def open_local_terminal(page: Page) -> Locator:
    """The Resources pane's Terminal button of ``local``; the new terminal's tab."""
    row = await resource_row(page, "local")
    await row.get_by_test_id("resource-terminal").click()
    pane = page.locator(".dv-active-group [data-testid=terminal-pane]")
    await expect(pane).to_have_attribute("data-process-id", re.compile("."), timeout=30_000)
    return page.locator(".dv-tab", has_text="Terminal: local").last
