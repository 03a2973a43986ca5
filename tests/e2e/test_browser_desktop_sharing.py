"""Issue 17's "done when", in a real browser: alice starts a desktop as a SLURM job and
one on an SSH resource from the launcher, works in them, and shares the SSH one and a
JupyterLab with colleagues in different roles and with support staff, then takes one
colleague's access away; the desktop and the shares outlast a server restart.

- The SLURM desktop opens in its pane by itself once the job runs; typing reaches it.
- The SSH desktop is shared from the desktop pane's own Share dialog: bob may use it,
  carol may only watch, and support staff (dave, in the ``support`` group) may join once
  alice asks for help. bob's and dave's typing makes files on the desktop; carol's pane
  says *View only*, and keys she sends on a WebSocket of her own (as a guest could from
  the browser's console) are dropped by the server: her file never appears, though bob's
  typed after hers does. All four watch at once; alice's dialog lists who is connected.
- alice shares a JupyterLab with bob, who runs a cell through the proxy (and sees the lab
  in his pane); alice takes bob's access to both away: his desktop pane and his app pane
  say so, and his kernel's WebSocket is closed by the server.
- An invitation link that has expired is refused with a clear message (a used-up one:
  ``test_browser_sharing.py``).
- labgate restarts: alice's pane reconnects to the same desktop by itself, carol is still
  listed in the Share dialog and still watches.

Typing, clipboard and resizing of one desktop in detail: ``test_browser_desktop.py``.
Screenshots go to test-results/desktop-sharing-*.png to be looked at.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser as Chromium
from playwright.async_api import Locator, Page, expect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.apps import AppsEnv
from tests.support.browser import chromium, results_dir
from tests.support.desktops import XAccess, as_user, xvnc_of_job, xvnc_of_user
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer, free_port
from tests.support.sessions import launch, wait_for
from tests.support.slurm import SlurmCluster
from tests.support.sshd import SshServer, TestUser, ensure_test_user, running_sshd

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for shared desktops"
PEOPLE = ("alice", "bob", "carol", "dave", "erin")
SUPPORT_GROUP = "support"
# A desktop's first picture, a SLURM job's start, a JupyterLab's first page.
SLOW_MS = 120_000
PATIENCE_MS = 30_000
# Where the test's own xterm sits on each desktop, and where the test clicks to type in it.
XTERM_GEOMETRY = "80x20+0+0"
XTERM_TITLE = "typed-in-by-the-test"
IN_THE_XTERM = {"x": 60, "y": 60}
KERNEL_WEBSOCKET_CLOSED_BY_POLICY = 4403
# A small job, within the debug partition's limits.
WALLTIME_MINUTES = "20"
MEMORY_GB = "1"


def password(name: str) -> str:
    return f"{name}'s password for shared desktops"


def shot(name: str) -> str:
    return str(results_dir() / f"desktop-sharing-{name}.png")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    for program in ("Xvnc", "xdpyinfo", "xterm"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is missing: run `make test-deps`")
    # Web apps are shared only from origins of their own (app_domain): browsers open labgate
    # at labgate.localhost (Chromium resolves every *.localhost name to the loopback).
    port = free_port()
    env = {
        "LABGATE_APP_RECONCILE_SECONDS": "2",
        "LABGATE_SUPPORT_GROUP": SUPPORT_GROUP,
        "LABGATE_PUBLIC_URL": f"http://labgate.localhost:{port}",
        "LABGATE_APP_DOMAIN": "{session}.apps.labgate.localhost",
    }
    with labgate_server(
        tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env, port=port
    ) as running:
        admin = Browser(running, "admin", ADMIN_PASSWORD)
        try:
            for name in PEOPLE:
                made = admin.post(
                    "/api/v1/users",
                    json={"username": name, "password": password(name), "role": "user"},
                )
                assert made.status_code == 201, made.text
            group = admin.post("/api/v1/groups", json={"name": SUPPORT_GROUP})
            assert group.status_code == 201, group.text
            joined = admin.put(f"/api/v1/groups/{SUPPORT_GROUP}/members/dave")
            assert joined.status_code == 200, joined.text
        finally:
            admin.close()
        yield running


@pytest.fixture(scope="module")
def alice_api(server: RunningServer) -> Iterator[Browser]:
    api = Browser(server, "alice", password("alice"))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="module")
def box(
    alice_api: Browser, sshd: SshServer, apps_env: AppsEnv, slurm: SlurmCluster
) -> Iterator[int]:
    """alice's resource: the test account over SSH, a SLURM login node with the apps
    environment on its PATH. Her sessions on it are stopped at the end."""
    rid = alice_api.add_key_resource(
        "box", sshd, setup_lines=[f"export PATH={apps_env.bin}:$PATH", slurm.setup_lines]
    )
    try:
        yield rid
    finally:
        for session in alice_api.get("/api/v1/sessions").json()["sessions"]:
            if session["state"] in ("pending", "starting", "running"):
                alice_api.post(f"/api/v1/sessions/{session['id']}/stop")


@asynccontextmanager
async def person(browser: Chromium, server: RunningServer, name: str) -> AsyncIterator[Page]:
    """``name`` logged in, in a browser context of their own."""
    context = await browser.new_context(viewport={"width": 1280, "height": 820})
    try:
        page = await context.new_page()
        await page.goto(labgate_url(server))
        await page.get_by_test_id("login-username").fill(name)
        await page.get_by_test_id("login-password").fill(password(name))
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        yield page
    finally:
        await context.close()


async def launch_desktop(page: Page, *, slurm: bool) -> None:
    """The launcher's Desktop card on alice's resource, directly or as a SLURM job."""
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id("pane-menu-launcher").click()
    await page.get_by_test_id("launch-card-desktop").click()
    dialog = page.get_by_test_id("launch-dialog")
    await dialog.get_by_test_id("launch-resource").select_option(label="box")
    # The form remembers the last launch's choices: the launcher is chosen each time.
    await dialog.get_by_test_id("launch-launcher").select_option("slurm" if slurm else "direct")
    if slurm:
        await dialog.get_by_test_id("launch-field-walltime_minutes").fill(WALLTIME_MINUTES)
        await dialog.get_by_test_id("launch-field-memory_gb").fill(MEMORY_GB)
        await dialog.get_by_test_id("launch-field-partition").fill("debug")
    await dialog.get_by_test_id("launch-submit").click()
    # Once it runs, the dialog closes and the desktop opens in its pane.
    await expect(dialog).to_be_hidden(timeout=SLOW_MS)


async def open_from_sessions(
    page: Page, session_id: str, *, shared_by: str | None = None, help_asked: bool = False
) -> None:
    """Open ``session_id`` from the Sessions list, whose row says ``shared_by`` (and that
    help was asked) if given."""
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id("pane-menu-sessions").click()
    row = page.locator(f'[data-testid="session-row"][data-session-id="{session_id}"]')
    if shared_by is not None:
        await expect(row.get_by_test_id("session-shared-by")).to_have_text(shared_by)
    if help_asked:
        await expect(row.get_by_test_id("session-help-asked")).to_be_visible()
        await page.screenshot(path=shot("06-dave-asked-for-help"))
    await row.get_by_test_id("session-open").click()


async def share_from_sessions(page: Page, session_id: str) -> None:
    """The Share dialog of ``session_id`` from the Sessions list."""
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id("pane-menu-sessions").click()
    row = page.locator(f'[data-testid="session-row"][data-session-id="{session_id}"]')
    await row.get_by_test_id("session-share").click()


def desktop_of(page: Page) -> Locator:
    return page.get_by_test_id("desktop-pane")


async def connected(page: Page) -> Locator:
    pane = desktop_of(page)
    await expect(pane).to_have_attribute("data-phase", "connected", timeout=SLOW_MS)
    return pane


async def type_into_the_xterm(page: Page, text: str) -> None:
    canvas = page.get_by_test_id("desktop-screen").locator("canvas")
    await canvas.click(position=IN_THE_XTERM)
    await page.keyboard.type(text)


async def picture(page: Page, name: str) -> None:
    await page.wait_for_timeout(700)  # the latest picture drawn, for the screenshot
    await page.screenshot(path=shot(name))


def session_ids(api: Browser, template: str) -> list[str]:
    sessions = api.get("/api/v1/sessions").json()["sessions"]
    return [s["id"] for s in sessions if s["template"] == template]


def job_of(api: Browser, session_id: str) -> str:
    for line in api.get(f"/api/v1/sessions/{session_id}").json()["progress"]:
        found = re.match(r"Submitted to SLURM \(job (\d+)\)", line)
        if found:
            return found.group(1)
    raise AssertionError(f"session {session_id} was not submitted to SLURM")


def direct_desktop(user: TestUser) -> XAccess:
    """The one desktop of the account that is not a SLURM job's."""
    found = [
        xvnc
        for xvnc in xvnc_of_user(user.uid)
        if b"SLURM_JOB_ID=" not in Path(f"/proc/{xvnc[0]}/environ").read_bytes()
    ]
    assert len(found) == 1, found
    return XAccess.of(found[0])


async def start_xterm(user: TestUser, desktop: XAccess) -> subprocess.Popen[bytes]:
    """The test's xterm at the desktop's top left, once it is on the screen."""
    xterm = subprocess.Popen(
        as_user(
            user,
            desktop,
            "xterm",
            "-xrm",
            "*allowTitleOps: false",  # the shell would rename it
            "-title",
            XTERM_TITLE,
            "-geometry",
            XTERM_GEOMETRY,
        )
    )

    def mapped() -> bool:
        shown = subprocess.run(
            as_user(user, desktop, "xwininfo", "-name", XTERM_TITLE),
            capture_output=True,
            text=True,
            check=False,
        )
        assert "IsViewable" in shown.stdout, shown.stdout + shown.stderr
        return True

    await eventually(mapped, what="the test's xterm on the desktop")
    return xterm


def typed_file(user: TestUser, name: str) -> Path:
    path = user.home / f"desktop-sharing-{name}.txt"
    path.unlink(missing_ok=True)
    return path


def has_line(path: Path, line: str) -> bool:
    return path.exists() and path.read_text() == f"{line}\n"


# What a guest could send from the browser's console: RFB on the desktop's WebSocket, with
# the keys of ``text`` and then a fence, whose answer says the desktop took everything
# before it. The answer's payload is returned once it came back.
GUEST_KEYS = """
async ({ url, text, marker }) => {
  const socket = new WebSocket(url, ['binary'])
  socket.binaryType = 'arraybuffer'
  let got = new Uint8Array(0)
  socket.onmessage = (event) => {
    const more = new Uint8Array(event.data)
    const joined = new Uint8Array(got.length + more.length)
    joined.set(got)
    joined.set(more, got.length)
    got = joined
  }
  const pause = () => new Promise((resolve) => setTimeout(resolve, 50))
  const take = async (n) => {
    while (got.length < n) {
      if (socket.readyState > WebSocket.OPEN) throw new Error('the desktop closed')
      await pause()
    }
    const taken = got.slice(0, n)
    got = got.slice(n)
    return taken
  }
  await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject })
  await take(12)
  socket.send(new TextEncoder().encode('RFB 003.008\\n'))
  await take(2)  // one security type: None
  socket.send(new Uint8Array([1]))
  await take(4)  // security result
  socket.send(new Uint8Array([1]))  // ClientInit, shared
  const init = await take(24)
  await take(new DataView(init.buffer).getUint32(20))  // the desktop's name
  // SetEncodings: raw and the fence pseudo-encoding (-312).
  const encodings = new DataView(new ArrayBuffer(12))
  encodings.setUint8(0, 2)
  encodings.setUint16(2, 2)
  encodings.setInt32(4, 0)
  encodings.setInt32(8, -312)
  socket.send(encodings.buffer)
  for (const char of text) {
    const keysym = char === '\\n' ? 0xff0d : char.charCodeAt(0)
    for (const down of [1, 0]) {
      const key = new DataView(new ArrayBuffer(8))
      key.setUint8(0, 4)
      key.setUint8(1, down)
      key.setUint32(4, keysym)
      socket.send(key.buffer)
    }
  }
  const payload = new TextEncoder().encode(marker)
  const fence = new DataView(new ArrayBuffer(9 + payload.length))
  fence.setUint8(0, 248)
  fence.setUint32(4, 0x80000001)  // a request, answered after what came before it
  fence.setUint8(8, payload.length)
  new Uint8Array(fence.buffer).set(payload, 9)
  socket.send(fence.buffer)
  const wanted = Array.from(payload).join(',')
  for (;;) {
    if (Array.from(got).join(',').includes(wanted)) break
    if (socket.readyState > WebSocket.OPEN) throw new Error('the desktop closed')
    await pause()
  }
  socket.close()
  return marker
}
"""


async def send_keys_as_a_guest(page: Page, session_id: str, text: str) -> None:
    url = page.url.split("/", 3)[:3]
    socket_url = f"ws://{url[2]}/api/v1/sessions/{session_id}/desktop"
    marker = f"fence-{uuid.uuid4().hex[:8]}"
    answered = await page.evaluate(GUEST_KEYS, {"url": socket_url, "text": text, "marker": marker})
    assert answered == marker


def labgate_url(server: RunningServer) -> str:
    """labgate as browsers open it (its public URL)."""
    return f"http://labgate.localhost:{server.port}"


def bearer_of(api: Browser) -> dict[str, str]:
    """An API token of the person's, as a script would use it: served on labgate's own
    origin too (a browser's cookie is sent on to the app's origin)."""
    made = api.post("/api/v1/tokens", json={"name": "kernel", "scopes": ["read", "write"]})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['secret']}"}


def kernel_socket(server: RunningServer, bearer: dict[str, str], path: str) -> connect:
    """A WebSocket to ``path`` through labgate with the person's API token."""
    return connect(
        f"ws://{server.host}:{server.port}{path}",
        additional_headers=bearer,
        open_timeout=30,
        max_size=None,
    )


async def run_cell(socket: ClientConnection, code: str) -> str:
    """``code`` executed by the kernel on ``socket``; what it printed."""
    msg_id = uuid.uuid4().hex
    await socket.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "bob",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    output: list[str] = []
    while True:
        message = json.loads(await socket.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            output.append(message["content"]["text"])
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return "".join(output)


async def close_code(socket: ClientConnection) -> int | None:
    """The code the server closes ``socket`` with (what comes before is read and dropped)."""
    async with asyncio.timeout(PATIENCE_SECONDS):
        try:
            while True:
                await socket.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


async def share(dialog: Locator, name: str, role: str) -> None:
    await dialog.get_by_test_id("share-name").fill(name)
    await dialog.get_by_test_id("share-role").select_option(role)
    await dialog.get_by_test_id("share-add-submit").click()
    row = dialog.locator(f'[data-testid="share-row"][data-name="{name}"]')
    await expect(row.get_by_test_id("share-row-role")).to_have_value(role)


async def revoke(page: Page, dialog: Locator, name: str) -> None:
    row = dialog.locator(f'[data-testid="share-row"][data-name="{name}"]')
    await row.get_by_test_id("share-row-revoke").click()
    await page.get_by_test_id("share-revoke-confirm").click()
    await expect(row).to_have_count(0)


def expire_invitations(server: RunningServer) -> None:
    """Every invitation link of the server's database ran out an hour ago (the shortest a
    link may be made for is an hour)."""
    with sqlite3.connect(server.data_dir / "labgate.sqlite3") as db:
        db.execute("UPDATE share_invitations SET expires_at = datetime('now', '-1 hour')")


async def test_a_desktop_as_a_slurm_job_in_its_pane(
    server: RunningServer, alice_api: Browser, box: int, sshd: SshServer
) -> None:
    user = sshd.user
    typed = typed_file(user, "slurm")
    async with chromium() as browser, person(browser, server, "alice") as alice:
        await launch_desktop(alice, slurm=True)
        pane = await connected(alice)
        (session_id,) = session_ids(alice_api, "desktop")
        (xvnc,) = xvnc_of_job(job_of(alice_api, session_id))
        desktop = XAccess.of(xvnc)
        xterm = await start_xterm(user, desktop)
        try:
            await expect(pane).to_have_attribute("data-size", re.compile(r"\d+x\d+"))
            await type_into_the_xterm(alice, f"echo slurm > {typed}\n")
            await eventually(lambda: has_line(typed, "slurm"), what="the SLURM desktop's file")
            await picture(alice, "01-slurm-desktop")
        finally:
            xterm.kill()
            xterm.wait()
        assert alice_api.post(f"/api/v1/sessions/{session_id}/stop").status_code == 200
        wait_for(alice_api, session_id, "stopped")
        await eventually(lambda: xvnc_of_job(job_of(alice_api, session_id)) == [], what="no Xvnc")
        await expect(pane).to_have_attribute("data-phase", "ended", timeout=PATIENCE_MS)


async def test_a_shared_desktop_and_jupyterlab(
    server: RunningServer, alice_api: Browser, box: int, sshd: SshServer
) -> None:
    user = sshd.user
    files = {name: typed_file(user, name) for name in ("alice", "bob", "carol", "dave", "after")}
    helpers: list[subprocess.Popen[bytes]] = []
    bob_api = Browser(server, "bob", password("bob"))
    async with chromium() as browser, person(browser, server, "alice") as alice:
        try:
            # alice starts a desktop on her SSH resource and types in it.
            await launch_desktop(alice, slurm=False)
            pane = await connected(alice)
            (desktop_id,) = [
                s
                for s in session_ids(alice_api, "desktop")
                if alice_api.get(f"/api/v1/sessions/{s}").json()["state"] == "running"
            ]
            desktop = direct_desktop(user)
            title = alice_api.get(f"/api/v1/sessions/{desktop_id}").json()["title"]
            # The newest of the desktop tabs of that title (the SLURM desktop's pane, which
            # the workspace keeps, has the same).
            desktop_tab = alice.locator(".dv-tab", has_text=title).last
            helpers.append(await start_xterm(user, desktop))
            await type_into_the_xterm(alice, f"echo alice > {files['alice']}\n")
            await eventually(lambda: has_line(files["alice"], "alice"), what="alice's file")
            await picture(alice, "02-ssh-desktop")

            # She shares it from the pane's toolbar: bob may use it, carol may watch.
            await alice.get_by_test_id("desktop-share").click()
            dialog = alice.get_by_test_id("share-dialog")
            await share(dialog, "bob", "user")
            await share(dialog, "carol", "guest")

            async with (
                person(browser, server, "bob") as bob,
                person(browser, server, "carol") as carol,
                person(browser, server, "dave") as dave,
            ):
                # She asks support staff for help: dave, logged in, is told at once.
                await dialog.get_by_test_id("support-ask").click()
                await dialog.get_by_test_id("support-message").fill("The plot window is empty.")
                await dialog.get_by_test_id("support-send").click()
                await expect(dialog.get_by_test_id("support-sent")).to_be_visible()
                await expect(dialog.get_by_test_id("support-allowed")).to_be_checked()
                await expect(dialog.get_by_test_id("support-asked")).to_contain_text(
                    "“The plot window is empty.”."
                )
                await dialog.screenshot(path=shot("03-share-dialog"))
                await alice.keyboard.press("Escape")
                await expect(dialog).to_be_hidden()
                told = dave.get_by_test_id("notice").filter(has_text="asks for help")
                await expect(told).to_contain_text(
                    f"alice asks for help with “{title}”: “The plot window is empty.”"
                )
                await dave.screenshot(path=shot("03b-dave-told"))

                # bob opens it from his Sessions list and types: his file appears.
                await open_from_sessions(bob, desktop_id, shared_by="shared by alice · can use")
                bob_pane = await connected(bob)
                await expect(bob.get_by_test_id("desktop-view-only")).to_have_count(0)
                await expect(bob.get_by_test_id("desktop-shared-by")).to_have_text(
                    "shared by alice · can use"
                )
                await type_into_the_xterm(bob, f"echo bob > {files['bob']}\n")
                await eventually(lambda: has_line(files["bob"], "bob"), what="bob's file")
                await picture(bob, "04-bob-types")

                # carol watches: her pane says so, and what she sends anyway is dropped.
                await open_from_sessions(carol, desktop_id, shared_by="shared by alice · can view")
                carol_pane = await connected(carol)
                await expect(carol_pane).to_have_attribute("data-view-only", "true")
                await expect(carol.get_by_test_id("desktop-view-only")).to_be_visible()
                await expect(carol.get_by_test_id("desktop-shared-by")).to_have_text(
                    "shared by alice · can view"
                )
                await send_keys_as_a_guest(carol, desktop_id, f"echo carol > {files['carol']}\n")
                # Typed after carol's keys into the same xterm: had hers arrived, her file
                # would be there before this one.
                await type_into_the_xterm(bob, f"echo after > {files['after']}\n")
                await eventually(lambda: has_line(files["after"], "after"), what="bob's second")
                assert not files["carol"].exists()
                await picture(carol, "05-carol-views")

                # dave, support staff, opens it from the notice, finds alice's request in
                # his Sessions list too, and joins; his typing reaches the desktop.
                await told.get_by_test_id("notice-action").click()
                await expect(told).to_have_count(0)
                await connected(dave)
                await open_from_sessions(
                    dave, desktop_id, shared_by="shared by alice · support staff", help_asked=True
                )
                await connected(dave)
                await type_into_the_xterm(dave, f"echo dave > {files['dave']}\n")
                await eventually(lambda: has_line(files["dave"], "dave"), what="dave's file")
                await picture(dave, "06b-dave-supports")

                # Four people on one desktop at once; alice sees who is connected.
                for page in (alice, bob, carol, dave):
                    await expect(desktop_of(page)).to_have_attribute("data-phase", "connected")
                await alice.get_by_test_id("desktop-share").click()
                for name in ("bob", "carol", "dave"):
                    await expect(
                        dialog.locator(f'[data-testid="share-connected-row"][data-name="{name}"]')
                    ).to_be_visible(timeout=PATIENCE_MS)
                await dialog.screenshot(path=shot("07-connected-now"))
                await alice.keyboard.press("Escape")

                # A JupyterLab shared with bob: he runs a cell through the proxy, and
                # sees the lab in his pane.
                lab = launch(alice_api, box, "jupyterlab", form={"workdir": "~"})
                wait_for(alice_api, lab["id"], "running")
                await share_from_sessions(alice, lab["id"])
                await share(dialog, "bob", "user")
                await alice.keyboard.press("Escape")
                base = f"/s/{lab['id']}/"
                bob_bearer = bearer_of(bob_api)
                with server.client() as script:
                    kernel = script.post(
                        f"{base}api/kernels", json={"name": "python3"}, headers=bob_bearer
                    )
                assert kernel.status_code == 201, kernel.text
                kernel_path = f"{base}api/kernels/{kernel.json()['id']}/channels"
                async with kernel_socket(server, bob_bearer, kernel_path) as kernel_ws:
                    assert (await run_cell(kernel_ws, "print(6 * 7)")).strip() == "42"
                    bob_lab = await bob.context.new_page()
                    await bob_lab.goto(labgate_url(server))
                    await open_from_sessions(
                        bob_lab, lab["id"], shared_by="shared by alice · can use"
                    )
                    await expect(bob_lab.get_by_test_id("app-shared-bar")).to_contain_text("alice")
                    frame = bob_lab.frame_locator("[data-testid=app-frame]")
                    await expect(frame.locator("#jp-main-dock-panel")).to_be_visible(
                        timeout=SLOW_MS
                    )
                    await picture(bob_lab, "08-bob-jupyterlab")

                    # alice takes bob's access to both away: his kernel's socket is closed
                    # by the server, and his panes say that his access ended.
                    await desktop_tab.click()
                    await alice.get_by_test_id("desktop-share").click()
                    await revoke(alice, dialog, "bob")
                    await alice.keyboard.press("Escape")
                    await share_from_sessions(alice, lab["id"])
                    await revoke(alice, dialog, "bob")
                    await alice.keyboard.press("Escape")
                    assert await close_code(kernel_ws) == KERNEL_WEBSOCKET_CLOSED_BY_POLICY
                    await desktop_tab.click()
                await expect(bob_pane).to_have_attribute("data-phase", "ended")
                await expect(bob.get_by_test_id("desktop-ended")).to_contain_text("withdrawn")
                await picture(bob, "09-bob-desktop-withdrawn")
                await expect(bob_lab.get_by_test_id("app-access-ended")).to_be_visible(
                    timeout=PATIENCE_MS
                )
                await picture(bob_lab, "10-bob-lab-withdrawn")
                with server.client() as script:
                    refused = script.post(
                        f"{base}api/kernels", json={"name": "python3"}, headers=bob_bearer
                    )
                assert refused.status_code in (403, 404), refused.text

                # An invitation link that has expired says so.
                await alice.get_by_test_id("desktop-share").click()
                await dialog.get_by_test_id("invite-role").select_option("guest")
                await dialog.get_by_test_id("invite-create").click()
                link = await dialog.get_by_test_id("invite-link").input_value()
                await dialog.get_by_test_id("invite-done").click()
                await alice.keyboard.press("Escape")
                expire_invitations(server)
                async with person(browser, server, "erin") as erin:
                    await erin.goto(link)
                    await expect(erin.get_by_test_id("notice")).to_contain_text("expired")
                    assert "invite=" not in erin.url
                    await picture(erin, "11-expired-link")

                # labgate restarts: the panes reconnect to the same desktop by themselves,
                # and carol is still among those it is shared with.
                assert server.stop() == 0
                await expect(pane).to_have_attribute("data-phase", "reconnecting")
                server.start()
                server.wait_until_healthy()
                await connected(alice)
                await connected(carol)
                await expect(carol_pane).to_have_attribute("data-view-only", "true")
                assert direct_desktop(user) == desktop
                await type_into_the_xterm(alice, f"echo again >> {files['alice']}\n")
                await eventually(
                    lambda: files["alice"].read_text() == "alice\nagain\n",
                    what="typing after the restart",
                )
                await alice.get_by_test_id("desktop-share").click()
                carol_share = dialog.locator('[data-testid="share-row"][data-name="carol"]')
                await expect(carol_share.get_by_test_id("share-row-role")).to_have_value("guest")
                await expect(
                    dialog.locator('[data-testid="share-connected-row"][data-name="carol"]')
                ).to_be_visible(timeout=PATIENCE_MS)
                await dialog.screenshot(path=shot("12-after-restart-dialog"))
                await alice.keyboard.press("Escape")
                await picture(alice, "13-alice-reconnected")
                await picture(carol, "14-carol-still-watches")
        finally:
            for helper in helpers:
                if helper.poll() is None:
                    helper.kill()
                    helper.wait()
            bob_api.close()
