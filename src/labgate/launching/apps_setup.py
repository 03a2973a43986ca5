"""Setting up the apps environment (:mod:`labgate.launching.apps_environment`) for a user
on a resource, and following it.

The setup is a process of the user's daemon there, like a terminal: it goes on when the
browser is closed or labgate restarts, and any server finds it again by its name. labgate
writes the setup program (``apps_setup_program.py``) and the pins beside the environments,
then starts the program with the resource's Python and set-up lines; its output is the
progress (``apps_environment.read_progress``) and the log.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal, Protocol

from labgate.agent.client import AgentCallError, AgentConnection
from labgate.agent.typed import ProcessInfo, RemoteFs, RemoteProcesses
from labgate.launching import apps_environment
from labgate.launching.apps_environment import SetupProgress, read_progress
from labgate.launching.template import shell_word

#: The name of the setup's process in the daemon (one per environment).
PROCESS_PREFIX = "labgate-apps-setup:"
PROGRAM_NAME = "apps_setup_program.py"
#: How much of the setup's output is read for its progress and shown as its log.
LOG_BYTES = 256 * 1024
_READ_SECONDS = 5.0


class Owner(Protocol):
    """Whose processes they are (``resources.owners.WorkOwner``)."""

    @property
    def tag(self) -> str: ...

    def owns(self, process: ProcessInfo) -> bool: ...


@dataclass(frozen=True)
class PackageSource:
    """Where pip takes the packages from (the settings ``app_setup_wheel_directory`` and
    ``app_setup_index_url``)."""

    wheel_directory: str = ""
    index_url: str = ""


@dataclass(frozen=True)
class SetupState:
    """A user's apps environment on a resource: ``absent`` (no setup seen, and none
    complete), ``running``, ``succeeded`` or ``failed``, with the progress and the log of
    the latest setup."""

    state: Literal["absent", "running", "succeeded", "failed"]
    directory: str
    progress: SetupProgress | None = None
    log: str = ""


def process_name() -> str:
    return PROCESS_PREFIX + apps_environment.digest()


def _program() -> bytes:
    return resources.files("labgate.launching").joinpath(PROGRAM_NAME).read_bytes()


async def _latest(agent: AgentConnection, owner: Owner) -> ProcessInfo | None:
    """The owner's newest setup of this environment, if the daemon still knows one."""
    found = [
        p
        for p in await RemoteProcesses(agent).processes()
        if p.name == process_name() and owner.owns(p)
    ]
    return found[-1] if found else None


async def _complete(agent: AgentConnection) -> bool:
    stamp = posixpath.join(apps_environment.directory(), apps_environment.STAMP_NAME)
    try:
        answer = await RemoteFs(agent).read(stamp)
    except AgentCallError:  # not there (yet)
        return False
    return answer.data == apps_environment.pins()


async def state_of(agent: AgentConnection, owner: Owner) -> SetupState:
    """Where the owner's apps environment on the resource is."""
    directory = apps_environment.directory()
    process = await _latest(agent, owner)
    if process is None:
        done = await _complete(agent)
        return SetupState("succeeded" if done else "absent", directory)
    output = await RemoteProcesses(agent).printed(process, LOG_BYTES, _READ_SECONDS)
    log = output.decode("utf-8", "replace")
    progress = read_progress(log, running=process.running, exit_status=process.exit_status)
    return SetupState(progress.outcome, directory, progress, log)


async def start(
    agent: AgentConnection,
    owner: Owner,
    *,
    python: str,
    setup_lines: Sequence[str],
    source: PackageSource,
) -> SetupState:
    """Start the setup (unless one runs already: then that one goes on); its state."""
    processes = RemoteProcesses(agent)
    latest = await _latest(agent, owner)
    if latest is not None and latest.running:
        return await state_of(agent, owner)
    if latest is not None:  # an earlier setup's: its log gives way to the new one's
        await processes.forget(latest.id)
    base = posixpath.dirname(apps_environment.directory())
    files = RemoteFs(agent)
    await files.mkdir(base, parents=True)
    program = posixpath.join(base, PROGRAM_NAME)
    pins = posixpath.join(base, f"{apps_environment.digest()}.txt")
    await files.write(program, _program())
    await files.write(pins, apps_environment.pins())
    words = [
        shlex.quote(python),
        shell_word(program),
        shell_word(apps_environment.directory()),
        shell_word(pins),
    ]
    if source.wheel_directory:
        words += ["--wheels", shell_word(source.wheel_directory)]
    elif source.index_url:
        words += ["--index-url", shlex.quote(source.index_url)]
    await processes.start(
        command=" ".join(words),
        cwd="~",
        setup_lines=setup_lines,
        name=process_name(),
        owner=owner.tag,
    )
    return await state_of(agent, owner)
