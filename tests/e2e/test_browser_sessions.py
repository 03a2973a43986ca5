"""Sessions in a real browser: the launcher's cards and form, the launch's progress, the
app in a pane, the Sessions pane (time left, log, stop), a failure explained, JupyterLab
directly and as a SLURM job, TensorBoard opened on a folder of the file browser, and an
idle session's warning still there, with the session running, after a server restart.

Screenshots go to test-results/sessions-*.png to be looked at.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.apps import AppsEnv, write_scalars
from tests.support.browser import chromium, results_dir
from tests.support.eventually import eventually_sync
from tests.support.files_ui import file_row, open_files
from tests.support.labgate_api import Browser, labgate_server
from tests.support.launch_ui import FAILS, SERVES, expect_the_failure_quoted
from tests.support.processes import user_directory
from tests.support.server import RunningServer
from tests.support.sessions import NOTEBOOK, fresh_folder, launch, wait_for
from tests.support.slurm import SlurmCluster
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for sessions in the browser"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "LABGATE_APP_RECONCILE_SECONDS": "2",
        "LABGATE_APP_START_TIMEOUT_SECONDS": "10",
        "LABGATE_APP_IDLE_MINUTES": "60",
        # The administrator owns the sessions here: staff limits apply to them.
        "LABGATE_APP_STAFF_IDLE_MINUTES": "60",
        "LABGATE_APP_WARNINGS_MINUTES": "[10]",
    }
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def site(server: RunningServer, sshd: SshServer) -> Iterator[str]:
    api = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        rid = api.add_key_resource("box", sshd)
        page = b"<!doctype html><h1 id=hello>Hello from the app</h1>"
        path = fresh_folder(api, rid, f"{sshd.user.home}/browser-site", {"index.html": page})
        yield path
    finally:
        api.close()


def shot(name: str) -> str:
    return str(results_dir() / f"sessions-{name}.png")


@asynccontextmanager
async def logged_in(server: RunningServer) -> AsyncIterator[Page]:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 820})
        await page.goto(server.url)
        await page.get_by_test_id("login-username").fill("admin")
        await page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        yield page


async def open_launcher(page: Page) -> None:
    await page.get_by_test_id("pane-menu").click()
    await page.get_by_test_id("pane-menu-launcher").click()
    await expect(page.get_by_test_id("launcher-pane")).to_be_visible()


async def launch_form(page: Page, template: str, resource: str) -> Locator:
    """The launch dialog of ``template`` from the launcher's card, on ``resource``."""
    await open_launcher(page)
    await page.get_by_test_id(f"launch-card-{template}").click()
    dialog = page.get_by_test_id("launch-dialog")
    await dialog.get_by_test_id("launch-resource").select_option(label=resource)
    return dialog


async def jupyterlab_in_its_pane(page: Page, screenshot: str) -> str:
    """Wait for the launched JupyterLab to show in its app pane; the session's id."""
    app = page.get_by_test_id("app-pane")
    await expect(app).to_have_attribute("data-state", "running", timeout=180_000)
    frame = page.frame_locator("[data-testid=app-frame]")
    await expect(frame.locator(".jp-LabShell")).to_be_visible(timeout=60_000)
    await page.screenshot(path=shot(screenshot))
    return str(await app.get_attribute("data-session-id"))


async def test_launch_a_web_app_use_it_and_stop_it(server: RunningServer, site: str) -> None:
    async with logged_in(server) as page:
        await open_launcher(page)
        await expect(page.get_by_test_id("launch-card-jupyterlab")).to_be_visible()
        await page.screenshot(path=shot("01-launcher"))

        await page.get_by_test_id("launch-card-webapp").click()
        dialog = page.get_by_test_id("launch-dialog")
        await dialog.get_by_test_id("launch-resource").select_option(label="box")
        # Nothing typed where a command is needed: said before anything is sent.
        await dialog.get_by_test_id("launch-submit").click()
        await expect(dialog.get_by_test_id("launch-field-app_command-error")).to_be_visible()
        await dialog.get_by_test_id("launch-field-workdir").fill(site)
        await dialog.get_by_test_id("launch-field-app_command").fill(
            "python3 -m http.server {port} --bind 127.0.0.1"
        )
        await page.screenshot(path=shot("02-form"))
        await dialog.get_by_test_id("launch-submit").click()

        # Ready: the app opens in a pane by itself.
        app = page.get_by_test_id("app-pane")
        await expect(app).to_have_attribute("data-state", "running", timeout=60_000)
        frame = page.frame_locator("[data-testid=app-frame]")
        await expect(frame.locator("#hello")).to_have_text("Hello from the app")
        await page.screenshot(path=shot("03-app"))

        # The Sessions pane lists it, with its time left; Stop ends it.
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-sessions").click()
        row = page.get_by_test_id("session-row").first
        await expect(row).to_have_attribute("data-state", "running")
        await expect(row.get_by_test_id("session-time-left")).to_contain_text("if idle")
        await page.screenshot(path=shot("04-list"))
        await row.get_by_test_id("session-log").click()
        await expect(page.get_by_test_id("session-log-text")).to_contain_text("GET /")
        await page.keyboard.press("Escape")
        # Chosen again from the menu, the open Sessions pane comes to the front (no copy).
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-launcher").click()
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-sessions").click()
        await expect(page.get_by_test_id("sessions-pane")).to_be_visible()
        await expect(page.locator(".dv-tab", has_text="Sessions")).to_have_count(1)

        # Extend: two hours, granted at once.
        await row.get_by_test_id("session-extend").click()
        await expect(page.get_by_text("2 more hours")).to_be_visible()
        # A longer request waits for an administrator: the Sessions pane says so and
        # leads to the requests, where it is granted (more: e2e/test_browser_admin.py).
        session_id = await row.get_attribute("data-session-id")
        api = Browser(server, "admin", ADMIN_PASSWORD)
        try:
            asked = api.post(f"/api/v1/sessions/{session_id}/extend", json={"hours": 48})
            assert asked.json()["extension"]["state"] == "pending"
        finally:
            api.close()
        await page.get_by_test_id("sessions-open-requests").click()
        request = page.get_by_test_id("extension-request").first
        await expect(request).to_have_attribute("data-session-id", str(session_id))
        await page.screenshot(path=shot("04b-extension-request"))
        await request.get_by_test_id("extension-grant").click()
        await expect(page.get_by_test_id("extension-request")).to_have_count(0)
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-sessions").click()
        await expect(page.get_by_test_id("sessions-requests-waiting")).to_have_count(0)
        row = page.get_by_test_id("session-row").first
        await row.get_by_test_id("session-stop").click()
        await expect(row).to_have_attribute("data-state", "stopped", timeout=30_000)
        await expect(row.get_by_test_id("session-message")).to_have_text("stopped by you")
        await page.screenshot(path=shot("05-stopped"))


async def test_a_failed_launch_says_why(server: RunningServer, site: str) -> None:
    async with logged_in(server) as page:
        dialog = await launch_form(page, "webapp", "box")
        await dialog.get_by_test_id("launch-field-app_command").fill("no-such-server --port {port}")
        await dialog.get_by_test_id("launch-submit").click()
        progress = dialog.get_by_test_id("launch-progress")
        await expect(progress).to_have_attribute("data-state", "failed", timeout=60_000)
        await expect(dialog.get_by_test_id("launch-failure")).to_contain_text("was not found")
        await expect(dialog.get_by_test_id("launch-log")).to_contain_text("no-such-server")
        # The step that failed says so; none claims the program started.
        last = dialog.get_by_test_id("launch-step").last
        await expect(last).to_have_attribute("data-status", "failed")
        await expect(last).to_contain_text("command was not found")
        await expect(progress).not_to_contain_text("started")
        await page.screenshot(path=shot("06-failed"))


async def test_a_failure_quotes_the_app_and_edit_and_retry_launches_again(
    server: RunningServer, site: str
) -> None:
    async with logged_in(server) as page:
        dialog = await launch_form(page, "webapp", "box")
        # box is no SLURM login node: only "On the resource itself" is offered, and why
        # the other is missing is said.
        missing = dialog.get_by_test_id("launch-launcher-missing")
        await expect(missing).to_contain_text("is not offered on box")
        await expect(dialog.get_by_test_id("launch-launcher")).to_have_count(0)
        # Help texts show commands as code, without backticks.
        environment_help = dialog.locator("#launch-environment-help")
        await expect(environment_help.locator("code").first).to_be_visible()
        await expect(environment_help).not_to_contain_text("`")
        await dialog.get_by_test_id("launch-field-workdir").fill(site)
        await dialog.get_by_test_id("launch-field-environment").fill("export GREETING=hello")
        await dialog.get_by_test_id("launch-field-app_command").fill(FAILS)
        await dialog.get_by_test_id("launch-submit").click()

        await expect_the_failure_quoted(dialog)
        await page.screenshot(path=shot("06b-failure-quoted"))

        # Edit and retry: the form again with exactly what was sent.
        await dialog.get_by_test_id("launch-action-retry").click()
        command = dialog.get_by_test_id("launch-field-app_command")
        await expect(command).to_have_value(FAILS)
        await expect(dialog.get_by_test_id("launch-field-environment")).to_have_value(
            "export GREETING=hello"
        )
        await expect(dialog.get_by_test_id("launch-field-workdir")).to_have_value(site)
        resource = dialog.get_by_test_id("launch-resource")
        await expect(resource.locator("option:checked")).to_have_text("box")
        await page.screenshot(path=shot("06c-retry-form"))
        await command.fill(SERVES)
        await dialog.get_by_test_id("launch-submit").click()
        app = page.get_by_test_id("app-pane")
        await expect(app).to_have_attribute("data-state", "running", timeout=60_000)
        session_id = str(await app.get_attribute("data-session-id"))

        # Another app on the same resource starts with its environment lines, which
        # the user can forget.
        dialog = await launch_form(page, "tensorboard", "box")
        environment = dialog.get_by_test_id("launch-field-environment")
        await expect(environment).to_have_value("export GREETING=hello")
        await expect(dialog.locator("#launch-workdir-help")).not_to_contain_text("JupyterLab")
        await page.screenshot(path=shot("06d-remembered-environment"))
        await dialog.get_by_test_id("launch-forget-environment").click()
        await expect(environment).to_have_value("")
        await expect(dialog.get_by_test_id("launch-forget-environment")).to_have_count(0)
        await dialog.get_by_test_id("launch-close").click()
    stop(server, session_id)


async def test_jupyterlab_runs_a_notebook_cell(
    server: RunningServer, sshd: SshServer, apps_env: AppsEnv
) -> None:
    api = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        rid = api.add_key_resource("lab", sshd, setup_lines=[f"export PATH={apps_env.bin}:$PATH"])
        notebook = {"demo.ipynb": json.dumps(NOTEBOOK).encode()}
        folder = fresh_folder(api, rid, f"{sshd.user.home}/browser-notebooks", notebook)
    finally:
        api.close()
    async with logged_in(server) as page:
        dialog = await launch_form(page, "jupyterlab", "lab")
        await dialog.get_by_test_id("launch-field-workdir").fill(folder)
        await dialog.get_by_test_id("launch-submit").click()
        await expect(dialog.get_by_test_id("launch-progress")).to_be_visible()
        await page.screenshot(path=shot("07-jupyter-progress"))
        session_id = await jupyterlab_in_its_pane(page, "08-jupyter-pane")

        # The notebook in JupyterLab's own tab (sessions open in a tab of their own too).
        await page.goto(f"{server.url}/s/{session_id}/lab/tree/demo.ipynb")
        cell = page.locator(".jp-Notebook .jp-Cell").first
        try:
            await expect(cell).to_be_visible(timeout=60_000)
        finally:
            await page.screenshot(path=shot("09-jupyter-notebook"))
        # The kernel started and connected through the proxied WebSocket.
        await expect(page.get_by_text("| Idle")).to_be_visible(timeout=90_000)
        await cell.locator(".jp-InputArea-editor").click()
        await page.keyboard.press("Shift+Enter")
        await expect(page.locator(".jp-OutputArea-output").first).to_have_text("42", timeout=60_000)
        await page.screenshot(path=shot("09-jupyter-cell"))


def add_resource(server: RunningServer, name: str, sshd: SshServer, *setup_lines: str) -> int:
    api = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        return api.add_key_resource(name, sshd, setup_lines=list(setup_lines))
    finally:
        api.close()


async def test_open_in_tensorboard_from_the_file_browser(
    server: RunningServer, sshd: SshServer, apps_env: AppsEnv
) -> None:
    add_resource(server, "tb", sshd, f"export PATH={apps_env.bin}:$PATH")
    with user_directory(sshd.user) as home:
        logdir = home / "training-logs"
        write_scalars(apps_env, logdir / "run1", sshd.user, tag="loss", values=(1.0, 0.5, 0.3))
        async with logged_in(server) as page:
            files = await open_files(page, "tb", home)
            await file_row(files, "training-logs").click(button="right")
            await page.get_by_test_id("menu-tensorboard").click()
            dialog = page.get_by_test_id("launch-dialog")
            await expect(dialog.get_by_test_id("launch-field-logdir")).to_have_value(str(logdir))
            await page.screenshot(path=shot("10-tensorboard-form"))
            await dialog.get_by_test_id("launch-submit").click()
            app = page.get_by_test_id("app-pane")
            await expect(app).to_have_attribute("data-state", "running", timeout=120_000)
            # TensorBoard's scalars dashboard, in the pane: the run and a card for the tag.
            frame = page.frame_locator("[data-testid=app-frame]")
            await expect(frame.get_by_text("run1").first).to_be_visible(timeout=60_000)
            card = frame.locator("scalar-card, .scalar-card, [class*=card]").filter(has_text="loss")
            await expect(card.first).to_be_visible(timeout=60_000)
            await page.wait_for_timeout(1000)  # the chart draws after its card appears
            await page.screenshot(path=shot("11-tensorboard"))
            session_id = await app.get_attribute("data-session-id")
    stop(server, str(session_id))


def stop(server: RunningServer, session_id: str) -> None:
    api = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        assert api.post(f"/api/v1/sessions/{session_id}/stop").status_code == 200
        wait_for(api, session_id, "stopped")
    finally:
        api.close()


@pytest.fixture(scope="module")
def cluster(server: RunningServer, sshd: SshServer, apps_env: AppsEnv, slurm: SlurmCluster) -> int:
    """The same machine as a SLURM login node, with the apps on the PATH."""
    return add_resource(
        server, "cluster", sshd, f"export PATH={apps_env.bin}:$PATH", slurm.setup_lines
    )


async def as_a_slurm_job(dialog: Locator) -> None:
    """Choose the SLURM launcher and type a small job's resources into its fields."""
    await dialog.get_by_test_id("launch-launcher").select_option("slurm")
    await dialog.get_by_test_id("launch-field-cpus").fill("1")
    await dialog.get_by_test_id("launch-field-memory_gb").fill("1")
    await dialog.get_by_test_id("launch-field-walltime_minutes").fill("20")
    await dialog.get_by_test_id("launch-field-partition").fill("debug")


async def test_jupyterlab_as_a_slurm_job(
    server: RunningServer, cluster: int, slurm: SlurmCluster
) -> None:
    async with logged_in(server) as page:
        dialog = await launch_form(page, "jupyterlab", "cluster")
        await as_a_slurm_job(dialog)
        await page.screenshot(path=shot("12-slurm-form"))
        await dialog.get_by_test_id("launch-submit").click()
        steps = dialog.get_by_test_id("launch-progress")
        await expect(steps).to_contain_text("Submitted to SLURM (job ", timeout=60_000)
        session_id = await jupyterlab_in_its_pane(page, "13-slurm-jupyterlab")
        # The Sessions pane says where it runs and until when (the job's time limit).
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-sessions").click()
        row = page.locator(f"[data-testid=session-row][data-session-id='{session_id}']")
        await expect(row).to_have_attribute("data-state", "running")
        await expect(row).to_contain_text("slurm")
        await page.screenshot(path=shot("14-slurm-list"))
        await row.get_by_test_id("session-stop").click()
        await expect(row).to_have_attribute("data-state", "stopped", timeout=60_000)
    api = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        progress = api.get(f"/api/v1/sessions/{session_id}").json()["progress"]
    finally:
        api.close()
    assert any(f"Running on {slurm.node_name}" in line for line in progress), progress


async def test_tensorboard_as_a_slurm_job(
    server: RunningServer, cluster: int, sshd: SshServer, apps_env: AppsEnv
) -> None:
    with user_directory(sshd.user) as home:
        logdir = home / "cluster-logs"
        write_scalars(apps_env, logdir / "scan7", sshd.user, tag="accuracy", values=(0.5, 0.9))
        async with logged_in(server) as page:
            dialog = await launch_form(page, "tensorboard", "cluster")
            await dialog.get_by_test_id("launch-field-logdir").fill(str(logdir))
            await as_a_slurm_job(dialog)
            await dialog.get_by_test_id("launch-submit").click()
            steps = dialog.get_by_test_id("launch-progress")
            await expect(steps).to_contain_text("Submitted to SLURM (job ", timeout=60_000)
            app = page.get_by_test_id("app-pane")
            await expect(app).to_have_attribute("data-state", "running", timeout=180_000)
            frame = page.frame_locator("[data-testid=app-frame]")
            await expect(frame.get_by_text("scan7").first).to_be_visible(timeout=60_000)
            card = frame.locator("scalar-card, .scalar-card, [class*=card]").filter(
                has_text="accuracy"
            )
            await expect(card.first).to_be_visible(timeout=60_000)
            await page.wait_for_timeout(1000)  # the chart draws after its card appears
            await page.screenshot(path=shot("14b-slurm-tensorboard"))
            session_id = await app.get_attribute("data-session-id")
    stop(server, str(session_id))


def make_idle(server: RunningServer, session_id: str, minutes: int) -> None:
    """Make the session look idle for ``minutes`` (the test's clock cannot wait)."""
    with sqlite3.connect(server.data_dir / "labgate.sqlite3") as db:
        db.execute(
            "UPDATE app_sessions SET last_activity_at = datetime('now', ?) WHERE id = ?",
            (f"-{minutes} minutes", session_id),
        )


async def test_idle_sessions_are_warned_kept_across_a_restart_and_cleaned_up(
    server: RunningServer, site: str
) -> None:
    api = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        listed = api.get("/api/v1/resources").json()["resources"]
        rid = next(r["id"] for r in listed if r["name"] == "box")
        form = {"app_command": "python3 -m http.server {port} --bind 127.0.0.1", "workdir": site}
        kept, culled = (launch(api, rid, "webapp", form=form)["id"] for _ in range(2))
        for session_id in (kept, culled):
            wait_for(api, session_id, "running")
            # Idle for 55 of its 60 minutes: warned (10 minutes before), not yet stopped.
            make_idle(server, session_id, 55)
        eventually_sync(
            lambda: all(
                api.get(f"/api/v1/sessions/{i}").json()["warned_at"] for i in (kept, culled)
            ),
            what="a warning about each idle session",
        )
    finally:
        api.close()

    # The browser closed, the server restarted: both still run, still warned about.
    assert server.stop() == 0
    server.start()
    server.wait_until_healthy()
    async with logged_in(server) as page:
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-sessions").click()
        rows = {
            i: page.locator(f"[data-testid=session-row][data-session-id='{i}']")
            for i in (kept, culled)
        }
        for row in rows.values():
            await expect(row).to_have_attribute("data-state", "running")
            await expect(row.get_by_test_id("session-warning")).to_be_visible()
        await page.screenshot(path=shot("15-warned-after-restart"))

        # One is left idle past its limit: stopped while the user looks, saying why.
        make_idle(server, culled, 61)
        await expect(rows[culled]).to_have_attribute("data-state", "stopped", timeout=30_000)
        await expect(rows[culled].get_by_test_id("session-message")).to_have_text(
            "no activity for 60 minutes"
        )
        await expect(rows[culled].get_by_test_id("session-time-left")).to_contain_text("Ended ")

        # The other is opened (activity; the app answers through the restarted server)
        # and extended.
        await rows[kept].get_by_test_id("session-open").click()
        frame = page.frame_locator("[data-testid=app-frame]")
        await expect(frame.locator("#hello")).to_have_text("Hello from the app")
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-sessions").click()
        await rows[kept].get_by_test_id("session-extend").click()
        await expect(rows[kept].get_by_test_id("session-warning")).to_be_hidden(timeout=30_000)
        await expect(rows[kept]).to_have_attribute("data-state", "running")
        await page.screenshot(path=shot("16-culled-and-extended"))
    stop(server, kept)
