"""The reconcile loop with real apps on the ``local`` resource, in-process: one user's
app that accepts connections and never answers (stopped with SIGSTOP) holds up nobody
else's idle limits; its check is given up in time, logged, its lease released, and the
session not failed for it; a launch whose app never answers fails at its start timeout.

The apps are Python's own http.server run by the user's daemon (the "Web app" template,
and a copy of it that labgate asks whether it is busy as it asks JupyterLab).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from labgate.db.engine import Database
from labgate.db.models import AppSession
from labgate.db.types import utcnow
from labgate.sessions.templates import WEBAPP
from labgate.settings import Settings
from labgate.state import AppState
from tests.support.accounts import AccountFactory
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.local_sessions import launch, private_daemon, wait_for

SERVE = "python3 -m http.server {port} --bind 127.0.0.1"
# An app asked for its kernels like JupyterLab (http.server answers 404: not busy).
ASKED = dataclasses.replace(WEBAPP, id="webapp-asked", title="Asked web app", activity="jupyter")


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """The daemon's own directory; the daemon and the apps ended by PID at the end."""
    with private_daemon() as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: Path, request: pytest.FixtureRequest) -> Settings:
    """Everyone may use ``local``; a round every second; what a test asks for on top."""
    return settings.model_copy(
        update={
            "local_resource": "everyone",
            "agent_runtime_dir": str(runtime_dir),
            "daemon_idle_minutes": 1,
            "app_reconcile_seconds": 1,
            "app_idle_minutes": 60,
            # A question to a stopped app stays unanswered for as long as the tests look.
            "app_probe_timeout_seconds": 300,
            "app_check_timeout_seconds": 50,
            **getattr(request, "param", {}),
        }
    )


@pytest.fixture
def state(app: Any) -> AppState:
    state: AppState = app.state.labgate
    state.templates[ASKED.id] = ASKED
    return state


async def row_of(database: Database, session_id: str) -> AppSession:
    async with database.read() as db:
        row = await db.get(AppSession, session_id)
    assert row is not None
    return row


def waiting_connections(port: int) -> int:
    """Connections the kernel accepted for the app listening on 127.0.0.1:``port`` that
    the app has not taken (its listening socket's accept queue, in /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, socket_state, queues = fields[1], fields[3], fields[4]
        if socket_state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
            return int(queues.split(":")[1], 16)
    return 0


async def stopped_app(database: Database, session_id: str) -> int:
    """Stop the session's app with SIGSTOP; its port."""
    launched = (await row_of(database, session_id)).launcher_state
    os.kill(int(launched["pid"]), signal.SIGSTOP)
    return int(launched["endpoint"]["port"])


async def until_asked(port: int) -> None:
    """Until a question to the stopped app is waiting for its answer."""
    await eventually(lambda: waiting_connections(port), what=f"a question waiting at {port}")


async def test_a_stuck_app_holds_up_no_other_users_session(
    accounts: AccountFactory, state: AppState, database: Database
) -> None:
    alice = await accounts.login("alice")
    bob = await accounts.login("bob")
    stuck = await launch(alice, ASKED.id, SERVE)
    idle = await launch(bob, WEBAPP.id, SERVE)
    await wait_for(alice, stuck, "running")
    idle_minutes = (await wait_for(bob, idle, "running"))["idle_minutes"]

    # Alice's app stops answering while labgate asks it whether it is busy.
    await until_asked(await stopped_app(database, stuck))
    # Bob's session is idle past its limit only now, while Alice's check hangs.
    async with database.session() as db:
        await db.execute(
            update(AppSession)
            .where(AppSession.id == idle)
            .values(last_activity_at=utcnow() - timedelta(minutes=idle_minutes + 1))
        )

    # The next rounds stop Bob's session all the same, well before Alice's check gives up
    # (app_check_timeout_seconds, 50 s): a bound that is what is tested, not a patience.
    async with asyncio.timeout(20):
        stopped = await wait_for(bob, idle, "stopped")
    assert stopped["message"] == f"no activity for {idle_minutes} minutes"
    # Alice's check still waits, holding her session's lease; her session is not failed.
    row = await row_of(database, stuck)
    assert row.state == "running"
    assert row.lease_owner == state.lifecycle.replica


@pytest.mark.parametrize(
    "settings", [{"app_reconcile_seconds": 3600, "app_check_timeout_seconds": 2}], indirect=True
)
async def test_a_stuck_check_is_given_up_logged_and_its_lease_released(
    accounts: AccountFactory,
    state: AppState,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice = await accounts.login("alice")
    stuck = await launch(alice, ASKED.id, SERVE)
    await wait_for(alice, stuck, "running")
    port = await stopped_app(database, stuck)

    with caplog.at_level(logging.WARNING, logger="labgate.sessions.reconcile"):
        async with asyncio.timeout(PATIENCE_SECONDS):
            await state.reconciler.reconcile_once()
    assert waiting_connections(port) > 0  # it was asked, and did not answer
    assert f"session {stuck}: its check took longer than 2 s" in caplog.text
    row = await row_of(database, stuck)
    assert row.state == "running"
    assert row.message == ""
    assert (row.lease_owner, row.lease_until) == ("", None)


@pytest.mark.parametrize(
    "settings", [{"app_start_timeout_seconds": 5, "app_probe_timeout_seconds": 2}], indirect=True
)
async def test_a_launch_whose_app_never_answers_fails_at_its_start_timeout(
    accounts: AccountFactory,
) -> None:
    alice = await accounts.login("alice")
    # It listens, so connections are accepted, and never answers any.
    silent = await launch(
        alice,
        WEBAPP.id,
        "python3 -c 'import socket, sys, time; s = socket.socket(); "
        's.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); '
        "time.sleep(600)' {port}",
    )
    failed = await wait_for(alice, silent, "failed")
    assert "did not answer within 5 seconds" in failed["message"]
