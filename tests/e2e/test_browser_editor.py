"""The code editor in a real browser, on a file of a real sshd resource: open a file by
path, edit and save it, provoke a save conflict and resolve it (compare, reload,
overwrite), run a script and read its output with stdout and stderr apart, stop a long
run, find a run again after closing its tab, keep the editor across a page reload, be
asked before unsaved changes are closed away, and refuse a binary file. The unsaved
marker tells the truth (undo, split copies, reload), the Run output is resized and
folded, and many tabs stay reachable through the group's tab list.

Screenshots go to test-results/editor-*.png to be looked at.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.eventually import eventually
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for the editor"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[Browser]:
    browser = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def box(api: Browser, sshd: SshServer) -> int:
    return api.add_key_resource("box", sshd)


@pytest.fixture
def workdir(api: Browser, box: int, sshd: SshServer, request: pytest.FixtureRequest) -> str:
    """A fresh folder in the test account's home for each test."""
    path = f"{sshd.user.home}/editor-{request.node.name[:40]}"
    api.post(f"/api/v1/resources/{box}/files/delete", json={"path": path, "recursive": True})
    made = api.post(f"/api/v1/resources/{box}/files/mkdir", json={"path": path})
    assert made.status_code == 201, made.text
    return path


def shot(name: str) -> str:
    return str(results_dir() / f"editor-{name}.png")


def put_file(api: Browser, rid: int, path: str, content: bytes) -> None:
    answer = api.put(
        f"/api/v1/resources/{rid}/files/content", params={"path": path}, content=content
    )
    assert answer.status_code == 200, answer.text


def read_file(api: Browser, rid: int, path: str) -> bytes:
    answer = api.get(f"/api/v1/resources/{rid}/files/content", params={"path": path})
    assert answer.status_code == 200, answer.text
    return answer.content


async def log_in(page: Page, url: str) -> None:
    await page.goto(url)
    await page.get_by_test_id("login-username").fill("admin")
    await page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("workspace")).to_be_visible()


@asynccontextmanager
async def logged_in(server: RunningServer) -> AsyncIterator[Page]:
    """A browser page of the workspace, logged in as the administrator."""
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 820})
        await log_in(page, server.url)
        yield page


async def open_path(page: Page, path: str, pane: str = "editor-pane") -> Locator:
    """Panes menu -> Open a path…: the editor pane of that file (or ``pane``)."""
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id("pane-menu-open-path").click()
    dialog = page.get_by_test_id("open-path-dialog")
    await dialog.get_by_test_id("open-path-resource").select_option(label="box")
    await dialog.get_by_test_id("open-path-input").fill(path)
    await dialog.get_by_test_id("open-path-submit").click()
    await expect(dialog).to_be_hidden()
    if pane != "editor-pane":
        shown = page.locator(f"[data-testid={pane}]:visible")
        await expect(shown).to_be_visible()
        return shown
    editor = page.locator(f"[data-testid=editor-pane][data-path='{path}']")
    await expect(editor).to_be_visible()
    return editor


async def code_of(editor: Locator) -> str:
    text: str = await editor.locator(".cm-content").evaluate(
        "el => el.cmTile.root.view.state.doc.toString()"
    )
    return text


async def type_at_end(page: Page, editor: Locator, text: str) -> None:
    await editor.locator(".cm-content").click()
    await page.keyboard.press("Control+End")
    for line_number, line in enumerate(text.split("\n")):
        if line_number:
            await page.keyboard.press("Escape")  # no completion may take the Enter
            await page.keyboard.press("Enter")
            await page.keyboard.press("Shift+Home")  # drop any auto-indentation
            await page.keyboard.press("Delete")
        await page.keyboard.type(line)


async def test_edit_save_and_resolve_conflicts(
    server: RunningServer, api: Browser, box: int, workdir: str
) -> None:
    path = f"{workdir}/hello.py"
    put_file(api, box, path, b"print('hello')\n")
    async with logged_in(server) as page:
        editor = await open_path(page, path)
        await expect(editor).to_have_attribute("data-phase", "ready")
        await expect(editor.get_by_test_id("editor-language")).to_have_text("Python")
        assert await code_of(editor) == "print('hello')\n"

        # Edit: the tab says unsaved; Ctrl+S writes the file.
        await type_at_end(page, editor, "x = 1")
        await expect(editor).to_have_attribute("data-dirty", "true")
        await expect(page.locator(".dv-tab", has_text="● hello.py")).to_be_visible()
        await page.screenshot(path=shot("01-unsaved"))
        await page.keyboard.press("Control+s")
        await expect(editor).to_have_attribute("data-dirty", "false")
        await expect(editor.get_by_test_id("editor-save-state")).to_contain_text("Saved")
        assert read_file(api, box, path) == b"print('hello')\nx = 1"

        # Someone else changes the file: saving over it stops and asks.
        put_file(api, box, path, b"print('theirs')\n")
        await type_at_end(page, editor, "\ny = 2")
        await page.keyboard.press("Control+s")
        conflict = page.get_by_test_id("editor-conflict")
        await expect(conflict).to_be_visible()
        await page.screenshot(path=shot("02-conflict"))
        assert read_file(api, box, path) == b"print('theirs')\n"

        # Compare: both versions side by side; save ours over theirs.
        await conflict.get_by_test_id("conflict-compare").click()
        compare = editor.get_by_test_id("editor-compare")
        await expect(compare).to_be_visible()
        await expect(compare).to_contain_text("theirs")
        await page.screenshot(path=shot("03-compare"))
        await compare.get_by_test_id("compare-save").click()
        await expect(editor).to_have_attribute("data-dirty", "false")
        assert read_file(api, box, path) == b"print('hello')\nx = 1\ny = 2"

        # Another change on disk; this time take the disk's version.
        put_file(api, box, path, b"print('reloaded')\n")
        await type_at_end(page, editor, "\nz = 3")
        await page.keyboard.press("Control+s")
        await conflict.get_by_test_id("conflict-reload").click()
        await expect(editor).to_have_attribute("data-dirty", "false")
        assert await code_of(editor) == "print('reloaded')\n"

        # And once more: overwrite.
        put_file(api, box, path, b"print('lost')\n")
        await type_at_end(page, editor, "w = 4")
        await page.keyboard.press("Control+s")
        await conflict.get_by_test_id("conflict-overwrite").click()
        await expect(editor).to_have_attribute("data-dirty", "false")
        assert read_file(api, box, path) == b"print('reloaded')\nw = 4"

        # The editor comes back after a reload, where the cursor was.
        await page.wait_for_timeout(1200)  # the cursor is remembered after 0.8 s of rest
        await page.reload()
        editor = page.locator(f"[data-testid=editor-pane][data-path='{path}']")
        await expect(editor).to_have_attribute("data-phase", "ready")
        await expect(editor.get_by_test_id("editor-status")).to_contain_text("Ln 2, Col 6")


async def test_unsaved_changes_are_asked_about(
    server: RunningServer, api: Browser, box: int, workdir: str
) -> None:
    path = f"{workdir}/draft.yaml"
    put_file(api, box, path, b"# Draft\n")
    async with logged_in(server) as page:
        editor = await open_path(page, path)
        await expect(editor.get_by_test_id("editor-language")).to_have_text("YAML")
        await type_at_end(page, editor, "more")
        tab = page.locator(".dv-tab", has_text="● draft.yaml")
        await tab.get_by_test_id("guarded-tab-close").click()
        unsaved = page.get_by_test_id("editor-unsaved")
        await expect(unsaved).to_be_visible()
        await page.screenshot(path=shot("04-unsaved-close"))
        await unsaved.get_by_test_id("unsaved-cancel").click()
        await expect(editor).to_be_visible()
        await tab.get_by_test_id("guarded-tab-close").click()
        await unsaved.get_by_test_id("unsaved-save").click()
        await expect(editor).to_be_hidden()
        assert read_file(api, box, path) == b"# Draft\nmore"

        # Don't save: the change is dropped, the file stays as it was.
        editor = await open_path(page, path)
        await type_at_end(page, editor, " and more")
        await (
            page.locator(".dv-tab", has_text="● draft.yaml")
            .get_by_test_id("guarded-tab-close")
            .click()
        )
        await unsaved.get_by_test_id("unsaved-discard").click()
        await expect(editor).to_be_hidden()
        assert read_file(api, box, path) == b"# Draft\nmore"


async def test_binary_and_missing_files(
    server: RunningServer, api: Browser, box: int, workdir: str
) -> None:
    # A name the editor takes (a .bin opens the download notice, never the editor).
    put_file(api, box, f"{workdir}/data.conf", bytes(range(256)) * 16)
    async with logged_in(server) as page:
        binary = await open_path(page, f"{workdir}/data.conf")
        await expect(binary.get_by_test_id("editor-binary")).to_contain_text("not a text file")
        await page.screenshot(path=shot("05-binary"))

        # A new name offers to create it; saving creates the file.
        fresh = await open_path(page, f"{workdir}/new.sh")
        await expect(fresh.get_by_test_id("editor-missing")).to_contain_text("does not exist")
        await fresh.get_by_test_id("editor-create").click()
        await expect(fresh).to_have_attribute("data-phase", "ready")
        await type_at_end(page, fresh, "echo new")
        await page.keyboard.press("Control+s")
        await expect(fresh).to_have_attribute("data-dirty", "false")
        assert read_file(api, box, f"{workdir}/new.sh") == b"echo new"


async def test_run_a_script_stop_a_long_one_and_find_a_run_again(
    server: RunningServer, api: Browser, box: int, workdir: str
) -> None:
    script = f"{workdir}/fit.py"
    put_file(
        api,
        box,
        script,
        b"import os, sys\nprint('cwd', os.getcwd())\nprint('oops', file=sys.stderr)\nsys.exit(3)\n",
    )
    looping = f"{workdir}/loop.py"
    put_file(
        api,
        box,
        looping,
        b"import time\ni = 0\nwhile True:\n    print('tick', i, flush=True)\n    i += 1\n"
        b"    time.sleep(0.1)\n",
    )
    async with logged_in(server) as page:
        editor = await open_path(page, script)
        await editor.get_by_test_id("editor-run").click()
        output = editor.get_by_test_id("run-output")
        await expect(output).to_have_attribute("data-phase", "exited", timeout=30_000)
        body = output.get_by_test_id("run-body")
        await expect(body.locator("[data-stream=stdout]")).to_contain_text(f"cwd {workdir}")
        await expect(body.locator("[data-stream=stderr]")).to_contain_text("oops")
        await expect(output.get_by_test_id("run-status")).to_contain_text("exit status 3")
        await page.screenshot(path=shot("06-run"))

        # Edit the command for .py files: the user's own command is used and remembered.
        await editor.get_by_test_id("editor-run-command").click()
        dialog = page.get_by_test_id("run-command-dialog")
        await dialog.get_by_test_id("run-command-input").fill("python3 -u %file --fast")
        await dialog.get_by_test_id("run-command-save").click()
        await expect(dialog).to_be_hidden()
        prefs = api.get("/api/v1/preferences").json()["preferences"]
        assert prefs["editor.run_commands"] == {"py": "python3 -u %file --fast"}
        await editor.get_by_test_id("editor-run").click()
        await expect(output).to_have_attribute("data-phase", "exited", timeout=30_000)
        await expect(output).to_contain_text("--fast")

        # A long run: Stop ends it.
        loop_editor = await open_path(page, looping)
        await loop_editor.get_by_test_id("editor-run").click()
        loop_output = loop_editor.get_by_test_id("run-output")
        await expect(loop_output.get_by_test_id("run-body")).to_contain_text(
            "tick 3", timeout=30_000
        )
        await loop_editor.get_by_test_id("editor-stop").click()
        await expect(loop_output).to_have_attribute("data-phase", "exited", timeout=30_000)
        await expect(loop_output.get_by_test_id("run-status")).to_contain_text(
            re.compile("Stopped|exit status")
        )

        # Start it again, close the tab: the run goes on; opening the file shows it.
        await loop_editor.get_by_test_id("editor-run").click()
        await expect(loop_output.get_by_test_id("run-body")).to_contain_text(
            "tick 2", timeout=30_000
        )
        await (
            page.locator(".dv-tab", has_text="loop.py").get_by_test_id("guarded-tab-close").click()
        )
        await expect(loop_editor).to_be_hidden()
        await page.wait_for_timeout(500)  # the run goes on while no tab shows it
        reopened = await open_path(page, looping)
        reopened_output = reopened.get_by_test_id("run-output")
        await expect(reopened_output).to_have_attribute("data-phase", "running", timeout=30_000)
        await expect(reopened_output.get_by_test_id("run-body")).to_contain_text("tick 0")
        await expect(reopened_output.get_by_test_id("run-body")).to_contain_text(
            "tick 8", timeout=30_000
        )
        await page.screenshot(path=shot("07-run-again"))
        await reopened.get_by_test_id("editor-stop").click()
        await expect(reopened_output).to_have_attribute("data-phase", "exited", timeout=30_000)


def tab(page: Page, title: str) -> Locator:
    return page.locator(".dv-tab", has_text=title)


def fresh_workspace(api: Browser) -> None:
    """The default layout (one group, the welcome pane) instead of the last test's."""
    reset = api.patch("/api/v1/preferences", json={"preferences": {"workspace.layout": None}})
    assert reset.status_code == 200, reset.text


async def test_the_unsaved_marker_tells_the_truth(
    server: RunningServer, api: Browser, box: int, workdir: str
) -> None:
    path = f"{workdir}/marker.py"
    put_file(api, box, path, b"a = 1\n")
    fresh_workspace(api)
    async with logged_in(server) as page:
        editor = await open_path(page, path)
        await expect(editor).to_have_attribute("data-phase", "ready")
        marker_tab = tab(page, "marker.py — box")
        await expect(marker_tab).to_have_count(1)
        await expect(marker_tab).not_to_contain_text("●")

        # Type, then undo back to the file's text: the marker goes with it.
        await type_at_end(page, editor, "b = 2")
        await expect(editor).to_have_attribute("data-dirty", "true")
        await expect(marker_tab).to_contain_text("● marker.py")
        await page.keyboard.press("Control+z")
        await expect(editor).to_have_attribute("data-dirty", "false")
        await expect(marker_tab).not_to_contain_text("●")
        assert await code_of(editor) == "a = 1\n"

        # Type again and split: the copy shows the same unsaved text, marked too.
        await type_at_end(page, editor, "c = 3")
        await page.get_by_test_id("split-right").first.click()
        copies = page.locator(f"[data-testid=editor-pane][data-path='{path}']")
        await expect(copies).to_have_count(2)
        first, second = copies.nth(0), copies.nth(1)
        await expect(second).to_have_attribute("data-phase", "ready")
        assert await code_of(second) == "a = 1\nc = 3"
        await expect(marker_tab).to_have_count(2)
        for index in range(2):
            await expect(marker_tab.nth(index)).to_contain_text("●")
        await page.screenshot(path=shot("08-split-unsaved"))

        # Edits in one copy show in the other; saving in one makes both clean.
        await type_at_end(page, second, " # from the copy")
        assert await code_of(first) == "a = 1\nc = 3 # from the copy"
        await page.keyboard.press("Control+s")
        for copy in (first, second):
            await expect(copy).to_have_attribute("data-dirty", "false")
        for index in range(2):
            await expect(marker_tab.nth(index)).not_to_contain_text("●")
        assert read_file(api, box, path) == b"a = 1\nc = 3 # from the copy"
        await page.screenshot(path=shot("09-split-saved"))

        # Ctrl+S on the clean text writes nothing (a write would meet the change made
        # on disk meanwhile and stop at a conflict).
        put_file(api, box, path, b"theirs = 1\n")
        await first.locator(".cm-content").click()
        await page.keyboard.press("Control+s")
        await expect(first.get_by_test_id("editor-save-state")).to_contain_text("Saved")
        await page.wait_for_timeout(500)  # time for a write that must not happen
        await expect(page.get_by_test_id("editor-conflict")).to_have_count(0)
        assert read_file(api, box, path) == b"theirs = 1\n"

        # A reload restores both copies, clean, with no marker in any tab.
        await page.wait_for_timeout(1000)  # the layout is saved 0.6 s after a change
        await page.reload()
        await expect(copies).to_have_count(2)
        for index in range(2):
            await expect(copies.nth(index)).to_have_attribute("data-phase", "ready")
            await expect(copies.nth(index)).to_have_attribute("data-dirty", "false")
        await expect(marker_tab).to_have_count(2)
        await expect(page.locator(".dv-tab", has_text="●")).to_have_count(0)

        # Closing one of two copies with unsaved text loses nothing, so it does not ask.
        await type_at_end(page, copies.nth(0), "\nd = 4")
        await marker_tab.nth(1).get_by_test_id("guarded-tab-close").click()
        await expect(copies).to_have_count(1)
        await expect(page.get_by_test_id("editor-unsaved")).to_have_count(0)
        await expect(copies.first).to_have_attribute("data-dirty", "true")


async def output_height(page: Page) -> float:
    box = await page.get_by_test_id("run-panel-body").bounding_box()
    assert box is not None
    return box["height"]


async def stored_preference(api: Browser, key: str, expected: object) -> str:
    """Waits until the server holds ``expected`` for preference ``key``."""

    async def stored() -> str:
        value = api.get("/api/v1/preferences").json()["preferences"][key]
        assert value == expected, value
        return f"{key} = {value!r}"  # true even when the value is false

    return await eventually(stored, what=f"{key} stored as {expected!r}")


async def test_the_run_output_is_resized_and_folded(
    server: RunningServer, api: Browser, box: int, workdir: str
) -> None:
    script = f"{workdir}/quick.py"
    put_file(api, box, script, b"for i in range(40):\n    print('line', i)\n")
    fresh_workspace(api)
    async with logged_in(server) as page:
        editor = await open_path(page, script)
        await editor.get_by_test_id("editor-run").click()
        output = editor.get_by_test_id("run-output")
        await expect(output).to_have_attribute("data-phase", "exited", timeout=30_000)
        await expect(output.get_by_test_id("run-body")).to_contain_text("line 39")
        start = await output_height(page)
        await page.screenshot(path=shot("10-output-expanded"))

        # The keyboard on the handle: three steps up, the output grows by 48 pixels.
        handle = editor.get_by_test_id("run-resize")
        await handle.focus()
        for _ in range(3):
            await page.keyboard.press("ArrowUp")
        assert await output_height(page) == start + 48
        await stored_preference(api, "editor.output_height", int(start + 48))

        # Dragging the handle up by 120 pixels.
        grip = await handle.bounding_box()
        assert grip is not None
        x, y = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2
        await page.mouse.move(x, y)
        await page.mouse.down()
        await page.mouse.move(x, y - 60)
        await page.mouse.move(x, y - 120)
        await page.mouse.up()
        resized = await output_height(page)
        assert resized == start + 48 + 120
        await stored_preference(api, "editor.output_height", int(resized))
        await page.screenshot(path=shot("11-output-resized"))

        # Fold to one line: the state is still there; the output is not.
        await output.get_by_test_id("run-toggle").click()
        await expect(output.get_by_test_id("run-body")).to_be_hidden()
        await expect(output.get_by_test_id("run-status")).to_be_visible()
        await expect(output.get_by_test_id("run-status")).to_contain_text("exit status 0")
        await expect(handle).to_have_count(0)
        assert await output_height(page) < 50  # one line
        await stored_preference(api, "editor.output_collapsed", True)
        await page.screenshot(path=shot("12-output-folded"))

        # It stays folded after a reload, and opens again at the height chosen.
        await page.reload()
        editor = page.locator(f"[data-testid=editor-pane][data-path='{script}']")
        output = editor.get_by_test_id("run-output")
        await expect(output).to_have_attribute("data-phase", "exited", timeout=30_000)
        await expect(output.get_by_test_id("run-body")).to_be_hidden()
        await output.get_by_test_id("run-toggle").click()
        await expect(output.get_by_test_id("run-body")).to_be_visible()
        assert await output_height(page) == resized
        await stored_preference(api, "editor.output_collapsed", False)

    reset = api.patch("/api/v1/preferences", json={"preferences": {"editor.output_height": None}})
    assert reset.status_code == 200, reset.text


async def test_many_tabs_stay_reachable(
    server: RunningServer, api: Browser, box: int, workdir: str
) -> None:
    names = [f"analysis_step_{i:02d}.py" for i in range(14)]
    for name in names:
        put_file(api, box, f"{workdir}/{name}", f"step = {name[-5:-3]}\n".encode())
    put_file(api, box, f"{workdir}/table.csv", b"a,b\n1,2\n")
    fresh_workspace(api)
    async with logged_in(server) as page:
        for name in names:
            await open_path(page, f"{workdir}/{name}")
        # A viewer's tab names the resource, as the editor's do.
        await open_path(page, f"{workdir}/table.csv", pane="viewer-pane")
        await expect(tab(page, "table.csv — box")).to_have_count(1)
        # One unsaved file among them.
        last = page.locator(f"[data-testid=editor-pane][data-path='{workdir}/{names[-1]}']")
        await tab(page, names[-1]).click()
        await type_at_end(page, last, "# more")

        # The strip cannot hold them all: an obvious button says how many are out of sight.
        more = page.get_by_test_id("tab-list")
        await expect(more).to_be_visible()
        await expect(more).to_contain_text(re.compile(r"\d+ more"))
        await page.screenshot(path=shot("13-many-tabs"))

        # It lists every tab of the group, with its resource and the unsaved marker.
        await more.click()
        menu = page.get_by_test_id("tab-list-menu")
        await expect(menu).to_be_visible()
        items = menu.get_by_test_id("tab-list-item")
        group_tabs = more.locator("xpath=ancestor::*[contains(@class, 'dv-groupview')][1]")
        assert await items.count() == await group_tabs.locator(".dv-tab").count() == 16
        for name in names:
            await expect(items.filter(has_text=f"{name} — box")).to_have_count(1)
        await expect(items.filter(has_text="●")).to_have_text([f"● {names[-1]} — box"])
        await page.screenshot(path=shot("14-tab-list"))

        # Choosing one that is out of sight brings it to the front.
        first = page.locator(f"[data-testid=editor-pane][data-path='{workdir}/{names[0]}']")
        await expect(first).to_be_hidden()
        await items.filter(has_text=names[0]).click()
        await expect(menu).to_be_hidden()
        await expect(first).to_be_visible()
        await expect(tab(page, names[0])).to_be_in_viewport()
