"""The launcher conformance suite: the rules every launcher, built-in or plug-in, keeps,
checked against a real resource.

The rules (the ``Launcher`` contract of ``labgate.launching.launcher``, as the lifecycle
and the reconciliation loop rely on it):

- ``start`` returns state only: plain JSON (it is stored with the session and read back
  by any replica), without the session's token or its relay secret in clear.
- ``poll`` works from that state alone after a server restart: a new launcher instance
  and a new connection to the resource find the app (pending, starting, running), reach
  it at its endpoint, and after ``stop`` say ``ended`` with a message.
- ``stop`` is idempotent: twice in a row, and on an app that has ended (stopped, or
  ended by itself), without an error.
- A transport or scheduler failure is ``unknown``, never ``ended``: while the resource
  does not answer (its sshd stopped) or its scheduler does not (the controller stopped),
  ``poll`` returns ``unknown`` or raises a ``LabgateError`` (the reconciler's "cannot
  check now"), and ``stop`` raises (``StopFailed``: the lifecycle tries again later)
  rather than return as if the app had stopped. Afterwards the app is found running.
- ``log`` returns the end of what the app printed, within ``max_bytes`` in UTF-8 (a
  character cut at the start left out), also while the app goes on printing.
- ``unusable`` (the check the launch form asks) says None on a resource the suite can
  launch on, and answers in time: a launcher offered nowhere it works would be useless.
  (A launcher without the check is offered everywhere; the suite says so and skips.)

Running it against a launcher (a plug-in's too): subclass :class:`LauncherConformance`
in a test module (its name starting with ``Test``) and give it two fixtures::

    from tests.launcher_conformance import LauncherConformance, SshResource

    class TestMyLauncher(LauncherConformance):
        @pytest.fixture
        def launcher(self) -> Callable[[], Launcher]:
            return MyLauncher  # called once per simulated server: a fresh instance

        @pytest.fixture
        def resource(self, my_resource: SshResource) -> SshResource:
            return my_resource

``resource`` is a :class:`ConformanceResource`: :class:`SshResource` is the test account
on a private OpenSSH sshd (``tests/support/sshd.py``), with the set-up lines the launcher
needs and, for a batch launcher, a way to stop its scheduler (see
``tests/test_launcher_conformance.py`` for direct and SLURM). The app launched is the
"Web app" template running Python's http.server (nothing to install); a batch launcher's
form fields come from the ``job_form`` fixture, which a subclass may override. The tests
need root (sshd, and a scheduler's daemons); run them from a labgate checkout with
``PYTHONPATH=src python -m pytest your_tests.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from labgate.agent.client import AgentConnection
from labgate.errors import LabgateError
from labgate.launching.launcher import (
    Endpoint,
    Launcher,
    LaunchRequest,
    Poll,
    ResourceAccess,
    StopFailed,
    relay_secret,
)
from labgate.launching.usable import CHECK_SECONDS
from labgate.sessions.templates import WEBAPP
from labgate.sessions.tokens import SessionTokens, new_session_id
from labgate.transport.base import ByteReader, StreamWriter
from labgate.transport.ssh import SshTransport
from tests.support.daemons import processes_using
from tests.support.eventually import eventually
from tests.support.hops import key_hop
from tests.support.processes import descendants, end_processes
from tests.support.sshd import SshServer, running_sshd

__all__ = [
    "FOUND",
    "ConformanceResource",
    "LauncherConformance",
    "LauncherFactory",
    "Launching",
    "SshAccess",
    "SshResource",
    "private_daemons",
]

#: What ``poll`` may say of an app that was started and not stopped.
FOUND = ("pending", "starting", "running")
#: An app that serves HTTP on the port labgate gives it.
SERVE = 'python3 -m http.server "$PORT" --bind 127.0.0.1'
#: An app that prints more than the log test asks for (two-byte characters, so that
#: the end is cut inside one), then waits.
PRINTED_LAST = "conformance: all printed"
PRINTS = "python3 -c " + shlex.quote(
    "import sys, time\n"
    "sys.stdout.buffer.write(('\\u00e9' * 49 + '\\n').encode() * 300)\n"
    f"sys.stdout.buffer.write(b'{PRINTED_LAST}\\n')\n"
    "sys.stdout.flush()\n"
    "time.sleep(600)"
)
#: An app that goes on printing, a line every millisecond or so.
CHATTERS = "python3 -c " + shlex.quote(
    "import sys, time\n"
    "while True:\n"
    "    sys.stdout.write('x' * 99 + '\\n')\n"
    "    sys.stdout.flush()\n"
    "    time.sleep(0.001)"
)
LOG_MAX_BYTES = 4096

LauncherFactory = Callable[[], Launcher]
T = TypeVar("T")


# -- the resource -----------------------------------------------------------------------


class ConformanceResource(Protocol):
    """A resource the suite launches apps on."""

    #: The resource's set-up lines (a scheduler's environment, a PATH).
    setup_lines: Sequence[str]
    #: The resource's Python.
    python: str

    def connected(self) -> AbstractAsyncContextManager[ResourceAccess]:
        """A new connection to the resource, as a server that has just started makes
        it; closed at the end of the block."""
        ...

    def unreachable(self) -> AbstractAsyncContextManager[ResourceAccess]:
        """A connection that was made, after which the resource stopped answering: the
        connection dropped and new ones fail, for the whole block."""
        ...

    def scheduler_down(self) -> AbstractAsyncContextManager[None] | None:
        """The resource's scheduler not answering for the block (None: it has none)."""
        ...


class SshAccess:
    """A launcher's way to a resource over SSH, as labgate's connection manager gives it
    (``labgate.sessions.lifecycle.Access``): one connection and agent, made again on
    the next use once it has dropped."""

    def __init__(self, server: SshServer, agent_args: Sequence[str]) -> None:
        self._server = server
        self._agent_args = list(agent_args)
        self._transport: SshTransport | None = None
        self._agent: AgentConnection | None = None

    @property
    def dropped(self) -> bool:
        """The connection was made and has ended."""
        return self._agent is not None and self._agent.closed

    async def agent(self) -> AgentConnection:
        if self._agent is not None and not self._agent.closed:
            return self._agent
        await self.close()
        self._transport = SshTransport([key_hop(self._server)], connect_timeout=10)
        await self._transport.connect()
        self._agent = await AgentConnection.start(
            self._transport, agent_args=self._agent_args, call_timeout=30
        )
        return self._agent

    async def open(self, endpoint: Endpoint, token: str = "") -> tuple[ByteReader, StreamWriter]:
        await self.agent()
        assert self._transport is not None
        return await endpoint.open(self._transport, token)

    async def close(self) -> None:
        agent, self._agent = self._agent, None
        transport, self._transport = self._transport, None
        if agent is not None:
            with contextlib.suppress(Exception):
                await agent.close()
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close()


@dataclass
class SshResource:
    """The test account on a private sshd (``server``), its labgate daemon in
    ``runtime_dir`` (see :func:`private_daemons`). ``scratch``: a directory for the sshd
    that :meth:`unreachable` starts and stops. ``scheduler``: a context manager during
    which the scheduler does not answer (``SlurmCluster.controller_stopped``)."""

    server: SshServer
    runtime_dir: str
    scratch: Path
    setup_lines: Sequence[str] = ()
    python: str = "python3"
    scheduler: Callable[[], AbstractContextManager[None]] | None = None
    agent_args: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.agent_args = ["--runtime-dir", self.runtime_dir, "--idle-seconds", "300"]

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[ResourceAccess]:
        access = SshAccess(self.server, self.agent_args)
        try:
            yield access
        finally:
            await access.close()

    @contextlib.asynccontextmanager
    async def unreachable(self) -> AsyncIterator[ResourceAccess]:
        """A connection through an sshd of its own (same account, same daemon), which is
        then stopped: its connections end, and new ones are refused."""
        with running_sshd(self.scratch, self.server.user) as doomed:
            access = SshAccess(doomed, self.agent_args)
            await access.agent()
        try:
            await until(lambda: _noticed(access), "the dropped connection to be noticed")
            yield access
        finally:
            await access.close()

    def scheduler_down(self) -> AbstractAsyncContextManager[None] | None:
        if self.scheduler is None:
            return None
        return _in_thread(self.scheduler())


async def _noticed(access: SshAccess) -> bool:
    return access.dropped


@contextlib.asynccontextmanager
async def _in_thread(blocking: AbstractContextManager[None]) -> AsyncIterator[None]:
    """A blocking context manager (daemons stopped and started, waited for) entered
    and left in a thread, so that the event loop goes on meanwhile."""
    await asyncio.to_thread(blocking.__enter__)
    try:
        yield
    finally:
        await asyncio.to_thread(blocking.__exit__, None, None, None)


@contextlib.contextmanager
def private_daemons(runtime_dir: str) -> Iterator[str]:
    """At the end: the apps below the daemons of ``runtime_dir`` ended, then the daemons
    and agents (by PID; see ``tests.support.daemons.daemon_runtime_dir``, which removes
    the directory)."""
    try:
        yield runtime_dir
    finally:
        apps = [child for pid in processes_using(runtime_dir) for child in descendants(pid)]
        end_processes(apps, 2.0)


# -- helpers ----------------------------------------------------------------------------


async def until(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """``check()``'s first true answer, within the suite's patience (a scheduler client
    gives up on a stopped controller after about 20 s); see tests/support/eventually.py."""
    return await eventually(check, what=what)


def stored(state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` as the database gives it back."""
    found: dict[str, Any] = json.loads(json.dumps(state))
    return found


@dataclass
class Launching:
    """One launcher on one resource, as the rules drive it: each step by a new launcher
    instance on a new connection, as a server that has just restarted takes it."""

    launcher: LauncherFactory
    resource: ConformanceResource
    #: The form's fields besides the command.
    form: Mapping[str, Any]

    def request(self, command: str) -> LaunchRequest:
        """A launch of the "Web app" template running ``command``, as the lifecycle
        makes it."""
        session_id = new_session_id()
        return LaunchRequest(
            session_id=session_id,
            owner_tag=f"lg:conformance:{secrets.token_hex(6)}",
            template=WEBAPP,
            form={**self.form, "app_command": command},
            base_url=f"/s/{session_id}/",
            token=SessionTokens.new(),
            setup_lines=tuple(self.resource.setup_lines),
            python=self.resource.python,
        )

    @contextlib.asynccontextmanager
    async def launched(self, request: LaunchRequest) -> AsyncIterator[dict[str, Any]]:
        """The app started (its state as stored); stopped at the end whatever happened."""
        async with self.resource.connected() as access:
            state = stored(await self.launcher().start(access, request))
        try:
            yield state
        finally:
            async with self.resource.connected() as access:
                with contextlib.suppress(Exception):
                    await self.launcher().stop(access, state)

    async def stop(self, state: Mapping[str, Any], *, times: int = 1) -> None:
        """``stop``, ``times`` in a row on one connection."""
        async with self.resource.connected() as access:
            for _ in range(times):
                await self.launcher().stop(access, state)

    async def poll_until(
        self, state: Mapping[str, Any], wanted: str, *, meanwhile: Sequence[str] = FOUND
    ) -> Poll:
        """The first poll that says ``wanted``; fails at once on a phase outside
        ``meanwhile``."""
        async with self.resource.connected() as access:
            polling = self.launcher()

            async def check() -> Poll | None:
                poll = await polling.poll(access, state)
                if poll.phase == wanted:
                    return poll
                assert poll.phase in meanwhile, f"waiting for {wanted}: {poll}"
                return None

            return await until(check, f"poll to say {wanted}")


async def http_answer(access: ResourceAccess, endpoint: Endpoint, token: str) -> bytes:
    """The first line of the app's answer to ``GET /`` at ``endpoint`` (empty while it
    does not answer yet)."""
    try:
        reader, writer = await access.open(endpoint, token)
    except ConnectionError:
        return b""
    try:
        writer.write(b"GET / HTTP/1.0\r\nHost: app\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(10):
            answer = b""
            while b"\r\n" not in answer:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                answer += chunk
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()
    return answer.split(b"\r\n", 1)[0]


async def unknown_or_raises(
    launcher: Launcher, access: ResourceAccess, state: Mapping[str, Any]
) -> str:
    """How ``poll`` takes a failure: "unknown", or the LabgateError it raised."""
    try:
        poll = await launcher.poll(access, state)
    except LabgateError as exc:
        return f"raised {type(exc).__name__}: {exc}"
    assert poll.phase == "unknown", f"a failure must be unknown, never {poll.phase}: {poll}"
    assert poll.message, "an unknown poll says what failed"
    return "unknown"


async def stop_refused(
    launcher: Launcher, access: ResourceAccess, state: Mapping[str, Any]
) -> Exception:
    """What ``stop`` raised: it must not return as if the app were stopped."""
    try:
        await launcher.stop(access, state)
    except (StopFailed, LabgateError) as exc:
        return exc
    raise AssertionError("stop returned while the app may still run")


# -- the rules --------------------------------------------------------------------------


class LauncherConformance:
    """The rules, as tests. Subclass it (as ``Test...``) with ``launcher`` and
    ``resource`` fixtures; see the module docstring."""

    @pytest.fixture
    def job_form(self) -> dict[str, Any]:
        """The form's fields besides the command (a small job, for batch launchers)."""
        return {"cpus": 1, "memory_gb": 1, "walltime_minutes": 20}

    @pytest.fixture
    def launching(
        self, launcher: LauncherFactory, resource: ConformanceResource, job_form: dict[str, Any]
    ) -> Launching:
        return Launching(launcher, resource, job_form)

    def test_it_says_who_it_is(self, launcher: Callable[[], Launcher]) -> None:
        """A stable name (stored with sessions), a title for the launch form, whether
        it schedules batch jobs."""
        made = launcher()
        assert isinstance(made.name, str)
        assert re.fullmatch(r"[a-z][a-z0-9.-]*", made.name)
        assert isinstance(made.title, str)
        assert made.title.strip()
        assert isinstance(made.batch, bool)

    async def test_it_says_it_can_be_used_where_it_works(self, launching: Launching) -> None:
        check = getattr(launching.launcher(), "unusable", None)
        if check is None:
            pytest.skip("the launcher has no unusable() check: it is offered on every resource")
        async with launching.resource.connected() as access:
            async with asyncio.timeout(CHECK_SECONDS):
                reason = await check(access, tuple(launching.resource.setup_lines))
        assert reason is None, f"unusable on a resource it launches on: {reason}"
        # And it does launch there.
        async with launching.launched(launching.request(SERVE)) as state:
            await launching.poll_until(state, "running")

    async def test_start_returns_json_state_without_secrets(self, launching: Launching) -> None:
        request = launching.request(SERVE)
        async with launching.resource.connected() as access:
            state = await launching.launcher().start(access, request)
            try:
                text = json.dumps(state)  # no objects
                assert json.loads(text) == state, "the state changes through JSON"
                assert all(isinstance(key, str) for key in state)
                assert request.token not in text, "the session's token is in the state"
                assert relay_secret(request.token) not in text, "the relay secret is too"
            finally:
                await launching.launcher().stop(access, state)

    async def test_poll_works_from_the_state_alone_after_a_restart(
        self, launching: Launching
    ) -> None:
        request = launching.request(SERVE)
        async with launching.launched(request) as state:
            # Another server: a new launcher, a new connection, the stored state.
            running = await launching.poll_until(state, "running")
            assert running.endpoint is not None
            async with launching.resource.connected() as access:
                endpoint = running.endpoint

                async def answered() -> bytes:
                    return await http_answer(access, endpoint, request.token)

                first_line = await until(answered, "the app to answer at its endpoint")
            assert first_line.startswith(b"HTTP/1.0 200"), first_line
            # And another one stops it.
            await launching.stop(state)
            ended = await launching.poll_until(state, "ended")
            assert ended.message, ended

    async def test_stop_twice_and_after_the_end_is_no_error(self, launching: Launching) -> None:
        async with launching.launched(launching.request(SERVE)) as state:
            await launching.poll_until(state, "running")
            await launching.stop(state, times=2)
            await launching.poll_until(state, "ended")
            await launching.stop(state)

    async def test_an_app_that_ends_by_itself_is_ended_and_stops_quietly(
        self, launching: Launching
    ) -> None:
        async with launching.launched(launching.request("false")) as state:
            ended = await launching.poll_until(state, "ended")
            assert ended.message, ended
            await launching.stop(state, times=2)

    async def test_an_unreachable_resource_is_unknown_never_ended(
        self, launching: Launching
    ) -> None:
        launcher = launching.launcher
        async with launching.launched(launching.request(SERVE)) as state:
            await launching.poll_until(state, "running")
            async with launching.resource.unreachable() as access:
                await unknown_or_raises(launcher(), access, state)
                await stop_refused(launcher(), access, state)
            # Nothing was ended by it.
            await launching.poll_until(state, "running", meanwhile=())

    async def test_a_scheduler_outage_is_unknown_never_ended(self, launching: Launching) -> None:
        outage = launching.resource.scheduler_down()
        if outage is None:
            pytest.skip("the resource has no scheduler")
        launcher = launching.launcher
        async with launching.launched(launching.request(SERVE)) as state:
            await launching.poll_until(state, "running")
            async with launching.resource.connected() as access, outage:
                # Side by side: each waits for the scheduler's clients to give up.
                await asyncio.gather(
                    unknown_or_raises(launcher(), access, state),
                    stop_refused(launcher(), access, state),
                )
            await launching.poll_until(state, "running", meanwhile=("unknown",))

    async def test_log_is_the_end_of_what_the_app_printed_within_max_bytes(
        self, launching: Launching
    ) -> None:
        async with launching.launched(launching.request(PRINTS)) as state:
            async with launching.resource.connected() as access:
                reading = launching.launcher()

                async def printed() -> str | None:
                    text = await reading.log(access, state, LOG_MAX_BYTES)
                    assert len(text.encode()) <= LOG_MAX_BYTES, len(text.encode())
                    return text if PRINTED_LAST in text else None

                text = await until(printed, "the app's output in its log")
            assert text.endswith(f"{PRINTED_LAST}\n"), text[-200:]
            assert len(text.encode()) > LOG_MAX_BYTES // 2  # the end, not a scrap of it

    async def test_log_of_an_app_that_goes_on_printing_is_within_max_bytes(
        self, launching: Launching
    ) -> None:
        async with (
            launching.launched(launching.request(CHATTERS)) as state,
            launching.resource.connected() as access,
        ):
            reading = launching.launcher()

            async def printed() -> str | None:
                text = await reading.log(access, state, LOG_MAX_BYTES)
                return text if len(text.encode()) > LOG_MAX_BYTES // 2 else None

            await until(printed, "the app's output in its log")
            for _ in range(20):  # while it prints
                text = await reading.log(access, state, LOG_MAX_BYTES)
                assert len(text.encode()) <= LOG_MAX_BYTES, len(text.encode())
