"""The apps environment's setup on a real resource ("Set up JupyterLab and TensorBoard for
me"): this machine over SSH as the test account, whose PATH has no JupyterLab, with
``app_setup_wheel_directory`` set to a wheel directory of the pins (no internet).

A launch of JupyterLab fails as "not found" and offers the setup; a wheel directory that
lacks a wheel makes the setup fail with pip's error; in a browser, the button sets the
environment up with a progress bar, and the app launched again opens in a pane; then
JupyterLab and TensorBoard answer through the proxy and a second setup changes nothing.
The environment is built once, by the browser test (the tests run in file order); the
API test after it sets it up itself when run alone.

Screenshots go to test-results/app-setup-*.png to be looked at.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from labgate.launching import apps_environment
from tests.support.apps import AppsEnv, write_scalars
from tests.support.browser import chromium, results_dir
from tests.support.eventually import PATIENCE_SECONDS, eventually_sync
from tests.support.labgate_api import Browser, labgate_server
from tests.support.processes import user_directory
from tests.support.server import RunningServer
from tests.support.sessions import another_user, launch, wait_for
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = pytest.mark.e2e

RETRY = {"kind": "retry", "label": "Edit and retry", "resource_id": None}

ADMIN_PASSWORD = "admin password for the apps setup"
# A user who has never set anything up (the daemon remembers the admin's failed setup).
NEWCOMER, NEWCOMER_PASSWORD = "newcomer", "newcomer's password for the apps setup"
# The wheel the directory lacks for the failing setup.
LEFT_OUT = "six"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture(scope="module")
def wheels(sshd: SshServer, apps_env: AppsEnv) -> Iterator[Path]:
    """A wheel directory the test account reads: every wheel of the pins but
    :data:`LEFT_OUT`'s (:func:`complete_wheels` adds it)."""
    with user_directory(sshd.user, "labgate-wheels-") as directory:
        for wheel in apps_env.wheels.glob("*.whl"):
            if not wheel.name.startswith(f"{LEFT_OUT}-"):
                (directory / wheel.name).symlink_to(wheel)
        yield directory


def complete_wheels(wheels: Path, apps_env: AppsEnv) -> None:
    for wheel in apps_env.wheels.glob(f"{LEFT_OUT}-*.whl"):
        (wheels / wheel.name).unlink(missing_ok=True)
        (wheels / wheel.name).symlink_to(wheel)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Iterator[RunningServer]:
    env = {
        "LABGATE_APP_RECONCILE_SECONDS": "2",
        "LABGATE_APP_START_TIMEOUT_SECONDS": "120",
        "LABGATE_APP_SETUP_WHEEL_DIRECTORY": str(wheels),
    }
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[Browser]:
    browser = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def box(admin: Browser, sshd: SshServer) -> int:
    """The resource, as a fresh machine has it: no JupyterLab on its PATH."""
    return admin.add_key_resource("box", sshd)


def environments(sshd: SshServer) -> Path:
    return sshd.user.home / apps_environment.ENVIRONMENTS_DIR


@pytest.fixture
def no_apps_environment(sshd: SshServer) -> None:
    """The test account has no apps environment (an earlier run's is removed)."""
    shutil.rmtree(environments(sshd), ignore_errors=True)


def setup_state(browser: Browser, rid: int) -> dict[str, Any]:
    answer = browser.get(f"/api/v1/resources/{rid}/app-setup")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def until_setup_ends(browser: Browser, rid: int) -> tuple[dict[str, Any], list[float]]:
    """The setup's state once it ended, and the fractions seen on the way."""
    fractions: list[float] = []

    def ended() -> dict[str, Any]:
        state = setup_state(browser, rid)
        fractions.append(state["fraction"])
        assert state["state"] in ("succeeded", "failed"), state["step"]
        return state

    return eventually_sync(ended, what="the apps setup to end"), fractions


def failed_jupyterlab(browser: Browser, rid: int) -> dict[str, Any]:
    session = launch(browser, rid, "jupyterlab")
    return wait_for(browser, session["id"], "failed")


@pytest.mark.usefixtures("no_apps_environment")
def test_a_launch_without_jupyterlab_offers_the_setup(admin: Browser, box: int) -> None:
    failed = failed_jupyterlab(admin, box)
    assert failed["message"].startswith("jupyter-lab was not found on the resource."), failed
    assert failed["actions"] == [
        {"kind": "setup_apps", "label": apps_environment.OFFER, "resource_id": box},
        RETRY,
    ]
    assert setup_state(admin, box)["state"] == "absent"
    # A web app whose own command is missing is the user's to fix: no offer.
    webapp = launch(admin, box, "webapp", form={"app_command": "no-such-app --port {port}"})
    assert wait_for(admin, webapp["id"], "failed")["actions"] == [RETRY]


@pytest.mark.usefixtures("no_apps_environment")
def test_a_wheel_missing_from_the_directory_shows_pips_error(
    admin: Browser, box: int, sshd: SshServer
) -> None:
    started = admin.post(f"/api/v1/resources/{box}/app-setup")
    assert started.status_code == 202, started.text
    failed, _ = until_setup_ends(admin, box)
    assert failed["state"] == "failed", failed["log"]
    assert failed["message"].startswith("pip could not install the apps"), failed
    assert any(f"{LEFT_OUT}==" in line for line in failed["errors"]), failed["errors"]
    assert all(line.startswith("ERROR: ") for line in failed["errors"])
    assert "Looking in links:" in failed["log"]
    directory = environments(sshd) / apps_environment.digest()
    assert not (directory / apps_environment.STAMP_NAME).exists()


def shot(name: str) -> str:
    return str(results_dir() / f"app-setup-{name}.png")


async def logged_in_page(page: Page, server: RunningServer) -> None:
    await page.goto(server.url)
    await page.get_by_test_id("login-username").fill(NEWCOMER)
    await page.get_by_test_id("login-password").fill(NEWCOMER_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("workspace")).to_be_visible()


@pytest.mark.browser
@pytest.mark.usefixtures("no_apps_environment")
async def test_the_button_sets_up_jupyterlab_which_then_opens_in_a_pane(
    server: RunningServer, admin: Browser, sshd: SshServer, wheels: Path, apps_env: AppsEnv
) -> None:
    complete_wheels(wheels, apps_env)
    with another_user(admin, NEWCOMER, NEWCOMER_PASSWORD) as newcomer:
        newcomer.add_key_resource("box", sshd)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 820})
        await logged_in_page(page, server)
        await page.get_by_test_id("pane-menu").click()
        await page.get_by_test_id("pane-menu-launcher").click()
        await page.get_by_test_id("launch-card-jupyterlab").click()
        dialog = page.get_by_test_id("launch-dialog")
        await dialog.get_by_test_id("launch-resource").select_option(label="box")
        await dialog.get_by_test_id("launch-submit").click()

        progress = dialog.get_by_test_id("launch-progress")
        await expect(progress).to_have_attribute("data-state", "failed", timeout=60_000)
        await expect(dialog.get_by_test_id("launch-failure")).to_contain_text("was not found")
        offer = dialog.get_by_test_id("app-setup")
        start = offer.get_by_test_id("app-setup-start")
        await expect(start).to_have_text(apps_environment.OFFER)
        await page.screenshot(path=shot("01-offer"))

        await start.click()
        await expect(offer).to_have_attribute("data-state", "running")
        await expect(offer.get_by_test_id("app-setup-step")).to_contain_text(
            "Installing", timeout=PATIENCE_SECONDS * 1000
        )
        # The bar moves with each pin pip collects (from 10 % to 70 %), then the install.
        await expect(offer.get_by_test_id("app-setup-progress")).to_have_attribute(
            "aria-valuenow", re.compile(r"^[3-9]\d$"), timeout=PATIENCE_SECONDS * 1000
        )
        await page.screenshot(path=shot("02-progress"))

        await expect(offer).to_have_attribute(
            "data-state", "succeeded", timeout=PATIENCE_SECONDS * 1000
        )
        await expect(offer.get_by_test_id("app-setup-done")).to_contain_text("are set up")
        await page.screenshot(path=shot("03-done"))

        await offer.get_by_test_id("app-setup-relaunch").click()
        app = page.get_by_test_id("app-pane")
        await expect(app).to_have_attribute("data-state", "running", timeout=180_000)
        frame = page.frame_locator("[data-testid=app-frame]")
        await expect(frame.locator(".jp-LabShell")).to_be_visible(timeout=60_000)
        await expect(frame.locator(".jp-DirListing")).to_be_visible()
        await page.screenshot(path=shot("04-jupyterlab"))


def test_jupyterlab_and_tensorboard_answer_after_the_setup(
    admin: Browser, box: int, sshd: SshServer, wheels: Path, apps_env: AppsEnv
) -> None:
    complete_wheels(wheels, apps_env)
    started = admin.post(f"/api/v1/resources/{box}/app-setup")
    assert started.status_code == 202, started.text
    done, fractions = until_setup_ends(admin, box)
    assert (done["state"], done["fraction"]) == ("succeeded", 1.0), done["log"]
    assert fractions == sorted(fractions)
    stamp = environments(sshd) / apps_environment.digest() / apps_environment.STAMP_NAME
    built = stamp.stat().st_mtime_ns

    lab = launch(admin, box, "jupyterlab")
    running = wait_for(admin, lab["id"], "running", "failed")
    assert running["state"] == "running", running["message"]
    status = admin.get(f"/s/{lab['id']}/api/status")
    assert status.status_code == 200, status.text
    assert "started" in status.json()

    with user_directory(sshd.user, "labgate-runs-") as runs:
        write_scalars(apps_env, runs / "run1", sshd.user)
        board = launch(admin, box, "tensorboard", form={"logdir": str(runs)})
        running = wait_for(admin, board["id"], "running", "failed")
        assert running["state"] == "running", running["message"]

        def runs_listed() -> list[str]:
            answer = admin.get(f"/s/{board['id']}/data/runs")
            assert answer.status_code == 200, answer.text
            found: list[str] = answer.json()
            assert found, "no run yet"
            return found

        assert eventually_sync(runs_listed, what="TensorBoard's runs") == ["run1"]

    # Set up already: a second setup finds it complete and leaves it as it is.
    again = admin.post(f"/api/v1/resources/{box}/app-setup")
    assert again.status_code == 202, again.text
    done, _ = until_setup_ends(admin, box)
    assert done["state"] == "succeeded"
    assert stamp.stat().st_mtime_ns == built
