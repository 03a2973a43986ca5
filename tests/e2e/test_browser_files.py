"""The file browser in a real browser, against a real server, on the server's own
machine (`local`, the administrator's) and on a real sshd: browse, create, rename
(never over an existing name without asking), delete, copy and move by drag and drop
and by cut/paste, odd names (leading dashes, bytes that are not UTF-8), errors from the
resource (a read-only folder, a folder that is not there), a folder of 10,000 entries;
uploads, archives and moves between resources through the transfers API.

Screenshots go to test-results/ to be looked at.
"""

from __future__ import annotations

import asyncio
import grp
import hashlib
import os
import pwd
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Locator, Route, expect

from tests.support.browser import chromium, results_dir
from tests.support.files_ui import (
    file_row,
    go_to,
    log_in_as_admin,
    names_shown,
    open_files,
)
from tests.support.labgate_api import Browser, labgate_server
from tests.support.relay import tcp_relay
from tests.support.server import RunningServer
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for files"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as running:
        yield running


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own for the SSH resource: the daemons' runtime directory is one
    setting for every resource, and the test user cannot share root's (the local one)."""
    with labgate_server(tmp_path_factory.mktemp("labgate-ssh"), ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def ssh_resource(ssh_server: RunningServer, sshd: SshServer) -> str:
    """An SSH resource of the administrator's, connected (password typed over the API),
    so that the browser's file panes reach it without asking."""
    admin = Browser(ssh_server, "admin", ADMIN_PASSWORD)
    rid = admin.add_resource("testbox", sshd)
    admin.trust_host_key(rid, sshd)
    with admin.connecting(rid) as talk:
        prompt = talk.expect("prompt")
        talk.answer(prompt, sshd.user.password)
        talk.connected()
    admin.close()
    return "testbox"


def shot(name: str) -> str:
    return str(results_dir() / f"files-{name}.png")


async def select(pane: Locator, *names: str) -> None:
    """Click the first, Ctrl+click the others."""
    for index, name in enumerate(names):
        await file_row(pane, name).click(modifiers=["Control"] if index else [])


async def rename_to(pane: Locator, name: str, new: str) -> None:
    await select(pane, name)
    await pane.get_by_test_id("files-grid").press("F2")
    field = pane.get_by_test_id("file-rename-input")
    await field.fill(new)
    await field.press("Enter")


async def test_browse_create_rename_delete_copy_move(server: RunningServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "results").mkdir(parents=True)
    (work / "results" / "run1.csv").write_text("a,b\n1,2\n")
    (work / "notes.txt").write_text("my notes\n")
    (work / "draft.txt").write_text("the draft\n")
    (work / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (work / ".hidden").write_text("secret\n")
    (work / "-rf").write_text("a name with a leading dash\n")
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url
        )
        page = await context.new_page()
        await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
        pane = await open_files(page, "local", work)
        assert await names_shown(pane) == ["results", "-rf", "big.bin", "draft.txt", "notes.txt"]
        # Owners by name as the resource knows them, the numbers in the tooltip.
        owner = (work / "notes.txt").stat()
        user, group = pwd.getpwuid(owner.st_uid).pw_name, grp.getgrgid(owner.st_gid).gr_name
        owner_cell = file_row(pane, "notes.txt").locator(".col-owner")
        await expect(owner_cell).to_have_text(f"{user}:{group}")
        await expect(owner_cell).to_have_attribute(
            "title", f"{user} (uid {owner.st_uid}):{group} (gid {owner.st_gid})"
        )
        await page.screenshot(path=shot("01-browse"))

        # Hidden files: shown on request, and the choice is kept on the server.
        async with page.expect_response(
            lambda r: (
                r.url.endswith("/api/v1/preferences")
                and r.request.method == "PATCH"
                and "files.show_hidden" in (r.request.post_data or "")
            )
        ):
            await pane.get_by_test_id("files-hidden-toggle").click()
        await expect(file_row(pane, ".hidden")).to_be_visible()
        prefs = await (await page.request.get("/api/v1/preferences")).json()
        assert prefs["preferences"]["files.show_hidden"] is True
        await pane.get_by_test_id("files-hidden-toggle").click()
        await expect(file_row(pane, ".hidden")).to_have_count(0)

        # Sorting: by size, largest first on the second click; folders stay first.
        await pane.get_by_test_id("files-sort-size").click()
        await pane.get_by_test_id("files-sort-size").click()
        assert (await names_shown(pane))[:2] == ["results", "big.bin"]
        await pane.get_by_test_id("files-sort-name").click()

        # Filter as you type.
        await pane.get_by_test_id("files-filter").fill("TXT")
        assert await names_shown(pane) == ["draft.txt", "notes.txt"]
        await pane.get_by_test_id("files-filter").fill("")

        # A new folder, named in place.
        await pane.get_by_test_id("files-new-folder").click()
        field = pane.get_by_test_id("file-rename-input")
        await expect(field).to_have_value("New folder")
        await field.fill("analysis")
        await field.press("Enter")
        await expect(file_row(pane, "analysis")).to_be_visible()
        assert (work / "analysis").is_dir()

        # A new file, named in place.
        await pane.get_by_test_id("files-more").click()
        await page.get_by_test_id("files-new-file").click()
        await expect(field).to_have_value("untitled.txt")
        await field.fill("empty.dat")
        await field.press("Enter")
        await expect(file_row(pane, "empty.dat")).to_be_visible()
        assert (work / "empty.dat").read_bytes() == b""

        # Rename onto an existing name: asked, and Skip changes nothing.
        await rename_to(pane, "notes.txt", "draft.txt")
        dialog = page.get_by_test_id("conflict-dialog")
        await expect(dialog.get_by_test_id("conflict-name")).to_have_text("draft.txt")
        await expect(dialog.get_by_test_id("conflict-suggestion")).to_have_text("draft (1).txt")
        await page.screenshot(path=shot("03-rename-conflict"))
        await dialog.get_by_test_id("conflict-skip").click()
        await expect(dialog).to_be_hidden()
        assert (work / "draft.txt").read_text() == "the draft\n"
        assert (work / "notes.txt").read_text() == "my notes\n"
        # ... and Keep both gives it the suggested name.
        await rename_to(pane, "notes.txt", "draft.txt")
        await dialog.get_by_test_id("conflict-keep-both").click()
        await expect(file_row(pane, "draft (1).txt")).to_be_visible()
        assert (work / "draft (1).txt").read_text() == "my notes\n"
        assert (work / "draft.txt").read_text() == "the draft\n"

        # Names that cannot be: said at once, nothing renamed.
        await rename_to(pane, "draft (1).txt", "a/b")
        await expect(pane.get_by_test_id("files-error")).to_contain_text('"/"')
        assert (work / "draft (1).txt").exists()
        await pane.get_by_test_id("files-error-dismiss").click()
        # A leading dash is just a name.
        await rename_to(pane, "-rf", "--help")
        await expect(file_row(pane, "--help")).to_be_visible()
        assert (work / "--help").read_text() == "a name with a leading dash\n"

        # Copy and paste in the same folder: asked, keep both.
        await select(pane, "draft.txt")
        await pane.get_by_test_id("files-grid").press("Control+c")
        await pane.get_by_test_id("files-grid").press("Control+v")
        await dialog.get_by_test_id("conflict-keep-both").click()
        await expect(file_row(pane, "draft (2).txt")).to_be_visible()
        assert (work / "draft (2).txt").read_text() == "the draft\n"

        # Move by drag and drop onto a folder.
        await file_row(pane, "draft (2).txt").drag_to(file_row(pane, "results"))
        await expect(file_row(pane, "draft (2).txt")).to_have_count(0)
        assert (work / "results" / "draft (2).txt").read_text() == "the draft\n"

        # Cut, open the folder, paste: moved.
        await select(pane, "empty.dat", "--help")
        await pane.get_by_test_id("files-grid").press("Control+x")
        await file_row(pane, "analysis").dblclick()
        await expect(pane).to_have_attribute("data-path", str(work / "analysis"))
        await pane.get_by_test_id("files-grid").focus()
        await pane.get_by_test_id("files-grid").press("Control+v")
        await expect(file_row(pane, "--help")).to_be_visible()
        assert sorted(p.name for p in (work / "analysis").iterdir()) == ["--help", "empty.dat"]
        assert not (work / "empty.dat").exists()

        # Back, and the context menu (right click): copy, paste into a folder.
        await pane.get_by_test_id("files-back").click()
        await expect(pane).to_have_attribute("data-path", str(work))
        await file_row(pane, "big.bin").click(button="right")
        menu = page.get_by_test_id("files-context-menu")
        await expect(menu).to_be_visible()
        await page.screenshot(path=shot("04-context-menu"))
        await menu.get_by_test_id("menu-copy").click()
        await file_row(pane, "analysis").click(button="right")
        await expect(menu.get_by_test_id("menu-paste")).to_contain_text("Paste into analysis")
        await menu.get_by_test_id("menu-paste").click()
        await file_row(pane, "analysis").dblclick()
        await expect(pane).to_have_attribute("data-path", str(work / "analysis"))
        await expect(file_row(pane, "big.bin")).to_be_visible()
        assert (work / "analysis" / "big.bin").read_bytes() == (work / "big.bin").read_bytes()
        await pane.get_by_test_id("files-up").click()
        await expect(pane).to_have_attribute("data-path", str(work))

        # Permissions: the dialog shows them as ls does; make the file executable.
        await file_row(pane, "big.bin").click(button="right")
        await menu.get_by_test_id("menu-chmod").click()
        chmod = page.get_by_test_id("chmod-dialog")
        await expect(chmod.get_by_test_id("chmod-mode")).to_contain_text("-rw-r--r--")
        await chmod.get_by_test_id("chmod-owner-execute").check()
        await expect(chmod.get_by_test_id("chmod-mode")).to_contain_text("-rwxr--r--  (0744)")
        await chmod.get_by_test_id("chmod-save").click()
        await expect(chmod).to_be_hidden()
        await expect(file_row(pane, "big.bin")).to_contain_text("-rwxr--r--")
        assert (work / "big.bin").stat().st_mode & 0o777 == 0o744

        # The keyboard reaches the same menu (Shift+F10) and Esc closes it.
        await pane.get_by_test_id("files-grid").press("Shift+F10")
        await expect(menu).to_be_visible()
        await expect(menu.get_by_test_id("menu-open")).to_be_focused()
        await menu.press("Escape")
        await expect(menu).to_be_hidden()

        # Delete several at once, folders with what is in them, after a list of what goes.
        await select(pane, "analysis", "draft (1).txt")
        await pane.get_by_test_id("files-grid").press("Delete")
        confirm = page.get_by_test_id("delete-dialog")
        await expect(confirm.get_by_test_id("delete-item")).to_have_count(2)
        await expect(confirm).to_contain_text("analysis")
        await page.screenshot(path=shot("05-delete"))
        await confirm.get_by_test_id("delete-dialog-confirm").click()
        await expect(confirm).to_be_hidden()
        await expect(file_row(pane, "analysis")).to_have_count(0)
        assert not (work / "analysis").exists()
        assert not (work / "draft (1).txt").exists()

        # A folder that is not there: the server's answer is shown, the folder stays.
        await pane.get_by_test_id("files-path-edit").click()
        await pane.get_by_test_id("files-path-input").fill(str(work / "nowhere"))
        await pane.get_by_test_id("files-path-input").press("Enter")
        await expect(pane.get_by_test_id("files-error")).to_contain_text("nowhere")
        await expect(pane).to_have_attribute("data-path", str(work))

        # Keys: Backspace goes up (selecting where we came from), Enter goes in.
        await file_row(pane, "results").dblclick()
        await expect(pane).to_have_attribute("data-path", str(work / "results"))
        await pane.get_by_test_id("files-grid").press("Backspace")
        await expect(pane).to_have_attribute("data-path", str(work))
        await expect(file_row(pane, "results")).to_have_attribute("aria-selected", "true")
        await pane.get_by_test_id("files-grid").press("Enter")
        await expect(pane).to_have_attribute("data-path", str(work / "results"))

        # The folder is in the pane's params: a reload opens it again.
        await page.reload()
        restored = page.locator("[data-testid=files-pane]:visible").last
        await expect(restored).to_have_attribute("data-path", str(work / "results"), timeout=30_000)
        await page.emulate_media(color_scheme="dark")
        await page.screenshot(path=shot("06-dark"))
        await context.close()


async def test_names_that_are_not_utf8_and_a_big_folder(
    server: RunningServer, tmp_path: Path
) -> None:
    odd = tmp_path / "odd"
    odd.mkdir()
    raw_dir = os.fsencode(odd)
    for name in (b"caf\xe9.txt", b"bad\xff\xfename"):
        with open(os.path.join(raw_dir, name), "wb") as handle:
            handle.write(b"latin-1 name\n")
    many = tmp_path / "many"
    many.mkdir()
    for i in range(10_000):
        (many / f"file-{i:05d}.dat").touch()
    huge = tmp_path / "huge"
    huge.mkdir()
    for i in range(100_000):
        os.close(os.open(huge / f"n{i:06d}", os.O_CREAT | os.O_WRONLY, 0o644))
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url
        )
        page = await context.new_page()
        await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
        pane = await open_files(page, "local", odd)
        assert sorted(await names_shown(pane)) == ["bad\ufffd\ufffdname", "caf\ufffd.txt"]
        await page.screenshot(path=shot("07-not-utf8"))
        await rename_to(pane, "caf\ufffd.txt", "cafe.txt")
        await expect(file_row(pane, "cafe.txt")).to_be_visible()
        assert (odd / "cafe.txt").read_bytes() == b"latin-1 name\n"
        await select(pane, "bad\ufffd\ufffdname")
        await pane.get_by_test_id("files-grid").press("Delete")
        await page.get_by_test_id("delete-dialog-confirm").click()
        await expect(file_row(pane, "bad\ufffd\ufffdname")).to_have_count(0)
        assert os.listdir(raw_dir) == [b"cafe.txt"]

        # 10,000 entries: listed in pages, drawn a screenful at a time, End reaches the last.
        await go_to(pane, str(many))
        grid = pane.get_by_test_id("files-grid")
        await expect(grid).to_have_attribute("data-count", "10000")
        assert await pane.locator("[data-testid=file-row]").count() < 200
        await select(pane, "file-00000.dat")
        await grid.press("End")
        await expect(file_row(pane, "file-09999.dat")).to_be_visible()
        await expect(file_row(pane, "file-09999.dat")).to_have_attribute("aria-selected", "true")
        await grid.press("Shift+PageUp")
        await expect(pane.get_by_test_id("files-status")).to_contain_text("selected")
        await pane.get_by_test_id("files-filter").fill("0999")
        await expect(grid).to_have_attribute("data-count", "11")  # 00999, 09990-09999
        await page.screenshot(path=shot("08-ten-thousand"))

        # 100,000: the first page is usable while the rest arrives; then all of it.
        await pane.get_by_test_id("files-filter").fill("")
        await pane.get_by_test_id("files-path-edit").click()
        await pane.get_by_test_id("files-path-input").fill(str(huge))
        await pane.get_by_test_id("files-path-input").press("Enter")
        await expect(pane).to_have_attribute("data-path", str(huge))
        await expect(file_row(pane, "n000000")).to_be_visible()
        await expect(pane).to_have_attribute("data-complete", "true", timeout=120_000)
        await expect(grid).to_have_attribute("data-count", "100000")
        await select(pane, "n000000")
        await grid.press("End")
        await expect(file_row(pane, "n099999")).to_have_attribute("aria-selected", "true")
        await pane.get_by_test_id("files-filter").fill("n09999")
        await expect(grid).to_have_attribute("data-count", "10")
        await context.close()


async def test_errors_from_an_ssh_resource(
    ssh_server: RunningServer, sshd: SshServer, ssh_resource: str
) -> None:
    server = ssh_server
    user = sshd.user
    locked = user.home / "labgate-readonly"
    shutil.rmtree(locked, ignore_errors=True)
    locked.mkdir()
    (locked / "keep.txt").write_text("keep me\n")
    os.chown(locked, user.uid, user.gid)
    os.chown(locked / "keep.txt", user.uid, user.gid)
    locked.chmod(0o555)
    try:
        async with chromium() as browser:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 800}, base_url=server.url
            )
            page = await context.new_page()
            await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
            pane = await open_files(page, ssh_resource)
            await expect(pane).to_have_attribute("data-path", str(user.home))
            await expect(file_row(pane, locked.name)).to_be_visible()
            await file_row(pane, locked.name).dblclick()
            await expect(pane).to_have_attribute("data-path", str(locked))
            # The resource refuses: its message is shown, nothing changes.
            await rename_to(pane, "keep.txt", "moved.txt")
            error = pane.get_by_test_id("files-error")
            await expect(error).to_contain_text("ermission denied")
            await page.screenshot(path=shot("09-permission-denied"))
            assert sorted(p.name for p in locked.iterdir()) == ["keep.txt"]
            await pane.get_by_test_id("files-new-folder").click()
            await expect(error).to_contain_text("Could not create a folder")
            assert sorted(p.name for p in locked.iterdir()) == ["keep.txt"]
            await context.close()
    finally:
        locked.chmod(0o755)
        shutil.rmtree(locked, ignore_errors=True)


# -- transfers: uploads, archives, copy and move between resources ----------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def upload_row(pane: Locator, name: str) -> Locator:
    return pane.locator(f"[data-testid=transfer-row][data-name='{name}']")


async def test_upload_interrupted_twice_then_resumed(server: RunningServer, tmp_path: Path) -> None:
    """200 MB: the network drops in the middle of a part (every connection reset, new
    ones refused, by a TCP relay between the browser and the server; the page waits and
    goes on by itself), then the page is reloaded in the middle (the upload is offered
    again, the same file is picked, it finishes); the file on disk has the same SHA-256."""
    source = tmp_path / "picked" / "big-run.h5"
    source.parent.mkdir()
    with source.open("wb") as handle:
        for _ in range(200):
            handle.write(os.urandom(1 << 20))
    target = tmp_path / "uploads"
    target.mkdir()
    async with tcp_relay(server.port) as network, chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=network.url
        )
        page = await context.new_page()
        await log_in_as_admin(page, network.url, ADMIN_PASSWORD)
        pane = await open_files(page, "local", target)

        parts = 0
        reloading = asyncio.Event()

        async def on_part(route: Route) -> None:
            nonlocal parts
            parts += 1
            if parts == 12:  # the twelfth part never gets an answer: the page reloads
                reloading.set()
            else:
                await route.continue_()

        await page.route(re.compile(r"/uploads/[^/?]+\?offset="), on_part)
        network.drop_after(70_000_000)  # within a part, not between two
        await pane.get_by_test_id("files-upload-input").set_input_files(source)
        row = await upload_row(pane, "big-run.h5")
        await asyncio.wait_for(network.dropped.wait(), 120)
        await expect(row).to_have_attribute("data-state", "waiting", timeout=60_000)
        await expect(row.get_by_test_id("transfer-detail")).to_contain_text("Waiting")
        await page.screenshot(path=shot("10-upload-waiting"))
        # What arrived of the cut-off part is kept: the hidden file ends within a part.
        held = [p.stat().st_size for p in target.glob(".labgate-upload-*")]
        assert len(held) == 1
        assert 0 < held[0] < 80_000_000
        assert held[0] % (8 << 20) != 0, held
        network.restore()
        await expect(row).to_have_attribute("data-state", "sending", timeout=30_000)
        await expect(row.get_by_test_id("transfer-detail")).to_contain_text("left", timeout=60_000)
        await page.screenshot(path=shot("11-upload-progress"))
        await asyncio.wait_for(reloading.wait(), 120)
        assert not (target / "big-run.h5").exists()  # nothing under its name until complete
        await page.unroute_all(behavior="ignoreErrors")
        await page.reload()

        pane = page.locator("[data-testid=files-pane]:visible").last
        resumable = await upload_row(pane, "big-run.h5")
        await expect(resumable).to_have_attribute("data-kind", "resumable", timeout=30_000)
        await page.screenshot(path=shot("12-upload-resumable"))
        # Another file of another size is refused before anything is sent.
        other = tmp_path / "picked" / "other.h5"
        other.write_bytes(b"not the same")
        async with page.expect_file_chooser() as chooser:
            await resumable.get_by_test_id("transfer-resume").click()
        await (await chooser.value).set_files(other)
        await expect(pane.get_by_test_id("files-error")).to_contain_text("not the same file")
        async with page.expect_file_chooser() as chooser:
            await resumable.get_by_test_id("transfer-resume").click()
        await (await chooser.value).set_files(source)
        done = await upload_row(pane, "big-run.h5")
        await expect(done).to_have_attribute("data-state", "done", timeout=180_000)
        await expect(file_row(pane, "big-run.h5")).to_be_visible()
        assert sha256_of(target / "big-run.h5") == sha256_of(source)
        assert sorted(p.name for p in target.iterdir()) == ["big-run.h5"]  # no hidden part left
        await context.close()


async def test_upload_a_folder_and_download_it_as_an_archive(
    server: RunningServer, tmp_path: Path
) -> None:
    picked = tmp_path / "picked" / "experiment"
    (picked / "raw").mkdir(parents=True)
    (picked / "raw" / "a.dat").write_bytes(b"a" * 1000)
    (picked / "raw" / "b.dat").write_bytes(b"b" * 2000)
    (picked / "summary.txt").write_text("done\n")
    target = tmp_path / "target"
    target.mkdir()
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, base_url=server.url, accept_downloads=True
        )
        page = await context.new_page()
        await log_in_as_admin(page, server.url, ADMIN_PASSWORD)
        pane = await open_files(page, "local", target)
        await pane.get_by_test_id("files-upload-folder-input").set_input_files(picked)
        rows = pane.get_by_test_id("transfer-row")
        await expect(rows).to_have_count(3)
        for index in range(3):
            await expect(rows.nth(index)).to_have_attribute("data-state", "done", timeout=60_000)
        await expect(file_row(pane, "experiment")).to_be_visible()
        assert (target / "experiment" / "raw" / "b.dat").read_bytes() == b"b" * 2000
        assert (target / "experiment" / "summary.txt").read_text() == "done\n"
        await page.screenshot(path=shot("13-folder-uploaded"))

        await file_row(pane, "experiment").click(button="right")
        async with page.expect_download() as download:
            await page.get_by_test_id("menu-download").click()
        archive = await (await download.value).path()
        assert (await download.value).suggested_filename == "experiment.zip"
        with zipfile.ZipFile(archive) as opened:
            names = sorted(n for n in opened.namelist() if not n.endswith("/"))
            assert names == [
                "experiment/raw/a.dat",
                "experiment/raw/b.dat",
                "experiment/summary.txt",
            ]
            assert opened.read("experiment/raw/a.dat") == b"a" * 1000

        # Files dropped from the desktop are uploaded too.
        await pane.get_by_test_id("files-scroller").evaluate(
            """(scroller) => {
                const data = new DataTransfer()
                data.items.add(new File(['dropped bytes'], 'dropped.txt', { type: 'text/plain' }))
                const init = { dataTransfer: data, bubbles: true, cancelable: true }
                for (const type of ['dragover', 'drop']) {
                    scroller.dispatchEvent(new DragEvent(type, init))
                }
            }"""
        )
        await expect(file_row(pane, "dropped.txt")).to_be_visible(timeout=30_000)
        assert (target / "dropped.txt").read_bytes() == b"dropped bytes"

        # Cancel in the middle: nothing stays, neither the file nor its hidden part.
        big = tmp_path / "picked" / "cancel-me.bin"
        big.write_bytes(os.urandom(24 * 1024 * 1024))
        parts = 0

        async def hold_second(route: Route) -> None:
            nonlocal parts
            parts += 1
            if parts == 1:
                await route.continue_()
            # later parts get no answer: the upload is stuck half-way

        await page.route(re.compile(r"/uploads/[^/?]+\?offset="), hold_second)
        await pane.get_by_test_id("files-upload-input").set_input_files(big)
        row = await upload_row(pane, "cancel-me.bin")
        await expect(row).to_have_attribute("data-state", "sending")
        await expect(row.get_by_test_id("transfer-detail")).to_contain_text("8 MiB of 24 MiB")
        async with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
            await row.get_by_test_id("transfer-cancel").click()
        assert (await deleted.value).status == 204
        await expect(row).to_have_attribute("data-state", "cancelled")
        await page.unroute_all(behavior="ignoreErrors")
        assert sorted(p.name for p in target.iterdir()) == ["dropped.txt", "experiment"]
        await context.close()


async def test_read_only_folder_and_moves_between_resources(
    ssh_server: RunningServer, sshd: SshServer, ssh_resource: str, tmp_path: Path
) -> None:
    """On the SSH resource: an upload into a folder the account cannot write is refused
    with the resource's words and leaves nothing; files move to a second resource and
    are copied back by drag and drop, with a progress bar."""
    user = sshd.user
    base = user.home / "labgate-transfers"
    shutil.rmtree(base, ignore_errors=True)
    (base / "locked").mkdir(parents=True)
    (base / "from").mkdir()
    (base / "to").mkdir()
    (base / "from" / "results.csv").write_text("x,y\n1,2\n")
    (base / "from" / "run7").mkdir()
    (base / "from" / "run7" / "out.log").write_text("finished\n")
    for path in [base, *base.rglob("*")]:
        os.chown(path, user.uid, user.gid)
    (base / "locked").chmod(0o555)
    second = "testbox-two"
    admin = Browser(ssh_server, "admin", ADMIN_PASSWORD)
    admin.add_resource(second, sshd)
    admin.close()
    picked = tmp_path / "note.txt"
    picked.write_text("hello\n")
    try:
        async with chromium() as browser:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 800}, base_url=ssh_server.url
            )
            page = await context.new_page()
            await log_in_as_admin(page, ssh_server.url, ADMIN_PASSWORD)
            pane = await open_files(page, ssh_resource, base / "locked")
            await pane.get_by_test_id("files-upload-input").set_input_files(picked)
            await expect(pane.get_by_test_id("files-error")).to_contain_text("ermission denied")
            failed = pane.locator("[data-testid=transfer-row][data-name='note.txt']")
            await expect(failed.get_by_test_id("transfer-error")).to_contain_text(
                "ermission denied"
            )
            await page.screenshot(path=shot("14-upload-read-only"))
            assert list((base / "locked").iterdir()) == []
            await failed.get_by_test_id("transfer-dismiss").click()
            await pane.get_by_test_id("files-error-dismiss").click()

            # Cut on one resource, paste on the other: a move job through the server.
            await go_to(pane, str(base / "from"))
            await select(pane, "results.csv", "run7")
            await pane.get_by_test_id("files-grid").press("Control+x")
            # The second resource is not connected yet: the pane offers the Connect dialog.
            other = page.locator("[data-testid=files-pane]:visible").last
            await page.locator(".dv-tab", has_text="Resources").first.click()
            row = page.locator(f"[data-testid=resource-row][data-resource-name={second}]")
            await row.get_by_test_id("resource-files").click()
            await other.get_by_test_id("login-required-connect").click()
            connect = page.get_by_test_id("connect-dialog")
            await connect.get_by_test_id("connect-host-key-trust").click()
            await connect.get_by_test_id("connect-password").fill(user.password)
            await connect.get_by_test_id("connect-answer").click()
            await expect(other.get_by_test_id("files-grid")).to_be_visible(timeout=30_000)
            await go_to(other, str(base / "to"))
            await other.get_by_test_id("files-grid").focus()
            await other.get_by_test_id("files-grid").press("Control+v")
            job = other.locator("[data-testid=transfer-row][data-kind=job]")
            await expect(job).to_have_attribute("data-state", "succeeded", timeout=60_000)
            await expect(file_row(other, "run7")).to_be_visible()
            await page.screenshot(path=shot("15-moved-between-resources"))
            assert (base / "to" / "run7" / "out.log").read_text() == "finished\n"
            assert (base / "to" / "results.csv").read_text() == "x,y\n1,2\n"
            assert sorted(p.name for p in (base / "from").iterdir()) == []

            # Paste again: the names exist there now, so the user is asked.
            await select(other, "results.csv")
            await other.get_by_test_id("files-grid").press("Control+c")
            await other.get_by_test_id("files-grid").press("Control+v")
            await page.get_by_test_id("conflict-keep-both").click()
            await expect(file_row(other, "results (1).csv")).to_be_visible()

            # Side by side (the pane split to the right), then drag and drop a file from
            # one resource's pane into the other's: copied, with a progress bar.
            await page.get_by_test_id("split-right").first.click()
            await expect(page.locator("[data-testid=files-pane]:visible")).to_have_count(2)
            right = page.locator("[data-testid=files-pane]:visible").last
            await expect(right).to_have_attribute("data-path", str(base / "to"))
            await expect(right).to_have_attribute("data-complete", "true")
            await page.locator(".dv-tab", has_text="from — testbox").first.click()
            left = page.locator("[data-testid=files-pane]:visible").first
            await expect(left).to_have_attribute("data-path", str(base / "from"))
            await file_row(right, "results (1).csv").drag_to(left.get_by_test_id("files-scroller"))
            copied = left.locator("[data-testid=transfer-row][data-kind=job]").last
            await expect(copied).to_have_attribute("data-state", "succeeded", timeout=60_000)
            await expect(file_row(left, "results (1).csv")).to_be_visible()
            await page.screenshot(path=shot("16-side-by-side"))
            assert (base / "from" / "results (1).csv").read_text() == "x,y\n1,2\n"
            assert (base / "to" / "results (1).csv").exists()  # copied, not moved
            await context.close()
    finally:
        (base / "locked").chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
