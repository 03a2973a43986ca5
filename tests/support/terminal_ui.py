"""A terminal pane as a browser test reads it: the lines of its xterm.js buffer."""

from __future__ import annotations

from playwright.async_api import Locator

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
