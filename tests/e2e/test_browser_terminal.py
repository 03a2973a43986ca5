"""Terminal panes in a real browser, against a real server and a real sshd: a shell that
answers, vim and htop with their keys and mouse, resize, paste, colours and wide
characters, the font size preference, a reload that finds the same shell with its
scrollback, a killed SSH connection and a server restart that the pane rides out by
itself, a resource that needs a password first, and the Terminals pane.

Screenshots go to test-results/ to be looked at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS, NotEventually, eventually
from tests.support.labgate_api import Browser, server_env
from tests.support.server import RunningServer
from tests.support.sshd import SshServer
from tests.support.terminal_ui import lines_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for terminals"
SECRET = "the server secret of the terminal tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the module, which a test may stop and start again (the same data,
    the same secret, so it reconnects by itself with the remembered key)."""
    with daemon_runtime_dir() as runtime_dir:
        env = server_env(ADMIN_PASSWORD, runtime_dir, LABGATE_SECRET_KEY=SECRET)
        running = RunningServer(tmp_path_factory.mktemp("labgate"), env=env)
        try:
            running.start()
            running.wait_until_healthy()
            yield running
        finally:
            running.kill()


@pytest.fixture(scope="module")
def key_box(server: RunningServer, sshd: SshServer) -> int:
    """A resource logging in with a key labgate remembers: connects without questions."""
    return Browser(server, "admin", ADMIN_PASSWORD).add_key_resource("keybox", sshd)


def shot(name: str) -> str:
    return str(results_dir() / f"terminal-{name}.png")


def home_file(prefix: str) -> str:
    """A fresh file name for the test account's home (the test removes it)."""
    return f"{prefix}-{secrets.token_hex(4)}.txt"


async def new_page(context: BrowserContext, server: RunningServer) -> Page:
    """A logged-in page on the default layout (what an earlier test left is reset)."""
    api = Browser(server, "admin", ADMIN_PASSWORD)
    reset = api.http.patch(
        "/api/v1/preferences",
        json={"preferences": {"workspace.layout": None}},
        headers={"X-CSRF-Token": api.csrf},
    )
    assert reset.status_code == 200, reset.text
    page = await context.new_page()
    await page.goto(server.url)
    await page.get_by_test_id("login-username").fill("admin")
    await page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("welcome-open-resources")).to_be_visible()
    return page


async def open_terminal_from_resources(page: Page, name: str, *, started: bool = True) -> Locator:
    """Click a resource's Terminal button; the new pane, found by its shell's id (or, when
    not ``started`` because a login comes first, as the pane on show)."""
    if await page.locator(".dv-tab", has_text="Resources").count():
        await page.locator(".dv-tab", has_text="Resources").click()
    else:
        await page.get_by_test_id("welcome-open-resources").click()
    row = page.locator(f"[data-testid=resource-row][data-resource-name={name}]")
    tabs = page.locator(".dv-tab", has_text=f"Terminal: {name}")
    before = await tabs.count()
    await row.get_by_test_id("resource-terminal").click()
    await expect(tabs).to_have_count(before + 1)
    # The new pane is the active group's shown tab (panes in hidden tabs are not in the page).
    pane = page.locator(".dv-active-group [data-testid=terminal-pane]")
    await expect(pane).to_have_count(1)
    if not started:
        return pane
    return page.locator(f"[data-testid=terminal-pane][data-process-id='{await new_id(pane)}']")


async def new_id(pane: Locator) -> str:
    """The id of the shell a new pane started, once it has one."""
    await expect(pane).to_have_attribute("data-process-id", re.compile(r"."), timeout=30_000)
    process_id = await pane.get_attribute("data-process-id")
    assert process_id
    return process_id


async def terminal(pane: Locator, expression: str) -> Any:
    """Evaluate ``expression`` with ``t`` the pane's xterm.js Terminal."""
    return await pane.get_by_test_id("terminal-screen").evaluate(
        f"el => {{ const t = el.xterm; return {expression} }}"
    )


async def wait_for_text(pane: Locator, pattern: str) -> re.Match[str]:
    seen: list[str] = []

    async def found() -> re.Match[str] | None:
        seen[:] = await lines_of(pane)
        return re.search(pattern, "\n".join(seen), re.MULTILINE)

    try:
        match = await eventually(found, what=f"/{pattern}/ in the terminal")
    except NotEventually as failed:
        shown = "\n".join(line for line in seen if line.strip())[-1500:]
        raise AssertionError(f"{failed}; the terminal shows:\n{shown}") from None
    return match


async def run(page: Page, pane: Locator, command: str) -> None:
    """Type a command line into the pane's shell."""
    # Focus, not a click: a click is a mouse report for a program that asked for them.
    await pane.locator("textarea").focus()
    await page.keyboard.type(command)
    await page.keyboard.press("Enter")


async def attached(pane: Locator) -> None:
    await expect(pane).to_have_attribute("data-phase", "attached", timeout=PATIENCE_SECONDS * 1000)


async def record_phases(page: Page) -> None:
    """Remember every phase any terminal pane goes through (some last a moment only)."""
    await page.evaluate(
        """() => {
          window.seenPhases = []
          const note = el => window.seenPhases.push(el.getAttribute('data-phase'))
          new MutationObserver(changes => changes.forEach(c => note(c.target))).observe(
            document.body, {subtree: true, attributes: true, attributeFilter: ['data-phase']})
        }"""
    )


async def seen_phases(page: Page) -> list[str]:
    phases: list[str] = await page.evaluate("() => window.seenPhases")
    return phases


def numbers_in(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := re.fullmatch(r"n(\d+)", line.strip()))]


def assert_consecutive(numbers: list[int]) -> None:
    assert numbers, "no numbers"
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers


# -- a shell and full-screen programs ------------------------------------------------------


async def test_a_shell_with_vim_htop_mouse_paste_resize_and_reload(
    server: RunningServer, sshd: SshServer, key_box: int
) -> None:
    api = Browser(server, "admin", ADMIN_PASSWORD)
    vim_file, paste_file = home_file("lg-vim"), home_file("lg-paste")
    try:
        async with chromium() as browser:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 800}, base_url=server.url
            )
            page = await new_page(context, server)
            pane = await open_terminal_from_resources(page, "keybox")
            await attached(pane)
            await expect(page.locator(".dv-tab", has_text="Terminal: keybox")).to_be_visible()

            # The shell answers, with the terminal type and colours a full-screen program needs.
            await run(page, pane, 'echo "hello-$((6*7)) $TERM $COLORTERM"')
            await wait_for_text(pane, r"hello-42 xterm-256color truecolor")
            await run(
                page,
                pane,
                r"printf '\e[31mred\e[0m \e[38;5;208mpalette\e[0m "
                r"\e[38;2;10;200;120mtrue\e[0m 日本語|\n'",
            )
            await wait_for_text(pane, r"^red palette true 日本語\|$")
            colours = await terminal(
                pane,
                """(() => {
                  const b = t.buffer.active
                  for (let y = b.length - 1; y >= 0; y--) {
                    const line = b.getLine(y)
                    if (!line.translateToString(true).startsWith('red palette')) continue
                    const cell = x => line.getCell(x)
                    return {red: [cell(0).isFgPalette(), cell(0).getFgColor()],
                            palette: [cell(4).isFgPalette(), cell(4).getFgColor()],
                            rgb: [cell(12).isFgRGB(), cell(12).getFgColor()],
                            wide: cell(17).getWidth(), after: cell(23).getChars()}
                  }
                })()""",
            )
            assert colours == {
                "red": [True, 1],
                "palette": [True, 208],
                "rgb": [True, (10 << 16) | (200 << 8) | 120],
                "wide": 2,  # 日 takes two cells (Unicode 11 widths)
                "after": "|",
            }
            await page.screenshot(path=shot("01-shell-light"))

            # Ctrl and Alt combinations reach the shell's line editor: Ctrl+A to the start
            # of the line, Alt+B one word back.
            await pane.locator("textarea").focus()
            await page.keyboard.type("cho one two")
            await page.keyboard.press("Control+a")
            await page.keyboard.type("e")
            await page.keyboard.press("End")
            await page.keyboard.press("Alt+b")
            await page.keyboard.type("X")
            await page.keyboard.press("Enter")
            await wait_for_text(pane, r"^one Xtwo$")

            # vim: insert text, write and quit; the file has it.
            await run(page, pane, f"vim -u NONE ~/{vim_file}")
            await wait_for_text(pane, re.escape(vim_file))
            await page.keyboard.press("i")
            await page.keyboard.type("written in vim")
            await page.keyboard.press("Escape")
            await page.keyboard.type(":wq")
            await page.keyboard.press("Enter")
            content = await eventually(
                lambda: file_text(api, key_box, vim_file), what="vim's file on the resource"
            )
            assert content == "written in vim\n"

            # The mouse reaches programs that ask for it (what vim and htop use).
            await run(page, pane, r"printf '\e[?1000h'; cat -v")
            await eventually(
                lambda: terminal(pane, "t.modes.mouseTrackingMode !== 'none'"),
                what="mouse reports asked for",
            )
            box = await pane.get_by_test_id("terminal-screen").bounding_box()
            assert box is not None
            await page.mouse.click(box["x"] + 100, box["y"] + 100)
            await wait_for_text(pane, r"\^\[\[M")
            await page.keyboard.press("Control+c")
            await run(page, pane, r"printf '\e[?1000l'")

            # htop: its header, then F10 leaves it.
            await run(page, pane, "htop")
            await wait_for_text(pane, r"Load average")
            await page.screenshot(path=shot("02-htop"))
            await page.keyboard.press("F10")
            await run(page, pane, "echo after-$((40+2))-htop")
            await wait_for_text(pane, r"^after-42-htop$")

            # Pasting several lines: each reaches the program as typed.
            await run(page, pane, f"cat > ~/{paste_file}")
            # cat runs once the shell has turned bracketed paste off for it.
            await eventually(
                lambda: terminal(pane, "!t.modes.bracketedPasteMode"),
                what="the shell's paste mode off",
            )
            await pane.locator("textarea").evaluate(
                """area => {
                  const data = new DataTransfer()
                  data.setData('text/plain', 'first pasted line\\nsecond pasted line\\n')
                  const init = {clipboardData: data, bubbles: true, cancelable: true}
                  area.dispatchEvent(new ClipboardEvent('paste', init))
                }"""
            )
            await wait_for_text(pane, r"second pasted line")
            await page.keyboard.press("Control+d")
            content = await eventually(
                lambda: file_text(api, key_box, paste_file), what="the pasted file"
            )
            assert content == "first pasted line\nsecond pasted line\n"

            # Copying the selection with Ctrl+Shift+C.
            await context.grant_permissions(["clipboard-read", "clipboard-write"])
            await run(page, pane, "echo copy-me-please")
            await wait_for_text(pane, r"^copy-me-please$")
            await terminal(
                pane,
                """(() => {
                  const b = t.buffer.active
                  for (let y = b.length - 1; y >= 0; y--) {
                    const text = b.getLine(y).translateToString(true)
                    if (text === 'copy-me-please') t.select(0, y, 14)
                  }
                })()""",
            )
            await page.keyboard.press("Control+Shift+C")
            copied = await eventually(
                lambda: page.evaluate("() => navigator.clipboard.readText()"),
                what="the copied text",
            )
            assert copied == "copy-me-please"

            # Resizing the pane resizes the pty.
            await run(page, pane, "stty size")
            first = await wait_for_text(pane, r"^(\d+) (\d+)$")
            size = [int(first.group(1)), int(first.group(2))]
            assert size == await terminal(pane, "[t.rows, t.cols]")
            await page.set_viewport_size({"width": 900, "height": 600})
            await eventually(
                lambda: smaller(pane, size), what="the terminal fitting the smaller pane"
            )
            rows, cols = await terminal(pane, "[t.rows, t.cols]")
            await run(page, pane, "stty size")
            await wait_for_text(pane, rf"^{rows} {cols}$")
            await page.set_viewport_size({"width": 1280, "height": 800})

            # The font size preference applies at once.
            await page.get_by_test_id("user-menu").click()
            await page.get_by_test_id("user-menu-preferences").click()
            await page.get_by_test_id("pref-terminal-font-size").fill("17")
            await page.get_by_test_id("pref-save").click()
            await expect(page.get_by_test_id("preferences-dialog")).to_be_hidden()
            await eventually(
                lambda: terminal(pane, "t.options.fontSize === 17"), what="font size 17"
            )

            # A reload finds the same shell, its scrollback replayed.
            process_id = await pane.get_attribute("data-process-id")
            assert process_id
            await run(page, pane, "echo before-$((1+1))-reload")
            await wait_for_text(pane, r"^before-2-reload$")
            await page.wait_for_timeout(
                1000
            )  # the layout is saved (debounced) with the pane's params
            await page.reload()
            pane = page.locator(f"[data-testid=terminal-pane][data-process-id='{process_id}']")
            await attached(pane)
            await wait_for_text(pane, r"^before-2-reload$")
            await wait_for_text(pane, r"^hello-42 xterm-256color truecolor$")  # the first line
            await run(page, pane, "echo still-$((2+1))-here")
            await wait_for_text(pane, r"^still-3-here$")
            await page.screenshot(path=shot("03-after-reload"))

            # A terminal restored in a background tab attaches when it is first shown.
            second = await open_terminal_from_resources(page, "keybox")
            await attached(second)
            await page.wait_for_timeout(1000)  # the layout is saved
            await page.reload()
            await expect(page.get_by_test_id("terminal-pane")).to_have_count(1)  # the shown one
            await page.locator(".dv-tab", has_text="Terminal: keybox").first.click()
            await attached(pane)
            await wait_for_text(pane, r"^still-3-here$")
            rows = await terminal(pane, "t.rows")
            assert rows > 20, rows  # measured in the pane it is shown in

            # Splitting a terminal opens a new shell beside it, not a second view of this one.
            await page.get_by_test_id("split-right").first.click()
            panes = page.get_by_test_id("terminal-pane")
            await expect(panes).to_have_count(2)
            split = panes.nth(1)
            await attached(split)
            assert await split.get_attribute("data-process-id") not in (None, process_id)
            await run(page, split, "echo split-$((3+4))")
            await wait_for_text(split, r"^split-7$")
            await page.screenshot(path=shot("03b-split"))

            # The dark theme: the terminal follows.
            await page.emulate_media(color_scheme="dark")
            await eventually(
                lambda: terminal(pane, "t.options.theme.background === '#171b1f'"),
                what="the dark terminal background",
            )
            await run(
                page,
                pane,
                r"printf '\e[31mred \e[32mgreen \e[33myellow \e[34mblue \e[35mmagenta "
                r"\e[36mcyan\e[0m\n'; ls -la --color=always /",
            )
            await wait_for_text(pane, r"magenta cyan")
            await page.screenshot(path=shot("04-shell-dark"))
            await context.close()
    finally:
        for name in (vim_file, paste_file):
            with contextlib.suppress(OSError):
                (sshd.user.home / name).unlink()


async def file_text(api: Browser, rid: int, name: str) -> str | None:
    answer = await asyncio.to_thread(
        api.get, f"/api/v1/resources/{rid}/files/content", params={"path": f"~/{name}"}
    )
    return answer.text if answer.status_code == 200 and answer.text else None


async def smaller(pane: Locator, size: list[int]) -> bool:
    rows, cols = await terminal(pane, "[t.rows, t.cols]")
    return bool(rows < size[0] and cols < size[1])


# -- surviving a dropped connection and a server restart -----------------------------------


async def test_a_counter_rides_out_a_dropped_connection_and_a_server_restart(
    server: RunningServer, sshd: SshServer, key_box: int
) -> None:
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1100, "height": 760}, base_url=server.url
        )
        page = await new_page(context, server)
        pane = await open_terminal_from_resources(page, "keybox")
        await attached(pane)
        await record_phases(page)
        await run(page, pane, "clear; for i in $(seq 1 100000); do echo n$i; sleep 0.05; done")
        await wait_for_text(pane, r"^n20$")

        # The network fails: every sshd process of the connection is killed.
        for pid in sshd.session_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await eventually(lambda: reconnected(page), what="reconnecting, then attached again")
        seen = max(numbers_in(await lines_of(pane)))
        await wait_for_text(pane, rf"^n{seen + 20}$")
        numbers = numbers_in(await lines_of(pane))
        assert numbers[0] == 1
        assert_consecutive(numbers)

        # The server restarts: the pane re-attaches by itself and replays what it missed.
        await record_phases(page)
        assert server.stop() == 0
        await expect(pane.get_by_test_id("terminal-banner")).to_have_text("Reconnecting…")
        await page.screenshot(path=shot("05-reconnecting"))
        missed_from = max(numbers_in(await lines_of(pane)))
        await asyncio.sleep(1)  # the counter runs on meanwhile
        server.start()
        server.wait_until_healthy()
        await wait_for_text(pane, rf"^n{missed_from + 60}$")
        await expect(pane).to_have_attribute("data-phase", "attached")
        numbers = numbers_in(await lines_of(pane))
        assert numbers[0] == 1
        assert_consecutive(numbers)
        assert "reconnecting" in await seen_phases(page)
        await expect(pane.get_by_test_id("terminal-banner")).to_be_hidden()
        await page.keyboard.press("Control+c")
        await context.close()


async def reconnected(page: Page) -> bool:
    phases = await seen_phases(page)
    return "reconnecting" in phases and phases[-1] == "attached"


# -- a resource that needs a password, the exit and the Terminals pane ---------------------


def listed_terminal(terminals: Locator, rid: int, process_id: str | None) -> Locator:
    return terminals.locator(
        f"[data-testid=terminal-row][data-resource-id='{rid}'][data-process-id='{process_id}']"
    )


async def test_log_in_first_exit_and_the_terminals_pane(
    server: RunningServer, sshd: SshServer, key_box: int
) -> None:
    api = Browser(server, "admin", ADMIN_PASSWORD)
    rid = api.add_resource("passbox", sshd)  # a password, typed when asked
    api.trust_host_key(rid, sshd)
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url
        )
        page = await new_page(context, server)
        pane = await open_terminal_from_resources(page, "passbox", started=False)
        await expect(pane).to_have_attribute("data-phase", "login_required")
        await page.screenshot(path=shot("06-login-required"))
        await pane.get_by_test_id("login-required-connect").click()
        connect = page.get_by_test_id("connect-dialog")
        await connect.get_by_test_id("connect-password").fill(sshd.user.password)
        await connect.get_by_test_id("connect-answer").click()
        await expect(connect).to_be_hidden(timeout=30_000)
        await attached(pane)
        # The only pane on passbox (it keeps being that pane when its shell is replaced).
        pane = page.locator(f"[data-testid=terminal-pane][data-resource-id='{rid}']")
        await run(page, pane, "echo logged-$((3*3))-in")
        await wait_for_text(pane, r"^logged-9-in$")

        # The shell exits: the pane says how, and starts a new one on request.
        first_id = await pane.get_attribute("data-process-id")
        await run(page, pane, "exit 5")
        await expect(pane.get_by_test_id("terminal-exited")).to_contain_text(
            "[exited with status 5]"
        )
        await wait_for_text(pane, r"\[exited with status 5\]")
        await page.screenshot(path=shot("07-exited"))
        await page.emulate_media(color_scheme="dark")
        await page.wait_for_timeout(400)  # the controls' colour transitions end
        await page.screenshot(path=shot("07b-exited-dark"))
        await page.emulate_media(color_scheme="light")
        await pane.get_by_test_id("terminal-new-shell").click()
        await attached(pane)
        await expect(pane).not_to_have_attribute("data-process-id", first_id or "")
        await run(page, pane, "echo new-$((2*5))-shell")
        await wait_for_text(pane, r"^new-10-shell$")
        second_id = await pane.get_attribute("data-process-id")

        # The Terminals pane lists both resources' terminals; Open focuses the pane
        # already showing one; End hangs it up and forgets it.
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-terminals").click()
        terminals = page.get_by_test_id("terminals-pane")
        ours = listed_terminal(terminals, rid, second_id)
        await expect(ours).to_be_visible()
        # (Rows are told apart by resource too: keybox is the same account on the same
        # host, one daemon, so once connected it lists the same shells.)
        await expect(ours.get_by_test_id("terminal-state")).to_have_text("Running")
        await expect(
            terminals.locator(f"[data-testid=terminal-row][data-process-id='{first_id}']")
        ).to_have_count(0)  # the exited one was forgotten with "Start a new shell"
        await page.screenshot(path=shot("08-terminals-pane"))
        await page.emulate_media(color_scheme="dark")
        await page.wait_for_timeout(400)  # the controls' colour transitions end
        await page.screenshot(path=shot("08b-terminals-pane-dark"))
        await page.emulate_media(color_scheme="light")
        await ours.get_by_test_id("terminal-open").click()
        await expect(page.get_by_test_id("terminal-pane")).to_have_count(1)
        await expect(pane).to_be_visible()

        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-terminals").click()  # another Terminals pane
        terminals = page.get_by_test_id("terminals-pane").last
        ours = listed_terminal(terminals, rid, second_id)
        await ours.get_by_test_id("terminal-end").click()
        await page.get_by_test_id("terminal-end-dialog-confirm").click()
        await expect(page.get_by_test_id("terminal-end-dialog")).to_be_hidden(timeout=30_000)
        await expect(ours).to_have_count(0)
        listed = api.get(f"/api/v1/resources/{rid}/processes").json()["processes"]
        assert second_id not in [p["id"] for p in listed]

        # The pane that showed it says it ended; after a reload, that it is gone.
        await page.locator(".dv-tab", has_text="Terminal: passbox").click()
        await expect(pane.get_by_test_id("terminal-exited")).to_contain_text(
            "[ended by signal HUP]"
        )
        await page.wait_for_timeout(1000)  # the layout is saved
        await page.reload()
        gone = page.get_by_test_id("terminal-pane")
        await expect(gone).to_have_attribute("data-phase", "gone", timeout=PATIENCE_SECONDS * 1000)
        await page.screenshot(path=shot("09-gone"))
        await gone.get_by_test_id("terminal-new-shell").click()
        await attached(gone)
        await expect(gone).not_to_have_attribute("data-process-id", second_id or "")
        await context.close()


# -- the login ends in another tab -------------------------------------------------------


async def test_a_logout_in_another_tab_ends_the_terminal_here(
    server: RunningServer, sshd: SshServer, key_box: int
) -> None:
    """The server closes this tab's sockets (4401) when the login ends elsewhere: the page
    says so and offers the login, without a request of its own and without reconnecting."""
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1100, "height": 700}, base_url=server.url
        )
        page = await new_page(context, server)
        pane = await open_terminal_from_resources(page, "keybox")
        await attached(pane)
        other = await context.new_page()
        await other.goto(server.url)
        await other.get_by_test_id("user-menu").click()
        await other.get_by_test_id("user-menu-logout").click()
        await expect(page.get_by_test_id("session-ended")).to_have_text(
            "Your login ended: log in again.", timeout=3000
        )
        await expect(page.get_by_test_id("login-form")).to_be_visible()
        await page.screenshot(path=shot("06-login-ended-elsewhere"))
        await context.close()
