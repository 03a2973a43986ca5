"""Sharing a session in a real browser (issue 17): alice shares a running web app with bob
(can use) and carol (can view) from the Share dialog and makes an invitation link; bob
and carol find it in their Sessions lists marked "shared by alice" and open it, where
bob's POST reaches the app and carol's is refused by the server; dave joins with the link,
which is then used up for erin, and a link that was never made says so; alice hears of
the joins, sees who is connected, and takes bob's access away, which his pane then says.
The link is never taken up by itself: dave is asked first, whose session and as what.

Shared web apps are served from origins of their own (``app_domain``): labgate at
``labgate.localhost``, each app at ``<session>.apps.labgate.localhost`` (Chromium resolves
every ``*.localhost`` name to the loopback address), so the POSTs are sent from the app's
own page. Without ``app_domain`` the Share dialog says why it cannot share a web app.

Screenshots go to test-results/sharing-*.png to be looked at (and, if
LABGATE_SHARING_SHOTS names a directory, there too).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser as Chromium
from playwright.async_api import Page, expect

from tests.support.browser import chromium, results_dir
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer, free_port
from tests.support.sessions import fresh_folder, launch, wait_for
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for sharing in the browser"
PEOPLE = ("alice", "bob", "carol", "dave", "erin")
# The server closes a revoked person's access within a second; the page then reads it.
PATIENCE_MS = 30_000
DOMAIN = "apps.labgate.localhost"
# Another copy of some screenshots, where a person looks at them (a directory), if set.
SHOTS = os.environ.get("LABGATE_SHARING_SHOTS", "")


def password(name: str) -> str:
    return f"{name}'s password for sharing sessions"


def shot(name: str) -> str:
    return str(results_dir() / f"sharing-{name}.png")


async def shown(page: Page, name: str) -> None:
    """A screenshot of ``page`` in test-results, and where SHOTS says."""
    await page.screenshot(path=shot(name))
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def labgate_url(server: RunningServer) -> str:
    """labgate as browsers reach it: its public_url."""
    return f"http://labgate.localhost:{server.port}"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


def _people(running: RunningServer) -> None:
    admin = Browser(running, "admin", ADMIN_PASSWORD)
    try:
        for name in PEOPLE:
            made = admin.post(
                "/api/v1/users",
                json={"username": name, "password": password(name), "role": "user"},
            )
            assert made.status_code == 201, made.text
    finally:
        admin.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    port = free_port()
    env = {"LABGATE_PUBLIC_URL": f"http://labgate.localhost:{port}"}
    env["LABGATE_APP_DOMAIN"] = "{session}." + DOMAIN
    with labgate_server(
        tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env, port=port
    ) as running:
        _people(running)
        yield running


@pytest.fixture(scope="module")
def app_session(server: RunningServer, sshd: SshServer) -> Iterator[str]:
    """alice's running web app (a static page served by python3 -m http.server, which
    answers POST with 501: whoever gets past labgate's proxy hears that)."""
    alice = Browser(server, "alice", password("alice"))
    try:
        rid = alice.add_key_resource("box", sshd)
        page = b"<!doctype html><h1 id=hello>Hello from alice's app</h1>"
        site = fresh_folder(alice, rid, f"{sshd.user.home}/sharing-site", {"index.html": page})
        started = launch(
            alice,
            rid,
            "webapp",
            title="Results dashboard",
            form={"workdir": site, "app_command": "python3 -m http.server {port} --bind 127.0.0.1"},
        )
        wait_for(alice, started["id"], "running")
        yield str(started["id"])
    finally:
        alice.close()


@asynccontextmanager
async def person(
    browser: Chromium, server: RunningServer, name: str, path: str = "/"
) -> AsyncIterator[Page]:
    """``name`` logged in, in a browser context of their own, having opened ``path``."""
    context = await browser.new_context(viewport={"width": 1280, "height": 820})
    try:
        page = await context.new_page()
        await page.goto(labgate_url(server) + path)
        await page.get_by_test_id("login-username").fill(name)
        await page.get_by_test_id("login-password").fill(password(name))
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        yield page
    finally:
        await context.close()


async def open_sessions(page: Page) -> None:
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id("pane-menu-sessions").click()
    await expect(page.get_by_test_id("sessions-pane")).to_be_visible()


async def post_status(page: Page, session_id: str) -> int:
    """What a POST to the session's app answers this person, sent by the app's own page
    (on the app's origin, in the app pane's frame)."""
    on_app = f"http://{session_id}.{DOMAIN}:"
    [frame] = [f for f in page.frames if f.url.startswith(on_app)]
    status: int = await frame.evaluate(
        "async () => (await fetch('./', { method: 'POST', body: 'x' })).status"
    )
    return status


async def test_alice_shares_her_app_and_takes_it_back(
    server: RunningServer, app_session: str
) -> None:
    row_selector = f'[data-testid="session-row"][data-session-id="{app_session}"]'
    async with chromium() as browser, person(browser, server, "alice") as alice:
        await open_sessions(alice)
        await alice.locator(row_selector).get_by_test_id("session-share").click()
        dialog = alice.get_by_test_id("share-dialog")
        await expect(dialog.get_by_test_id("share-nobody")).to_be_visible()

        # A name labgate does not know is refused under the field.
        await dialog.get_by_test_id("share-name").fill("nobody-here")
        await dialog.get_by_test_id("share-add-submit").click()
        await expect(dialog.get_by_test_id("share-add-error")).to_be_visible()
        await dialog.get_by_test_id("share-name").fill("bob")
        await dialog.get_by_test_id("share-role").select_option("user")
        await dialog.get_by_test_id("share-add-submit").click()
        await expect(dialog.locator('[data-testid="share-row"][data-name="bob"]')).to_be_visible()
        await dialog.get_by_test_id("share-name").fill("carol")
        await dialog.get_by_test_id("share-role").select_option("guest")
        await dialog.get_by_test_id("share-add-submit").click()
        carol_row = dialog.locator('[data-testid="share-row"][data-name="carol"]')
        await expect(carol_row.get_by_test_id("share-row-role")).to_have_value("guest")

        # An invitation link for one person, shown once.
        await dialog.get_by_test_id("invite-role").select_option("user")
        await dialog.get_by_test_id("invite-uses").fill("1")
        await dialog.get_by_test_id("invite-create").click()
        link = await dialog.get_by_test_id("invite-link").input_value()
        assert link.startswith(f"{labgate_url(server)}/?invite="), link
        await expect(dialog.get_by_test_id("invite-made")).to_contain_text("shown only this once")
        await dialog.screenshot(path=shot("01-dialog"))
        await dialog.get_by_test_id("invite-done").click()
        await expect(dialog.get_by_test_id("invite-row")).to_have_count(1)
        await alice.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
        await expect(
            alice.locator(row_selector).get_by_test_id("session-shared-mark")
        ).to_be_visible()

        async with person(browser, server, "bob") as bob:
            await open_sessions(bob)
            bob_row = bob.locator(row_selector)
            await expect(bob_row.get_by_test_id("session-shared-by")).to_have_text(
                "shared by alice · can use"
            )
            await expect(bob_row.get_by_test_id("session-stop")).to_have_count(0)
            await bob.screenshot(path=shot("02-bob-list"))
            await bob_row.get_by_test_id("session-open").click()
            frame = bob.frame_locator("[data-testid=app-frame]")
            await expect(frame.locator("#hello")).to_have_text("Hello from alice's app")
            # bob may use it: his POST reaches the app (which does not do POST).
            assert await post_status(bob, app_session) == 501

            # alice is told, and sees him connected.
            await expect(
                alice.get_by_test_id("notice").filter(has_text="bob joined")
            ).to_be_visible()
            await alice.locator(row_selector).get_by_test_id("session-share").click()
            await expect(
                dialog.locator('[data-testid="share-connected-row"][data-name="bob"]')
            ).to_be_visible(timeout=PATIENCE_MS)
            await dialog.screenshot(path=shot("02b-dialog-connected"))

            async with person(browser, server, "carol") as carol:
                await open_sessions(carol)
                carol_list_row = carol.locator(row_selector)
                await expect(carol_list_row.get_by_test_id("session-shared-by")).to_have_text(
                    "shared by alice · can view"
                )
                await carol_list_row.get_by_test_id("session-open").click()
                frame = carol.frame_locator("[data-testid=app-frame]")
                await expect(frame.locator("#hello")).to_have_text("Hello from alice's app")
                await expect(carol.get_by_test_id("app-shared-bar")).to_contain_text("can view it")
                await carol.screenshot(path=shot("03-carol-views"))
                # carol may only look: the server refuses her POST before the app sees it.
                assert await post_status(carol, app_session) == 403

            # dave opens the link: asked first, whose session and as what, he joins, and
            # the app opens; the token leaves the address.
            async with person(browser, server, "dave", "/" + link.split("/", 3)[3]) as dave:
                question = dave.get_by_test_id("invitation-confirm")
                await expect(question).to_contain_text(
                    "Join alice's session “Results dashboard” (Web app) as a user"
                )
                await expect(dave.get_by_test_id("app-pane")).to_have_count(0)
                assert "invite=" not in dave.url
                await shown(dave, "invitation-confirm")
                await dave.get_by_test_id("invitation-confirm-confirm").click()
                pane = dave.get_by_test_id("app-pane")
                await expect(pane).to_have_attribute("data-session-id", app_session)
                await expect(pane).to_have_attribute("data-role", "user")
                assert "invite=" not in dave.url
                await dave.screenshot(path=shot("04-dave-joined"))

            # Used once, the link is used up for erin; a made-up one is not valid.
            async with person(browser, server, "erin", "/" + link.split("/", 3)[3]) as erin:
                await expect(erin.get_by_test_id("notice")).to_contain_text(
                    "used as often as it allows"
                )
                assert "invite=" not in erin.url
                await erin.screenshot(path=shot("05-used-up"))
                await erin.goto(labgate_url(server) + "/?invite=made-up-token")
                await expect(erin.get_by_test_id("notice")).to_contain_text("not valid")

            # alice takes bob's access away: his pane says it ended.
            bob_share = dialog.locator('[data-testid="share-row"][data-name="bob"]')
            await bob_share.get_by_test_id("share-row-revoke").click()
            await alice.get_by_test_id("share-revoke-confirm").click()
            await expect(bob_share).to_have_count(0)
            await expect(bob.get_by_test_id("app-access-ended")).to_be_visible(timeout=PATIENCE_MS)
            await bob.screenshot(path=shot("06-bob-access-ended"))
            status: int = await bob.evaluate(
                "async (id) => (await fetch(`/s/${id}/`, { method: 'POST', body: 'x' })).status",
                app_session,
            )
            assert status in (403, 404)


# -- without app_domain ------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """labgate as installed by default: no app_domain."""
    with labgate_server(tmp_path_factory.mktemp("plain"), ADMIN_PASSWORD) as running:
        _people(running)
        yield running


async def test_without_app_domain_the_share_dialog_says_why(
    plain_server: RunningServer, sshd: SshServer
) -> None:
    alice = Browser(plain_server, "alice", password("alice"))
    session_id = ""
    try:
        rid = alice.add_key_resource("box", sshd)
        page = b"<!doctype html><h1 id=hello>Hello</h1>"
        site = fresh_folder(alice, rid, f"{sshd.user.home}/plain-site", {"index.html": page})
        started = launch(
            alice,
            rid,
            "webapp",
            title="Unsharable dashboard",
            form={"workdir": site, "app_command": "python3 -m http.server {port} --bind 127.0.0.1"},
        )
        session_id = str(started["id"])
        row_selector = f'[data-testid="session-row"][data-session-id="{session_id}"]'
        async with chromium() as browser:
            context = await browser.new_context(viewport={"width": 1280, "height": 820})
            tab = await context.new_page()
            await tab.goto(plain_server.url + "/")
            await tab.get_by_test_id("login-username").fill("alice")
            await tab.get_by_test_id("login-password").fill(password("alice"))
            await tab.get_by_test_id("login-submit").click()
            await open_sessions(tab)
            await tab.locator(row_selector).get_by_test_id("session-share").click()
            dialog = tab.get_by_test_id("share-dialog")
            await expect(dialog.get_by_test_id("share-unavailable")).to_contain_text(
                "an administrator must set app_domain"
            )
            await expect(dialog.get_by_test_id("share-add")).to_have_count(0)
            await expect(dialog.get_by_test_id("invite-form")).to_have_count(0)
            await shown(tab, "share-dialog-without-app-domain")
            await context.close()
    finally:
        if session_id:
            alice.post(f"/api/v1/sessions/{session_id}/stop")
        alice.close()
