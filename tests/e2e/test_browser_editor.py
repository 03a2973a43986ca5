"""The code editor in a real browser, on a file of a real sshd resource: open a file by
path, edit and save it, provoke a save conflict and resolve it (compare, reload,
overwrite), run a script and read its output with stdout and stderr apart, stop a long
run, find a run again after closing its tab, keep the editor across a page reload, be
asked before unsaved changes are closed away, and refuse a binary file.

Screenshots go to test-results/editor-*.png to be looked at.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.browser import chromium, results_dir
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


async def open_path(page: Page, path: str) -> Locator:
    """Panes menu -> Open a path…: the editor pane of that file."""
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id("pane-menu-open-path").click()
    dialog = page.get_by_test_id("open-path-dialog")
    await dialog.get_by_test_id("open-path-resource").select_option(label="box")
    await dialog.get_by_test_id("open-path-input").fill(path)
    await dialog.get_by_test_id("open-path-submit").click()
    await expect(dialog).to_be_hidden()
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
