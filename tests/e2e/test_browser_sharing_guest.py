"""A real TensorBoard shared with a GUEST, in Chromium: its page and its charts' data load
through labgate's proxy with only what a guest may send (GET, and the POSTs the template
lists as reading only), nothing is refused, and the chart shows the run's scalars. This
is what lets the TensorBoard template say ``guest_view``.

Shared web apps are served from origins of their own (``app_domain``): labgate at
``labgate.localhost``, the app at ``<session>.apps.labgate.localhost`` (Chromium resolves
every ``*.localhost`` name to the loopback address)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.apps import AppsEnv
from tests.support.browser import chromium, results_dir
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.proxied import running_session, state_of
from tests.support.server import free_port
from tests.support.serving import serving

pytestmark = pytest.mark.e2e

# Another copy of the screenshot, where a person looks at it (a directory), if set.
SHOTS = os.environ.get("LABGATE_SHARING_SHOTS", "")


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-sharing-tb-") as path:
        yield path


@pytest.fixture
def port() -> int:
    """Where labgate is served (its public_url names it)."""
    return free_port()


@pytest.fixture
def settings(settings: Settings, runtime_dir: str, port: int) -> Settings:
    return settings.model_copy(
        update={
            "agent_runtime_dir": runtime_dir,
            "local_resource": "everyone",
            "public_url": f"http://labgate.localhost:{port}",
            "app_domain": "{session}.apps.labgate.localhost",
        }
    )


@contextlib.contextmanager
def tensorboard(env: AppsEnv, logdir: Path, prefix: str, port: int) -> Iterator[None]:
    """TensorBoard on 127.0.0.1:``port`` below ``prefix``, stopped by its PID."""
    process = subprocess.Popen(
        [
            str(env.tensorboard),
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--path_prefix",
            prefix,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def scalars(env: AppsEnv, logdir: Path) -> None:
    code = (
        "from tensorboard.summary import Writer\n"
        f"w = Writer({str(logdir / 'run1')!r})\n"
        "for step in range(20):\n"
        "    w.add_scalar('loss', 1.0 / (step + 1), step)\n"
        "w.close()\n"
    )
    subprocess.run([str(env.bin / "python"), "-c", code], check=True)


@pytest.fixture
async def guest_and_board(
    app: Any, accounts: AccountFactory, apps_env: AppsEnv, tmp_path: Path
) -> AsyncIterator[tuple[LoggedIn, str]]:
    olga = await accounts.login("olga")
    guest = await accounts.login("gina")
    state = state_of(app)
    app_port = free_port()
    session_id = await running_session(
        state.database, state.session_tokens, "olga", app_port, template="tensorboard"
    )
    shared = await olga.post(
        f"/api/v1/sessions/{session_id}/shares", json={"user": "gina", "role": "guest"}
    )
    assert shared.status_code == 201, shared.text
    # A token of hers, for asking whether TensorBoard answers (a script is served on
    # labgate's origin; her browser is sent on to the app's).
    made = await guest.post("/api/v1/tokens", json={"name": "probe", "scopes": ["write"]})
    assert made.status_code == 201, made.text
    bearer = {"Authorization": f"Bearer {made.json()['secret']}"}
    scalars(apps_env, tmp_path / "logs")
    with tensorboard(apps_env, tmp_path / "logs", f"/s/{session_id}", app_port):

        async def answers() -> bool:
            return (await guest.get(f"/s/{session_id}/", headers=bearer)).status_code == 200

        await eventually(answers, what="TensorBoard answering through the proxy")
        yield guest, session_id
    await accounts.close()


async def test_a_guest_sees_tensorboard_s_charts(
    app: Any, guest_and_board: tuple[LoggedIn, str], port: int
) -> None:
    guest, session_id = guest_and_board
    labgate = f"http://labgate.localhost:{port}"
    async with serving(app, port), chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        await context.add_cookies(
            [{"name": k, "value": v, "url": labgate} for k, v in guest.http.cookies.items()]
        )
        page = await context.new_page()
        sent: list[tuple[str, str, int]] = []
        page.on("response", lambda r: sent.append((r.request.method, r.url, r.status)))
        await page.goto(f"{labgate}/s/{session_id}/#timeseries")
        # Sent on to the app's own origin, and signed in there.
        assert page.url.startswith(f"http://{session_id}.apps.labgate.localhost:{port}/")
        await page.get_by_text("loss").first.wait_for(timeout=PATIENCE_SECONDS * 1000)

        async def chart_data() -> bool:
            return any(m == "POST" and "timeSeries" in u and s == 200 for m, u, s in sent)

        await eventually(chart_data, what="the chart's data, POSTed and answered")
        await page.locator("canvas, svg.line-chart, line-chart").first.wait_for(
            timeout=PATIENCE_SECONDS * 1000
        )
        shot = results_dir() / "sharing-guest-tensorboard.png"
        await page.screenshot(path=str(shot))
        if SHOTS:
            await page.screenshot(path=str(Path(SHOTS) / "guest-tensorboard.png"))
    refused = [(m, u, s) for m, u, s in sent if s == 403]
    assert not refused, refused
    assert {m for m, _, _ in sent} <= {"GET", "POST"}
