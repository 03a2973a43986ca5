"""The ``direct`` launcher: the user's daemon on the resource starts the app.

The app is a child of the daemon, like a terminal: it keeps running when the browser,
the SSH connection or the labgate server goes away, and any server that connects later
finds it again by the process id stored in the session's state. It listens on a Unix
socket in the daemon's private directory (only the user can open it) when the app can,
else on a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from labgate.agent.client import AgentCallError, AgentConnection, AgentError
from labgate.agent.typed import ProcessInfo, RemoteNet, RemoteProcesses
from labgate.launching.diagnosis import unreachable_note
from labgate.launching.launcher import (
    Endpoint,
    LaunchFailed,
    LaunchRequest,
    Poll,
    ResourceAccess,
    text_tail,
)
from labgate.launching.template import Placeholders, command_of
from labgate.plugins import hookimpl
from labgate.transport.base import StreamOpenFailed

# After TERM, how long the app has to exit before it gets KILL.
STOP_GRACE_SECONDS = 10.0
_STOP_CHECK_SECONDS = 0.25
# How long reading an app's log may take at most, and trying its endpoint.
_LOG_SECONDS = 3.0
_REACH_SECONDS = 5.0


def process_name(session_id: str) -> str:
    return f"session:{session_id}"


async def _find(agent: AgentConnection, process_id: str) -> ProcessInfo | None:
    for process in await RemoteProcesses(agent).processes():
        if process.id == process_id:
            return process
    return None


def _ended_message(process: ProcessInfo, title: str) -> str:
    if process.signal:
        return f"{title} was stopped by SIG{process.signal}."
    status = process.exit_status
    if status == 127:
        return f"{title} did not start: its command was not found (exit status 127)."
    return f"{title} exited with status {status}."


class DirectLauncher:
    name = "direct"
    batch = False
    title = "On the resource itself"

    async def start(self, resource: ResourceAccess, request: LaunchRequest) -> dict[str, Any]:
        agent = await resource.agent()
        template = request.template
        try:
            if template.listen == "socket":
                path = await RemoteNet(agent).socket_path(f"s-{request.session_id}")
                endpoint = Endpoint("unix", path=path)
                where = Placeholders(request.base_url, request.token, socket=path)
            else:
                port = await RemoteNet(agent).free_port()
                endpoint = Endpoint("tcp", port=port)
                where = Placeholders(request.base_url, request.token, port=port)
            command, env = command_of(template, request.form, where)
            started = await RemoteProcesses(agent).start(
                command=command,
                cwd=str(request.form.get("workdir") or "~"),
                setup_lines=request.setup_lines,
                env=env,
                name=process_name(request.session_id),
                owner=request.owner_tag,
            )
        except AgentCallError as exc:
            if exc.remote_code in ("not_found", "not_a_directory"):
                raise LaunchFailed(
                    f"The working directory {request.form.get('workdir')!r} does not exist."
                ) from exc
            raise LaunchFailed(f"The resource refused to start {template.title}: {exc}") from exc
        return {
            "process_id": started.id,
            "pid": started.pid,
            "endpoint": endpoint.to_json(),
            "title": template.title,
        }

    async def unusable(self, resource: ResourceAccess, setup_lines: Sequence[str]) -> str | None:
        """Never: every resource's daemon starts programs."""
        return None

    async def poll(self, resource: ResourceAccess, state: Mapping[str, Any]) -> Poll:
        agent = await resource.agent()
        process = await _find(agent, str(state["process_id"]))
        title = str(state.get("title") or "The app")
        if process is None:
            return Poll("ended", f"{title}'s process is gone (was the resource restarted?).")
        if not process.running:
            return Poll("ended", _ended_message(process, title))
        return Poll("running", "running", endpoint=Endpoint.from_json(state["endpoint"]))

    async def stop(self, resource: ResourceAccess, state: Mapping[str, Any]) -> None:
        agent = await resource.agent()
        process_id = str(state["process_id"])
        for signal, wait in (("TERM", STOP_GRACE_SECONDS), ("KILL", STOP_GRACE_SECONDS)):
            process = await _find(agent, process_id)
            if process is None or not process.running:
                return
            with contextlib.suppress(AgentCallError):
                await RemoteProcesses(agent).signal(process_id, signal)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while loop.time() < deadline:
                process = await _find(agent, process_id)
                if process is None or not process.running:
                    return
                await asyncio.sleep(_STOP_CHECK_SECONDS)

    async def log(self, resource: ResourceAccess, state: Mapping[str, Any], max_bytes: int) -> str:
        """What the app printed; for an app still running whose endpoint labgate cannot
        open, a last line says so (``diagnosis.unreachable_note``)."""
        agent = await resource.agent()
        process = await _find(agent, str(state["process_id"]))
        if process is None:
            return ""
        printed = await RemoteProcesses(agent).printed(process, max_bytes, _LOG_SECONDS)
        if process.running:
            endpoint = Endpoint.from_json(state["endpoint"])
            note = await _unreachable(resource, agent, endpoint)
            if note is not None:
                printed += f"\n{note}\n".encode()
        return text_tail(printed, max_bytes)


async def _unreachable(
    resource: ResourceAccess, agent: AgentConnection, endpoint: Endpoint
) -> str | None:
    """``diagnosis.unreachable_note`` when the app listens on its TCP port (as its daemon
    sees it), yet labgate cannot open ``endpoint`` (an app on another address, or in
    another network namespace than the SSH connection's); None otherwise."""
    if endpoint.kind != "tcp":
        return None
    try:
        async with asyncio.timeout(_REACH_SECONDS):
            listening = await RemoteNet(agent).listening(endpoint.port)
            if not listening:
                return None  # not listening at all: the usual "did not answer"
            _reader, writer = await resource.open(endpoint)
    except StreamOpenFailed as exc:
        reason = str(exc).rsplit(": ", 1)[-1].rstrip(".")
        where = ", ".join(f"{address}:{endpoint.port}" for address in listening)
        return unreachable_note(endpoint.label(), f"{reason}; it listens at {where}")
    except (AgentCallError, AgentError, OSError, TimeoutError):
        return None
    writer.close()
    return None


@hookimpl
def register_launchers() -> list[DirectLauncher]:
    return [DirectLauncher()]
