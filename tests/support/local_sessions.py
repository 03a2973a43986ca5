"""Sessions on the ``local`` resource for in-process tests (``tests/conftest.py``'s
``app`` and ``accounts``): ``launch`` and ``wait_for`` through the API, and
``private_daemon()``, a runtime directory of the test's own (pass it as
``agent_runtime_dir``), so that the daemon labgate starts there is the test's alone; at
the end it ends that daemon, its agents and everything they started, by PID (apps a
test stopped with SIGSTOP are continued first, so that they can take SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.accounts import LoggedIn
from tests.support.daemons import daemon_runtime_dir, processes_using
from tests.support.eventually import eventually
from tests.support.processes import descendants, end_processes

# Seconds the apps have between SIGTERM and SIGKILL: they are throw-away servers.
GRACE_SECONDS = 2.0


@contextlib.contextmanager
def private_daemon() -> Iterator[Path]:
    """A fresh runtime directory (short, for the daemon's socket path); on exit the
    apps below its daemon are ended (continued first), then the daemon and its agents."""
    with daemon_runtime_dir("lg-") as path:
        try:
            yield Path(path)
        finally:
            apps = [child for pid in processes_using(path) for child in descendants(pid)]
            for pid, _ in apps:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            end_processes(apps, GRACE_SECONDS)


async def local_id(client: LoggedIn) -> int:
    """The id of the ``local`` resource, as ``client`` sees it."""
    listing = (await client.get("/api/v1/resources")).json()["resources"]
    found: int = next(r for r in listing if r["kind"] == "local")["id"]
    return found


async def launch_request(client: LoggedIn, template: str, command: str) -> httpx.Response:
    """POST /api/v1/sessions: ``template`` (a web app's) on ``local``, running ``command``."""
    return await client.post(
        "/api/v1/sessions",
        json={
            "template": template,
            "resource_id": await local_id(client),
            "form": {"app_command": command},
        },
    )


async def launch(client: LoggedIn, template: str, command: str) -> str:
    """A new session's id (see :func:`launch_request`)."""
    answer = await launch_request(client, template, command)
    assert answer.status_code == 201, answer.text
    session_id: str = answer.json()["id"]
    return session_id


async def wait_for(client: LoggedIn, session_id: str, *states: str) -> dict[str, Any]:
    """The session once it is in one of ``states``."""

    async def check() -> dict[str, Any]:
        session: dict[str, Any] = (await client.get(f"/api/v1/sessions/{session_id}")).json()
        assert session["state"] in states, session
        return session

    return await eventually(check, what=f"session {session_id} {' or '.join(states)}")
