"""Sessions on origins of their own (``app_domain``): labgate at ``labgate.localhost``,
each app at ``<session>.apps.labgate.localhost`` (browsers resolve every ``*.localhost``
name to the loopback address; plain HTTP clients are given the Host header).

Signing in to an app's origin by a one-time grant, in the browser that asked for it
(the app's origin binds the browser, labgate's origin confirms its login, the app's
origin takes the bound pass), its own cookie checked against the live labgate login,
nothing of labgate's on an app's origin, and, in Chromium, JupyterLab
in a workspace pane from its own origin: it runs a notebook cell, its pages cannot read
labgate's cookie or its API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.async_api import expect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.support.apps import AppsEnv
from tests.support.browser import chromium, results_dir
from tests.support.labgate_api import Browser, labgate_server
from tests.support.server import RunningServer, free_port
from tests.support.sessions import NOTEBOOK, another_user, fresh_folder, launch, wait_for
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin password for app origins"
BOB_PASSWORD = "bob's password for app origins"
DOMAIN = "apps.labgate.localhost"
SERVE = "python3 -m http.server {port} --bind 127.0.0.1"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    port = free_port()
    env = {
        "LABGATE_PUBLIC_URL": f"http://labgate.localhost:{port}",
        "LABGATE_APP_DOMAIN": "{session}." + DOMAIN,
        "LABGATE_APP_RECONCILE_SECONDS": "2",
        "LABGATE_APP_START_TIMEOUT_SECONDS": "90",
    }
    with labgate_server(
        tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env, port=port
    ) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[Browser]:
    browser = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def box(admin: Browser, sshd: SshServer, apps_env: AppsEnv) -> int:
    return admin.add_key_resource("box", sshd, setup_lines=[f"export PATH={apps_env.bin}:$PATH"])


@pytest.fixture(scope="module")
def site(admin: Browser, box: int, sshd: SshServer) -> str:
    page = b"<h1>on an origin of its own</h1>"
    return fresh_folder(admin, box, f"{sshd.user.home}/origin-site", {"index.html": page})


@pytest.fixture(scope="module")
def web_session(admin: Browser, box: int, site: str) -> Iterator[str]:
    session = launch(admin, box, "webapp", form={"app_command": SERVE, "workdir": site})
    wait_for(admin, session["id"], "running")
    try:
        yield session["id"]
    finally:
        admin.post(f"/api/v1/sessions/{session['id']}/stop")


def app_host(server: RunningServer, session_id: str) -> str:
    return f"{session_id}.{DOMAIN}:{server.port}"


def app_origin(server: RunningServer, session_id: str) -> str:
    return f"http://{app_host(server, session_id)}"


def on_app_origin(server: RunningServer, session_id: str) -> httpx.Client:
    """A client that speaks to the session's origin (the Host header names it)."""
    return httpx.Client(
        base_url=f"http://127.0.0.1:{server.port}",
        headers={"Host": app_host(server, session_id)},
        trust_env=False,
    )


def as_cookie(value: str) -> dict[str, str]:
    """The header of a browser holding the app origin's cookie."""
    return {"Cookie": f"labgate_app={value}"}


def entry(browser: Browser, session_id: str, path: str = "") -> str:
    """Where labgate's origin sends a signed-in browser that asks for the app."""
    answer = browser.get(f"/s/{session_id}/{path}", follow_redirects=False)
    assert answer.status_code == 307, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{app_origin(browser.server, session_id)}/_labgate/enter?")
    return location


def cookie_set(answer: httpx.Response, name: str) -> str:
    for header in answer.headers.get_list("set-cookie"):
        cookie = SimpleCookie(header)
        if name in cookie:
            return cookie[name].value
    return ""


def enter(browser: Browser, location: str) -> tuple[httpx.Response, str]:
    """Follow a grant link in ``browser``: the app's origin binds it (a cookie there),
    labgate's origin confirms its login and gives a pass, the app's origin takes the
    pass. The last answer (a refusal, if any step refused) and the app origin's cookie."""
    parts = urlsplit(location)
    with on_app_origin(
        browser.server, parts.hostname.split(".")[0] if parts.hostname else ""
    ) as app:
        answer = app.get(f"{parts.path}?{parts.query}")
        if answer.status_code != 303:
            return answer, ""
        binding = cookie_set(answer, "labgate_bind")
        confirm = urlsplit(answer.headers["location"])
        assert confirm.path == "/_labgate/confirm"
        answer = browser.get(f"{confirm.path}?{confirm.query}", follow_redirects=False)
        if answer.status_code != 303:
            return answer, ""
        sign_in = urlsplit(answer.headers["location"])
        assert sign_in.path == "/_labgate/sign-in"
        answer = app.get(
            f"{sign_in.path}?{sign_in.query}", headers={"Cookie": f"labgate_bind={binding}"}
        )
    return answer, cookie_set(answer, "labgate_app")


def test_a_grant_opens_the_app_on_its_own_origin(
    server: RunningServer, admin: Browser, web_session: str
) -> None:
    location = entry(admin, web_session, "index.html?x=1")
    assert parse_qs(urlsplit(location).query)["next"] == [f"/s/{web_session}/index.html?x=1"]
    answer, cookie = enter(admin, location)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/s/{web_session}/index.html?x=1"
    set_cookie = answer.headers["set-cookie"]
    # Host-only (no Domain), not readable by the app's scripts, not sent cross-site.
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    assert "domain" not in set_cookie.lower()
    assert answer.headers["referrer-policy"] == "no-referrer"

    with on_app_origin(server, web_session) as app:
        page = app.get(f"/s/{web_session}/", headers=as_cookie(cookie))
        assert page.status_code == 200
        assert b"on an origin of its own" in page.content

    # Once only: the same grant again is refused, with a way back.
    again, _ = enter(admin, location)
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "grant_invalid"


def test_nothing_opens_an_app_origin_but_its_own_cookie(
    server: RunningServer, admin: Browser, web_session: str
) -> None:
    with on_app_origin(server, web_session) as app:
        bare = app.get(f"/s/{web_session}/", headers={"Accept": "text/html"})
        assert bare.status_code == 401
        # The page says where to go: the same path on labgate's origin.
        assert f"http://labgate.localhost:{server.port}/s/{web_session}/" in bare.text
        # labgate's own cookie means nothing here (and browsers never send it here).
        session_cookie = {"Cookie": admin.cookie_header()}
        assert app.get(f"/s/{web_session}/", headers=session_cookie).status_code == 401
        forged = app.get(f"/s/{web_session}/", headers=as_cookie("bm90IGEgY29va2ll"))
        assert forged.status_code == 401
        # labgate's pages and API are not served on an app's origin.
        for path in ("/", "/api/v1/users/me", "/login", f"/s/{'x' * 16}/"):
            assert app.get(path, headers=session_cookie).status_code == 404, path

    # A cookie of one session opens no other session's origin, nor does its grant.
    _, cookie = enter(admin, entry(admin, web_session))
    other = "a" * 16
    with on_app_origin(server, other) as elsewhere:
        assert elsewhere.get(f"/s/{other}/", headers=as_cookie(cookie)).status_code == 401
        grant = parse_qs(urlsplit(entry(admin, web_session)).query)["grant"][0]
        moved = elsewhere.get("/_labgate/enter", params={"grant": grant})
        assert moved.status_code == 403


def test_the_grant_goes_nowhere_but_the_session(
    server: RunningServer, admin: Browser, web_session: str
) -> None:
    for wanted in ("https://evil.example/", "//evil.example/", "/api/v1/users/me"):
        grant = parse_qs(urlsplit(entry(admin, web_session)).query)["grant"][0]
        query = urlencode({"grant": grant, "next": wanted})
        answer, _ = enter(admin, f"{app_origin(server, web_session)}/_labgate/enter?{query}")
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/s/{web_session}/"


def test_other_users_and_other_origins_are_refused(
    server: RunningServer, admin: Browser, web_session: str
) -> None:
    with another_user(admin, "bob", BOB_PASSWORD) as bob:
        # Bob gets no grant for Alice's session.
        refused = bob.get(f"/s/{web_session}/", follow_redirects=False)
        assert refused.status_code == 403
        # Nor does his own grant for his own login open it: grants are made per session
        # after the check, so the only way in is a cookie made for the owner.
        # The owner's grant link, sent to Bob, signs his browser in nowhere.
        link = entry(admin, web_session)
        forwarded, cookie = enter(bob, link)
        assert forwarded.status_code == 403
        assert forwarded.json()["error"]["code"] == "grant_other_browser"
        assert cookie == ""
        # It still works in the browser that asked for it.
        assert enter(admin, link)[0].status_code == 303
    _, cookie = enter(admin, entry(admin, web_session))
    with on_app_origin(server, web_session) as app:
        # An unsafe method from another origin (labgate's own included) is refused;
        # from the app's own origin it reaches the app (http.server answers 501).
        for origin in (f"http://labgate.localhost:{server.port}", "http://evil.example"):
            posted = app.post(f"/s/{web_session}/", headers={**as_cookie(cookie), "Origin": origin})
            assert posted.status_code == 403, origin
        own = app.post(
            f"/s/{web_session}/",
            headers={**as_cookie(cookie), "Origin": app_origin(server, web_session)},
        )
        assert own.status_code == 501
    # On labgate's origin a browser's WebSocket or POST to the app is refused: the app
    # lives elsewhere now.
    cookies = admin.cookie_header()
    with pytest.raises(InvalidStatus) as refused_socket:
        connect(
            f"ws://127.0.0.1:{server.port}/s/{web_session}/socket",
            additional_headers={"Cookie": cookies},
            origin=Origin(f"http://labgate.localhost:{server.port}"),
            open_timeout=10,
        )
    assert refused_socket.value.response.status_code == 403
    posted = admin.post(f"/s/{web_session}/")
    assert posted.status_code == 403
    assert posted.json()["error"]["code"] == "wrong_origin"


def test_scripts_with_a_token_use_either_origin(
    server: RunningServer, admin: Browser, web_session: str
) -> None:
    made = admin.post("/api/v1/tokens", json={"name": "origins", "scopes": ["read", "write"]})
    assert made.status_code == 201, made.text
    bearer = {"Authorization": f"Bearer {made.json()['secret']}"}
    with server.client() as script:
        direct = script.get(f"/s/{web_session}/", headers=bearer)
        assert direct.status_code == 200
        assert b"on an origin of its own" in direct.content
    with on_app_origin(server, web_session) as app:
        assert app.get(f"/s/{web_session}/", headers=bearer).status_code == 200
        # The proxy remembers a caller for a moment; revoking the token ends that at once.
        revoked = admin.delete(f"/api/v1/tokens/{made.json()['token']['id']}")
        assert revoked.status_code == 204
        assert app.get(f"/s/{web_session}/", headers=bearer).status_code == 401
    with server.client() as script:
        assert script.get(f"/s/{web_session}/", headers=bearer).status_code == 401


def test_logging_out_closes_the_app_origin(
    server: RunningServer, admin: Browser, web_session: str
) -> None:
    browser = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        _, cookie = enter(browser, entry(browser, web_session))
        with on_app_origin(server, web_session) as app:
            assert app.get(f"/s/{web_session}/", headers=as_cookie(cookie)).status_code == 200
            assert browser.post("/api/v1/auth/logout").status_code == 204
            ended = app.get(f"/s/{web_session}/", headers=as_cookie(cookie))
            assert ended.status_code == 401
    finally:
        browser.close()


@pytest.mark.browser
async def test_jupyterlab_in_a_pane_from_its_own_origin(
    server: RunningServer, admin: Browser, box: int, sshd: SshServer
) -> None:
    notebook = {"demo.ipynb": json.dumps(NOTEBOOK).encode()}
    folder = fresh_folder(admin, box, f"{sshd.user.home}/origin-notebooks", notebook)
    labgate = f"http://labgate.localhost:{server.port}"
    shots = results_dir()
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 820})
        await page.goto(labgate)
        await page.get_by_test_id("login-username").fill("admin")
        await page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-launcher").click()
        await page.get_by_test_id("launch-card-jupyterlab").click()
        dialog = page.get_by_test_id("launch-dialog")
        await dialog.get_by_test_id("launch-resource").select_option(label="box")
        await dialog.get_by_test_id("launch-field-workdir").fill(folder)
        await dialog.get_by_test_id("launch-submit").click()
        pane = page.get_by_test_id("app-pane")
        await expect(pane).to_have_attribute("data-state", "running", timeout=120_000)
        session_id = await pane.get_attribute("data-session-id")
        assert session_id
        # JupyterLab lets only itself frame its pages; the proxy names labgate too.
        frame = page.frame_locator("[data-testid=app-frame]")
        try:
            await expect(frame.locator(".jp-LabShell")).to_be_visible(timeout=60_000)
        finally:
            await page.screenshot(path=str(shots / "origins-01-jupyterlab-pane.png"))
        inner = next(f for f in page.frames if f.url.startswith(app_origin(server, session_id)))
        # The app's pages hold no labgate cookie and cannot read labgate's API.
        cookies = await inner.evaluate("document.cookie")
        assert "labgate_session" not in cookies
        assert "labgate_app" not in cookies
        fetched = await inner.evaluate(
            """async (url) => {
                try { await fetch(url, {credentials: 'include'}); return 'read' }
                catch (e) { return 'refused' }
            }""",
            f"{labgate}/api/v1/users/me",
        )
        assert fetched == "refused"

        # Its own tab: labgate's link goes through the grant to the app's origin, where
        # the kernel's WebSocket works.
        await page.goto(f"{labgate}/s/{session_id}/lab/tree/demo.ipynb")
        assert page.url.startswith(app_origin(server, session_id) + f"/s/{session_id}/lab")
        cell = page.locator(".jp-Notebook .jp-Cell").first
        await expect(cell).to_be_visible(timeout=60_000)
        await expect(page.get_by_text("| Idle")).to_be_visible(timeout=90_000)
        await cell.locator(".jp-InputArea-editor").click()
        await page.keyboard.press("Shift+Enter")
        await expect(page.locator(".jp-OutputArea-output").first).to_have_text("42", timeout=60_000)
        await page.screenshot(path=str(shots / "origins-02-jupyterlab-tab.png"))
    stopped = admin.post(f"/api/v1/sessions/{session_id}/stop")
    assert stopped.status_code == 200, stopped.text
