"""No request of an app leaves its prefix: JupyterLab, TensorBoard and a small web app
that believes it is at ``/``, each opened through labgate in Chromium in a tab of its
own (as the workspace's "open in a new tab" does), fail the test on any request outside
``/s/<id>/`` (on any host: no CDN either) and on any console error.

Only ``data:`` and ``blob:`` URLs, which the browser makes itself, are not requests to
anyone. Opened in the tab of their own the apps are alone on the page, so labgate's own
shell (its scripts and API calls) is not in the way; in a workspace pane those requests
are labgate's, not the app's.

Screenshots go to test-results/app-prefix-*.png to be looked at (TensorBoard's text in
its own Roboto font).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, Page, Request, Response, WebSocket, expect

from tests.support.apps import AppsEnv, write_scalars
from tests.support.browser import chromium, results_dir
from tests.support.labgate_api import Browser, labgate_server
from tests.support.processes import user_directory
from tests.support.server import RunningServer
from tests.support.sessions import launch, wait_for
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for apps in their prefix"
BASIC = "Basic YWxpY2U6YXBwLXBhc3N3b3Jk"  # alice:app-password, the app's own login

# A web app that knows nothing of labgate's prefix: / sends the browser to /login with
# a cookie for /, /login shows what the app got (its cookie, and the Authorization its
# own script sends) and loads its style sheet by a relative URL.
ESCAPING_APP = b"""
import http.server, json, sys

PAGE = '''<!doctype html><html><head><title>Tiny app</title>
<link rel="stylesheet" href="static/app.css"></head><body>
<h1>Tiny app</h1><p id="cookie">%s</p><p id="auth">...</p>
<script>
fetch("api/whoami", {headers: {Authorization: "%s"}})
  .then(r => r.json()).then(j => { document.getElementById("auth").textContent = j.auth; });
</script></body></html>'''


class App(http.server.BaseHTTPRequestHandler):
    def answer(self, status, kind, body, *headers):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/":
            self.answer(
                302, "text/plain", b"",
                ("Location", "/login"), ("Set-Cookie", "tiny_sid=s3cr3t; Path=/; HttpOnly"),
            )
        elif self.path == "/login":
            page = PAGE % (self.headers.get("Cookie", ""), sys.argv[2])
            self.answer(200, "text/html", page.encode())
        elif self.path == "/static/app.css":
            self.answer(200, "text/css", b"body { font-family: sans-serif; color: #234; }")
        elif self.path == "/api/whoami":
            auth = self.headers.get("Authorization", "none")
            self.answer(200, "application/json", json.dumps({"auth": auth}).encode())
        else:
            self.answer(404, "text/plain", b"not here")


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), App).serve_forever()
"""


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"LABGATE_APP_RECONCILE_SECONDS": "2", "LABGATE_APP_START_TIMEOUT_SECONDS": "90"}
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[Browser]:
    browser = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def box(api: Browser, sshd: SshServer, apps_env: AppsEnv) -> int:
    return api.add_key_resource("box", sshd, setup_lines=[f"export PATH={apps_env.bin}:$PATH"])


def shot(name: str) -> str:
    return str(results_dir() / f"app-prefix-{name}.png")


@dataclass
class Watch:
    """What an app's page asked for, and what went wrong, while it was open."""

    #: The only places it may ask: the session's prefix on labgate's origin (HTTP and
    #: WebSocket).
    allowed: tuple[str, ...]
    requests: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: The status of each answer, by URL.
    statuses: dict[str, int] = field(default_factory=dict)

    def request(self, request: Request) -> None:
        self._note(request.url)

    def response(self, response: Response) -> None:
        self.statuses[response.url] = response.status

    def websocket(self, socket: WebSocket) -> None:
        self._note(socket.url)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url', '')})")

    def page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")

    def _note(self, url: str) -> None:
        if url.startswith(("data:", "blob:")):
            return
        self.requests.append(url)
        if not url.startswith(self.allowed):
            self.outside.append(url)

    def check(self) -> None:
        assert self.requests, "the page asked for nothing"
        assert not self.outside, f"requests outside {self.allowed}: {self.outside}"
        assert not self.errors, f"console errors: {self.errors}"


@asynccontextmanager
async def app_tab(server: RunningServer, session_id: str) -> AsyncIterator[tuple[Page, Watch]]:
    """A logged-in browser's tab watching every request and console message; the
    watch is checked when the block ends without an error of its own."""
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 820})
        page = await context.new_page()
        await page.goto(server.url)
        await page.get_by_test_id("login-username").fill("admin")
        await page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        # From here on the tab is the app's alone.
        app_page = await context.new_page()
        prefix = f"/s/{session_id}/"
        watch = Watch((server.url + prefix, f"ws://{server.host}:{server.port}{prefix}"))
        app_page.on("request", watch.request)
        app_page.on("response", watch.response)
        app_page.on("websocket", watch.websocket)
        app_page.on("console", watch.console)
        app_page.on("pageerror", watch.page_error)
        await page.close()
        yield app_page, watch
        watch.check()


def running(api: Browser, box: int, template: str, form: dict[str, str]) -> dict[str, Any]:
    session = launch(api, box, template, form=form)
    return wait_for(api, str(session["id"]), "running")


async def test_a_web_app_that_thinks_it_is_at_the_root(
    server: RunningServer, api: Browser, box: int, sshd: SshServer
) -> None:
    script = f"{sshd.user.home}/tiny_app.py"
    written = api.put(
        f"/api/v1/resources/{box}/files/content", params={"path": script}, content=ESCAPING_APP
    )
    assert written.status_code == 200, written.text
    session = running(api, box, "webapp", {"app_command": f"python3 {script} {{port}} '{BASIC}'"})
    base = f"/s/{session['id']}/"
    async with app_tab(server, str(session["id"])) as (page, watch):
        await page.goto(server.url + base)
        # Sent to its /login, inside the prefix, with its cookie back and its own login.
        await expect(page).to_have_url(server.url + base + "login")
        await expect(page.locator("#cookie")).to_have_text("tiny_sid=s3cr3t")
        await expect(page.locator("#auth")).to_have_text(BASIC)
        cookies = await page.context.cookies()
        tiny = [c for c in cookies if c["name"] == "tiny_sid"]
        assert [c.get("path") for c in tiny] == [base]
        await page.screenshot(path=shot("webapp"))
    assert any(url.endswith(base + "static/app.css") for url in watch.requests)
    api.post(f"/api/v1/sessions/{session['id']}/stop")


async def test_tensorboard_and_its_fonts(
    server: RunningServer, api: Browser, box: int, sshd: SshServer, apps_env: AppsEnv
) -> None:
    with user_directory(sshd.user) as home:
        logdir = home / "prefix-runs"
        write_scalars(apps_env, logdir / "run1", sshd.user, tag="loss", values=(1.0, 0.6, 0.4))
        session = running(api, box, "tensorboard", {"logdir": str(logdir)})
        base = f"/s/{session['id']}/"
        async with app_tab(server, str(session["id"])) as (page, watch):
            await page.goto(server.url + base)
            await expect(page.get_by_text("run1").first).to_be_visible(timeout=60_000)
            card = page.locator("scalar-card, .scalar-card, [class*=card]").filter(has_text="loss")
            await expect(card.first).to_be_visible(timeout=60_000)
            await page.evaluate("document.fonts.ready.then(() => true)")
            loaded = await page.evaluate(
                "[...document.fonts].filter(f => f.family.includes('Roboto')"
                " && f.status === 'loaded').length"
            )
            await page.wait_for_timeout(1000)  # the chart draws after its card appears
            await page.screenshot(path=shot("tensorboard"))
        # Its fonts came from inside the prefix (and nothing from outside, checked above).
        fonts = {url: status for url, status in watch.statuses.items() if "/font-roboto/" in url}
        assert fonts, "TensorBoard asked for none of its Roboto fonts"
        assert all(url.startswith(server.url + base) for url in fonts), fonts
        assert set(fonts.values()) == {200}, fonts
        assert loaded > 0
        api.post(f"/api/v1/sessions/{session['id']}/stop")


async def test_jupyterlab(server: RunningServer, api: Browser, box: int) -> None:
    session = running(api, box, "jupyterlab", {"workdir": "~"})
    async with app_tab(server, str(session["id"])) as (page, _):
        # ?reset: a fresh workspace, with its launcher, whatever an earlier run left open.
        await page.goto(f"{server.url}{session['url']}?reset")
        await expect(page.locator(".jp-LabShell")).to_be_visible(timeout=60_000)
        # A kernel, over the proxied WebSocket: the launcher's Python console.
        await page.locator(".jp-LauncherCard[data-category='Console']").first.click()
        await expect(page.get_by_text("| Idle")).to_be_visible(timeout=90_000)
        await page.screenshot(path=shot("jupyterlab"))
    api.post(f"/api/v1/sessions/{session['id']}/stop")
