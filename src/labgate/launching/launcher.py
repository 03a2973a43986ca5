"""The Launcher contract: where a session's app runs.

In the spirit of JupyterHub's Spawner: ``start`` submits the app and returns the state
to remember (stored with the session, so that any replica, after any restart, can carry
on), ``poll`` says where the app is now, ``stop`` ends it, ``log`` shows what it printed.
Readiness (does the app answer HTTP yet?) is not the launcher's business: the lifecycle
checks it through the proxy, the same way for every launcher.

State rules: ``start`` may be called once per session. ``poll`` and ``stop`` must work
with nothing but the state ``start`` returned (and the resource): no memory of the
process that called ``start``. ``stop`` of something already gone is not an error.
Every launcher passes the conformance suite that checks these rules
(``tests/launcher_conformance.py``, docs/plugins.md).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from labgate.agent.client import AgentConnection
from labgate.agent.remote.wire import relay_preamble
from labgate.launching.template import AppTemplate
from labgate.transport.base import ByteReader, StreamWriter, Transport

EndpointKind = Literal["tcp", "unix"]


def relay_secret(token: str) -> str:
    """The secret a batch job's relay asks of every connection, derived from the
    session's token (the relay never sees the token itself)."""
    return hmac.new(token.encode(), b"labgate batch relay", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Endpoint:
    """Where the app listens, as seen from the resource (the login node for batch jobs:
    ``host`` is then the compute node). ``relay``: it is the relay of a batch job (see
    ``labgate.agent.remote.relay``), which lets a connection through to the app only once it
    has shown the session's relay secret."""

    kind: EndpointKind
    host: str = "127.0.0.1"
    port: int = 0
    path: str = ""
    relay: bool = False

    def to_json(self) -> dict[str, Any]:
        if self.kind == "unix":
            return {"kind": "unix", "path": self.path}
        found: dict[str, Any] = {"kind": "tcp", "host": self.host, "port": self.port}
        if self.relay:
            found["relay"] = True
        return found

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Endpoint:
        if value.get("kind") == "unix":
            return cls("unix", path=str(value["path"]))
        return cls(
            "tcp",
            host=str(value.get("host", "127.0.0.1")),
            port=int(value["port"]),
            relay=bool(value.get("relay", False)),
        )

    def label(self) -> str:
        return self.path if self.kind == "unix" else f"{self.host}:{self.port}"

    async def open(self, transport: Transport, token: str = "") -> tuple[ByteReader, StreamWriter]:
        """A stream to the app through ``transport`` (an SSH channel, or a local socket);
        ``token``: the session's, which a relay needs."""
        if self.relay and not token:
            raise ValueError("a batch job's relay is opened with the session's token")
        if self.kind == "unix":
            return await transport.open_unix(self.path)
        reader, writer = await transport.open_tcp(self.host, self.port)
        if self.relay:
            # Sent with the first request, not waited for: no round trip is added.
            writer.write(relay_preamble(relay_secret(token)))
        return reader, writer


Phase = Literal["pending", "starting", "running", "ended", "unknown"]


@dataclass(frozen=True)
class Poll:
    """What a launcher sees. ``pending``: waiting for the scheduler; ``starting``: the app
    process runs, perhaps not yet where we know; ``running``: it runs at ``endpoint``;
    ``ended``: it is gone (``message`` says why, in words a user understands);
    ``unknown``: the launcher could not find out (the scheduler does not answer: it
    restarts, it timed out), so nothing is known to have changed: ask again later
    (``message`` says what failed)."""

    phase: Phase
    message: str
    endpoint: Endpoint | None = None
    #: Where it runs, for people ("node017", "login1").
    where: str = ""
    #: The scheduler's own state for it ("PENDING", "RUNNING"), if any.
    scheduler_state: str = ""
    #: For ``ended``: whether the end is a failure (an app that exits by itself is one;
    #: a shared terminal its owner closed is not: its session ends ``stopped``).
    failed: bool = True


@dataclass(frozen=True)
class LaunchRequest:
    session_id: str
    #: Tags the processes of this labgate user (several may share one remote account).
    owner_tag: str
    template: AppTemplate
    form: Mapping[str, Any]
    base_url: str
    token: str
    #: The resource's set-up lines, then the form's environment lines, then the line that
    #: puts the apps environment labgate sets up at the end of PATH (apps_environment).
    setup_lines: Sequence[str] = field(default_factory=tuple)
    #: The resource's Python (what its agent runs on; a batch job's relay runs on it too).
    python: str = "python3"


class ResourceAccess(Protocol):
    """What a launcher may use of the resource: its agent, and streams to its ports."""

    async def agent(self) -> AgentConnection: ...

    async def open(
        self, endpoint: Endpoint, token: str = ""
    ) -> tuple[ByteReader, StreamWriter]: ...


def text_tail(data: bytes, max_bytes: int) -> str:
    """The end of ``data`` (what an app printed) as text of at most ``max_bytes`` bytes
    in UTF-8, what ``Launcher.log`` returns: a character cut at the start is left out,
    and bytes that are not UTF-8 count as the replacement character they become."""
    if max_bytes <= 0:
        return ""
    text = data[-max_bytes:].decode("utf-8", "replace").encode()
    return text[-max_bytes:].decode("utf-8", "ignore")


class LaunchFailed(Exception):
    """The app could not be started; the message is for the user."""


class StopFailed(Exception):
    """The app could not be stopped now (the scheduler does not answer); it still runs,
    so the lifecycle tries again later. The message says why."""


class Launcher(Protocol):
    #: Stored with each session; never rename a released one.
    name: str
    #: Schedules batch jobs (the form then asks for CPUs, memory, GPUs, time, partition).
    batch: bool
    #: How the launch form offers it, as an answer to "Runs": "On the resource itself".
    title: str

    async def start(self, resource: ResourceAccess, request: LaunchRequest) -> dict[str, Any]:
        """Submit or start the app; returns the state to remember. Raises LaunchFailed."""
        ...

    async def poll(self, resource: ResourceAccess, state: Mapping[str, Any]) -> Poll:
        """Where the app is now. A scheduler that does not answer is ``unknown``; a
        resource that cannot be reached raises a ``LabgateError`` (the reconciler's
        "cannot check now"); neither is ever ``ended``."""
        ...

    async def stop(self, resource: ResourceAccess, state: Mapping[str, Any]) -> None:
        """End the app. Raises StopFailed when it may still run (try again later)."""
        ...

    async def log(self, resource: ResourceAccess, state: Mapping[str, Any], max_bytes: int) -> str:
        """The end of what the app printed (at most ``max_bytes`` of it in UTF-8, see
        :func:`text_tail`), for failures."""
        ...

    async def unusable(self, resource: ResourceAccess, setup_lines: Sequence[str]) -> str | None:
        """Why this launcher cannot be used on the resource, in a sentence for the launch
        form ("sbatch is not on its PATH: it is not a SLURM login node"); None when it
        can. ``setup_lines``: the resource's. Quick, and without side effects: it is
        asked when the form is shown, once per connection to the resource (the answer
        is kept while the connection lasts, ``labgate.launching.usable``). A launcher
        without this method is offered everywhere."""
        ...


def launchable(launcher: Launcher) -> bool:
    """Whether the launch form offers ``launcher`` and ``POST /sessions`` takes it. A
    launcher may say ``launchable = False`` when labgate makes its sessions itself (the
    ``terminal`` launcher: a terminal shared while it runs); without it, it is offered."""
    return bool(getattr(launcher, "launchable", True))
