"""Sessions launched directly on a real sshd resource, reached through the proxy: launch
to ready with progress, the app's pages through /s/<id>/, authorisation of every path
(other users, anonymous callers, another site), labgate's cookies kept from the app,
stop, a server restart with the session running, an app that dies, one that never
answers, idle warnings by e-mail, clean-up and extensions.

The app is Python's own http.server (the "Web app" template), so these tests need
nothing installed on the resource; JupyterLab and TensorBoard have their own tests.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.eventually import eventually_sync
from tests.support.labgate_api import Browser, labgate_server
from tests.support.mail import MailServer, running_mail_server
from tests.support.server import RunningServer
from tests.support.sessions import another_user, fresh_folder, wait_for
from tests.support.sessions import launch as launch_session
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "sessions admin password"
BOB_PASSWORD = "bob's password for sessions"
SERVE = "python3 -m http.server {port} --bind 127.0.0.1"


# An administrator's template (app_templates_dir): a folder served over HTTP.
STATIC_TEMPLATE = """
id = "static-files"
title = "Static files"
description = "A folder served over HTTP."
icon = "globe"
command = "python3 -m http.server {port} --bind 127.0.0.1 --directory {folder}"
listen = "port"
ready_path = ""
keeps_base_path = false

[[fields]]
name = "folder"
label = "Folder to serve"
kind = "path"
required = true
"""


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    with running_mail_server() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mail: MailServer) -> Iterator[RunningServer]:
    templates = tmp_path_factory.mktemp("templates")
    (templates / "static.toml").write_text(STATIC_TEMPLATE)
    env = {
        "LABGATE_APP_TEMPLATES_DIR": str(templates),
        "LABGATE_APP_RECONCILE_SECONDS": "1",
        "LABGATE_APP_START_TIMEOUT_SECONDS": "8",
        "LABGATE_APP_WARNINGS_MINUTES": "[10]",
        "LABGATE_APP_IDLE_MINUTES": "60",
        # The administrator owns the sessions here: staff limits apply to them.
        "LABGATE_APP_STAFF_IDLE_MINUTES": "60",
        "LABGATE_SMTP_HOST": mail.host,
        "LABGATE_SMTP_PORT": str(mail.port),
    }
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[Browser]:
    browser = Browser(server, "admin", ADMIN_PASSWORD)
    patched = browser.patch("/api/v1/users/me", json={"email": "admin@example.org"})
    assert patched.status_code == 200, patched.text
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def bob(admin: Browser) -> Iterator[Browser]:
    with another_user(admin, "bob", BOB_PASSWORD) as browser:
        yield browser


@pytest.fixture(scope="module")
def box(admin: Browser, sshd: SshServer) -> int:
    return admin.add_key_resource("box", sshd)


@pytest.fixture(scope="module")
def site(admin: Browser, box: int, sshd: SshServer) -> str:
    """A folder the web app serves."""
    page = b"<h1>served by the app</h1>"
    return fresh_folder(admin, box, f"{sshd.user.home}/sessions-site", {"index.html": page})


def launch(
    browser: Browser, rid: int, command: str, workdir: str = "~", **extra: Any
) -> dict[str, Any]:
    """A session of the web app template running ``command`` in ``workdir``."""
    form = {"app_command": command, "workdir": workdir}
    return launch_session(browser, rid, "webapp", form=form, **extra)


def database(server: RunningServer) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "labgate.sqlite3")


def age(server: RunningServer, session_id: str, *, idle_minutes: float) -> None:
    """Make the session look idle for that long (the clock of the test cannot wait)."""
    with database(server) as db:
        db.execute(
            "UPDATE app_sessions SET last_activity_at = datetime('now', ?) WHERE id = ?",
            (f"-{idle_minutes * 60:.0f} seconds", session_id),
        )


def test_launch_use_and_stop(
    server: RunningServer, admin: Browser, bob: Browser, box: int, site: str
) -> None:
    session = launch(admin, box, SERVE, site)
    running = wait_for(admin, session["id"], "running")
    assert running["progress"][0].startswith("Starting Web app on box")
    assert running["progress"][-1] == "Web app is ready."
    assert running["url"] == f"/s/{session['id']}/"
    url = running["url"]

    # The owner reaches the app, with labgate's own cookie kept from it.
    page = admin.get(url)
    assert page.status_code == 200, page.text
    assert "served by the app" in page.text
    assert admin.get(f"/s/{session['id']}").status_code == 307  # to the trailing slash

    # Nobody else does, whatever the path or method.
    for path in (url, f"{url}index.html", f"{url}%2e%2e/%2e%2e/api/v1/users/me", f"{url}x?y=1"):
        assert bob.get(path).status_code == 403, path
        assert httpx.get(server.url + path).status_code == 401, path
    assert bob.post(url).status_code == 403
    # Another site's page cannot post with the owner's cookie.
    posted = admin.http.post(url, headers={"Origin": "http://evil.example"})
    assert posted.status_code == 403
    assert admin.get("/s/nosuchsession/").status_code == 404

    # Stop: the URL ends cleanly.
    stopped = admin.post(f"/api/v1/sessions/{session['id']}/stop")
    assert stopped.status_code == 200, stopped.text
    final = wait_for(admin, session["id"], "stopped")
    assert final["message"] == "stopped by you"
    gone = admin.get(url)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "session_ended"


def test_the_app_never_sees_labgate_credentials(admin: Browser, box: int, sshd: SshServer) -> None:
    # An app that answers with the request headers it got, and believes it is at /: its
    # /go sends the browser to /login.
    script = f"{sshd.user.home}/echo_headers.py"
    code = (
        b"import http.server, json, sys\n"
        b"class H(http.server.BaseHTTPRequestHandler):\n"
        b"    def do_GET(self):\n"
        b"        if self.path == '/go':\n"
        b"            self.send_response(302)\n"
        b"            self.send_header('Location', '/login')\n"
        b"            self.send_header('Content-Length', '0')\n"
        b"            self.end_headers()\n"
        b"            return\n"
        b"        body = json.dumps(dict(self.headers)).encode()\n"
        b"        self.send_response(200)\n"
        b"        self.send_header('Set-Cookie', 'labgate_session=stolen; Path=/')\n"
        b"        self.send_header('Set-Cookie', 'app_cookie=fine; Path=/')\n"
        b"        self.send_header('Content-Length', str(len(body)))\n"
        b"        self.end_headers()\n"
        b"        self.wfile.write(body)\n"
        b"http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )
    assert (
        admin.put(
            f"/api/v1/resources/{box}/files/content", params={"path": script}, content=code
        ).status_code
        == 200
    )
    session = launch(admin, box, f"python3 {script} {{port}}")
    wait_for(admin, session["id"], "running")
    answer = admin.http.get(
        f"/s/{session['id']}/",
        headers={"Cookie": f"labgate_session={admin.http.cookies['labgate_session']}; theme=dark"},
    )
    assert answer.status_code == 200, answer.text
    seen = {k.lower(): v for k, v in answer.json().items()}
    assert "labgate_session" not in seen.get("cookie", "")
    assert seen.get("cookie") == "theme=dark"
    assert "authorization" not in seen
    # The app's cookie is for its own pages only; its redirect stays with it.
    cookies = answer.headers.get_list("set-cookie")
    assert cookies == [f"app_cookie=fine; Path=/s/{session['id']}/"]
    went = admin.http.get(f"/s/{session['id']}/go", follow_redirects=False)
    assert went.status_code == 302
    assert went.headers["location"] == f"/s/{session['id']}/login"
    # The app's own Authorization reaches it; a labgate token opens it and does not.
    basic = "Basic dXNlcjpwYXNzd29yZA=="
    with_basic = admin.http.get(f"/s/{session['id']}/", headers={"Authorization": basic})
    assert {k.lower(): v for k, v in with_basic.json().items()}["authorization"] == basic
    made = admin.post("/api/v1/tokens", json={"name": "app", "scopes": ["read", "write"]})
    assert made.status_code == 201, made.text
    by_token = httpx.get(
        admin.server.url + f"/s/{session['id']}/",
        headers={"Authorization": f"Bearer {made.json()['secret']}"},
    )
    assert by_token.status_code == 200, by_token.text
    assert "authorization" not in {k.lower() for k in by_token.json()}
    admin.post(f"/api/v1/sessions/{session['id']}/stop")
    wait_for(admin, session["id"], "stopped")


def test_bad_launches_are_refused_or_fail_with_a_reason(admin: Browser, box: int) -> None:
    unknown = admin.post(
        "/api/v1/sessions", json={"template": "hologram", "resource_id": box, "form": {}}
    )
    assert unknown.status_code == 422
    batch_field = admin.post(
        "/api/v1/sessions",
        json={"template": "webapp", "resource_id": box, "form": {"app_command": "x", "cpus": -1}},
    )
    assert batch_field.status_code == 422
    assert "cpus" in batch_field.json()["error"]["message"]
    empty = admin.post(
        "/api/v1/sessions", json={"template": "webapp", "resource_id": box, "form": {}}
    )
    assert empty.status_code == 422
    assert (
        admin.post(
            "/api/v1/sessions",
            json={"template": "webapp", "resource_id": 999, "form": {"app_command": "x"}},
        ).status_code
        == 404
    )

    # A command that exits at once: failed, with what it said, its decisive line quoted
    # in the summary; the last step is what failed, and none claims it started.
    quick = launch(admin, box, "echo starting; echo 'error: no such thing here' >&2; exit 3")
    failed = wait_for(admin, quick["id"], "failed")
    assert failed["message"].splitlines() == [
        "Web app exited with status 3.",
        "error: no such thing here",
    ]
    assert failed["progress"][-1] == "Web app exited with status 3."
    assert not any("started" in line for line in failed["progress"]), failed["progress"]
    assert failed["actions"] == [{"kind": "retry", "label": "Edit and retry", "resource_id": None}]
    log = admin.get(f"/api/v1/sessions/{quick['id']}/log").json()["log"]
    assert "no such thing here" in log

    # A command that does not exist: said so, in words a user can act on.
    missing = launch(admin, box, "no-such-program-anywhere --port {port}")
    failed = wait_for(admin, missing["id"], "failed")
    assert "was not found" in failed["message"]
    assert "command was not found" in failed["progress"][-1]
    assert not any("started" in line for line in failed["progress"][:-1]), failed["progress"]

    # An app that never answers: stopped after the start timeout, with its log.
    silent = launch(admin, box, "echo waiting forever; sleep 600")
    failed = wait_for(admin, silent["id"], "failed")
    assert "did not answer within 8 seconds" in failed["message"]
    assert "waiting forever" in admin.get(f"/api/v1/sessions/{silent['id']}/log").json()["log"]


def test_a_killed_app_fails_with_its_log_and_a_restart_keeps_sessions(
    server: RunningServer, admin: Browser, box: int, site: str
) -> None:
    session = launch(admin, box, f"echo started the app; {SERVE}", site)
    wait_for(admin, session["id"], "running")

    server.stop()
    server.start()
    server.wait_until_healthy()
    again = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        # After the restart the session is still there and reachable.
        assert wait_for(again, session["id"], "running")["state"] == "running"
        page = again.get(f"/s/{session['id']}/")
        assert page.status_code == 200
        assert "served by the app" in page.text

        # Kill the app behind labgate's back: the session turns failed, with its log.
        processes = again.get(f"/api/v1/resources/{box}/processes").json()["processes"]
        (app,) = [p for p in processes if p["name"] == f"session:{session['id']}"]
        os.kill(app["pid"], signal.SIGKILL)
        failed = wait_for(again, session["id"], "failed")
        assert "SIGKILL" in failed["message"]
        assert "started the app" in again.get(f"/api/v1/sessions/{session['id']}/log").json()["log"]
    finally:
        again.close()


def test_idle_sessions_are_warned_culled_and_extended(
    server: RunningServer, admin: Browser, box: int, site: str, mail: MailServer
) -> None:
    session = launch(admin, box, SERVE, site)
    wait_for(admin, session["id"], "running")

    # 55 of 60 minutes idle: within the 10-minute warning, by e-mail too.
    age(server, session["id"], idle_minutes=55)
    eventually_sync(
        lambda: admin.get(f"/api/v1/sessions/{session['id']}").json()["warned_at"],
        what=f"a warning for session {session['id']}",
    )
    message = mail.wait_for(to="admin@example.org")
    assert "will be stopped" in message.subject
    assert "without activity" in message.body

    # Extending (within the policy) is granted at once and starts the idle clock again.
    extended = admin.post(f"/api/v1/sessions/{session['id']}/extend", json={"hours": 2})
    assert extended.status_code == 200, extended.text
    assert extended.json()["extension"]["state"] == "granted"
    assert extended.json()["warned_at"] is None
    # More than the policy allows waits for an administrator.
    asked = admin.post(f"/api/v1/sessions/{session['id']}/extend", json={"hours": 100})
    assert asked.json()["extension"]["state"] == "pending"
    pending = admin.get("/api/v1/session-extensions").json()["extensions"]
    assert [e["session_id"] for e in pending] == [session["id"]]
    refused = admin.post(f"/api/v1/session-extensions/{pending[0]['id']}", json={"grant": False})
    assert refused.json()["state"] == "refused"
    # Bad requests for time and decisions are refused, and change nothing.
    for hours in (0, -1, 24 * 31, "two", None):
        bad = admin.post(f"/api/v1/sessions/{session['id']}/extend", json={"hours": hours})
        assert bad.status_code == 422, (hours, bad.text)
    unknown_field = admin.post(
        f"/api/v1/sessions/{session['id']}/extend", json={"hours": 1, "minutes": 5}
    )
    assert unknown_field.status_code == 422
    again = admin.post(f"/api/v1/session-extensions/{pending[0]['id']}", json={"grant": True})
    assert again.status_code == 409
    assert admin.post("/api/v1/session-extensions/999999", json={"grant": True}).status_code == 404
    not_bool = admin.post(f"/api/v1/session-extensions/{pending[0]['id']}", json={"grant": "yes"})
    assert not_bool.status_code == 422

    # Idle past its limit: stopped, and why.
    age(server, session["id"], idle_minutes=61)
    stopped = wait_for(admin, session["id"], "stopped")
    assert stopped["message"] == "no activity for 60 minutes"
    assert admin.get(f"/s/{session['id']}/").status_code == 410


def test_other_users_cannot_see_or_touch_a_session(
    admin: Browser, bob: Browser, box: int, site: str
) -> None:
    session = launch(admin, box, SERVE, site)
    wait_for(admin, session["id"], "running")
    sid = session["id"]
    assert bob.get(f"/api/v1/sessions/{sid}").status_code == 404
    assert bob.post(f"/api/v1/sessions/{sid}/stop").status_code == 404
    assert bob.post(f"/api/v1/sessions/{sid}/extend", json={"hours": 1}).status_code == 404
    assert bob.get(f"/api/v1/sessions/{sid}/log").status_code == 404
    assert sid not in [s["id"] for s in bob.get("/api/v1/sessions").json()["sessions"]]
    assert bob.get("/api/v1/session-extensions").status_code == 403
    assert bob.post("/api/v1/session-extensions/1", json={"grant": True}).status_code == 403
    admin.post(f"/api/v1/sessions/{sid}/stop")
    wait_for(admin, sid, "stopped")


def test_an_administrators_template(admin: Browser, box: int, site: str) -> None:
    listed = admin.get("/api/v1/app-templates").json()["templates"]
    static = next(t for t in listed if t["id"] == "static-files")
    assert static["title"] == "Static files"
    assert "folder" in [f["name"] for f in static["fields"]]
    assert {"jupyterlab", "tensorboard", "webapp"} <= {t["id"] for t in listed}
    # Its own field is checked like a built-in one's.
    missing = admin.post(
        "/api/v1/sessions", json={"template": "static-files", "resource_id": box, "form": {}}
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["field"] == "body.form.folder"
    session = launch_session(admin, box, "static-files", form={"folder": site})
    wait_for(admin, session["id"], "running")
    page = admin.get(f"/s/{session['id']}/index.html")
    assert page.status_code == 200
    assert b"served by the app" in page.content
    admin.post(f"/api/v1/sessions/{session['id']}/stop")
    wait_for(admin, session["id"], "stopped")
