"""The ``terminal`` launcher: a terminal its owner shares, as a session.

Sharing a terminal (:mod:`labgate.sessions.terminal_share`) makes a session that points
at a process the owner's daemon runs already, so that shares, invitations, support,
who is connected, audit and the closing of revoked sockets work as for any app. This
launcher starts nothing and ends nothing: ``start`` records the process, ``poll`` asks
the owner's daemon whether it still runs (once it has ended, so has the session), and
``stop`` leaves it running. Stopping the session ends the sharing, never the owner's
terminal, which is theirs to close. It is not offered in the launch form
(``launchable``), and ``POST /sessions`` refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labgate.agent.typed import RemoteProcesses
from labgate.launching.launcher import LaunchFailed, LaunchRequest, Poll, ResourceAccess
from labgate.plugins import hookimpl

NAME = "terminal"


class TerminalLauncher:
    name = NAME
    batch = False
    title = "A terminal that runs already"
    #: Not in the launch form: its sessions are made by sharing a terminal.
    launchable = False

    async def start(self, resource: ResourceAccess, request: LaunchRequest) -> dict[str, Any]:
        """The process named in the form (``process_id``), if it is the owner's and runs."""
        process_id = str(request.form.get("process_id") or "")
        agent = await resource.agent()
        for process in await RemoteProcesses(agent).processes():
            if process.id == process_id and process.owner == request.owner_tag:
                if not process.running:
                    raise LaunchFailed("The terminal has ended.")
                return {"process_id": process.id, "owner": request.owner_tag}
        raise LaunchFailed("There is no such terminal of yours on this resource.")

    async def unusable(self, resource: ResourceAccess, setup_lines: Sequence[str]) -> str | None:
        return None

    async def poll(self, resource: ResourceAccess, state: Mapping[str, Any]) -> Poll:
        agent = await resource.agent()
        process_id, owner = str(state["process_id"]), str(state["owner"])
        for process in await RemoteProcesses(agent).processes():
            if process.id == process_id and process.owner == owner:
                if process.running:
                    return Poll("running", "running")
                return Poll("ended", "The terminal was closed.", failed=False)
        return Poll("ended", "The terminal is gone (was the resource restarted?).", failed=False)

    async def stop(self, resource: ResourceAccess, state: Mapping[str, Any]) -> None:
        """Nothing: the sharing ends with the session, the terminal runs on."""

    async def log(self, resource: ResourceAccess, state: Mapping[str, Any], max_bytes: int) -> str:
        return ""


@hookimpl
def register_launchers() -> list[TerminalLauncher]:
    return [TerminalLauncher()]
