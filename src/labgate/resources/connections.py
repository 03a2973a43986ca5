"""The connection manager: one live connection per (user, resource) in this server
process, shared by all that user's panes, reconnected with back-off when it drops.

A connection is a transport (of the kind the resource names, provided by a plug-in:
``local``, a subprocess, and ``ssh``, a chain of hops, are labgate's own) with
the agent running at its end, which relays to the user's daemon on the resource. The
daemon owns terminals and processes, so losing a connection loses no work: the next
one re-attaches. Nothing here needs to survive a restart of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field

from labgate.agent.client import AgentConnection
from labgate.agent.typed import RemoteSystem
from labgate.errors import LabgateError, NotFound
from labgate.resources.attempts import ConnectAttempts
from labgate.resources.diagnostics import problem_of
from labgate.resources.login import Asker, CredentialCache, Login, NoAsker
from labgate.resources.owners import WorkOwner
from labgate.resources.plan import ConnectionPlan
from labgate.resources.status import (
    DISCONNECTED,
    ConnectionState,
    Status,
    StatusHub,
)
from labgate.resources.transports import TransportKind
from labgate.settings import Settings
from labgate.transport.base import Transport

log = logging.getLogger(__name__)

# Waits between reconnection attempts after a connection dropped; then it is "failed".
RECONNECT_DELAYS_SECONDS = (0.5, 1, 2, 4, 8, 15, 30)


class NotConnected(LabgateError):
    code = "not_connected"
    status = 409


LoginFactory = Callable[[ConnectionPlan, Asker, CredentialCache], Login]
# The plan as the database says now (None: the resource is gone; AccessLost: its user
# may no longer use it), asked before every new connection and every reconnect.
Replanner = Callable[[ConnectionPlan], Awaitable[ConnectionPlan | None]]

# Set while labgate stops the work of a user who lost access to a resource
# (labgate.resources.revocation): the connection that needs is the only one made for
# them without their access being checked, and it is closed right after.
_ending_work: ContextVar[bool] = ContextVar("ending_work", default=False)


@contextlib.contextmanager
def ending_work() -> Iterator[None]:
    """Connections made inside skip the check that their user may still use the
    resource: only for stopping that user's work there."""
    token = _ending_work.set(True)
    try:
        yield
    finally:
        _ending_work.reset(token)


@dataclass
class ResourceConnection:
    plan: ConnectionPlan
    status: Status = DISCONNECTED
    transport: Transport | None = None
    agent: AgentConnection | None = None
    system: dict[str, object] = field(default_factory=dict)
    # Credentials typed in for this connection (passwords, uploaded keys), reused to
    # reconnect; forgotten when the connection is closed on purpose.
    cache: CredentialCache = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    watcher: asyncio.Task[None] | None = None
    closing: bool = False


class ConnectionManager:
    def __init__(
        self,
        settings: Settings,
        hub: StatusHub,
        login: LoginFactory,
        replan: Replanner,
        transports: Mapping[str, TransportKind],
    ) -> None:
        self.settings = settings
        self.hub = hub
        self._transports = transports
        self._login = login
        self._replan = replan
        self._connections: dict[tuple[int, int], ResourceConnection] = {}
        self.attempts = ConnectAttempts()

    # -- queries ----------------------------------------------------------------------

    def status(self, user_id: int, resource_id: int) -> Status:
        connection = self._connections.get((user_id, resource_id))
        return connection.status if connection else DISCONNECTED

    def system_info(self, user_id: int, resource_id: int) -> dict[str, object]:
        """What the agent reported when the connection was made."""
        connection = self._connections.get((user_id, resource_id))
        return dict(connection.system) if connection else {}

    def users_and_resources(self) -> list[tuple[int, int]]:
        """(user id, resource id) of every connection this replica holds."""
        return list(self._connections)

    def live_agent(self, user_id: int, resource_id: int) -> AgentConnection | None:
        connection = self._connections.get((user_id, resource_id))
        if connection is None or connection.agent is None or connection.agent.closed:
            return None
        return connection.agent

    # -- connecting ---------------------------------------------------------------------

    async def agent(self, plan: ConnectionPlan) -> AgentConnection:
        """The live agent of ``plan``'s user on its resource, connecting without asking
        anything when there is none (stored keys, certificates, ``local``; a password
        typed in earlier and still in memory)."""
        connection = self._connections.get(plan.key)
        if connection is not None and connection.plan.owner.tag == plan.owner.tag:
            agent = self.live_agent(plan.user_id, plan.resource_id)
            if agent is not None:
                return agent
        return await self.connect(plan)

    async def transport(self, plan: ConnectionPlan) -> Transport:
        """The transport under ``plan``'s live agent (connecting as :meth:`agent` does),
        for streams to ports and sockets on the resource."""
        await self.agent(plan)
        connection = self._connections.get(plan.key)
        if connection is None or connection.transport is None:
            raise NotConnected("The connection to this resource dropped; try again.")
        return connection.transport

    async def connect(self, plan: ConnectionPlan, asker: Asker | None = None) -> AgentConnection:
        """The live agent of ``plan``'s user on its resource, connecting if needed. Without
        an ``asker`` nothing can be typed in: a connection needing a password fails with
        ``login_required``. Each attempt counts against the user's
        ``resource_connect_attempts_per_minute`` (RateLimited beyond)."""
        known = self._connections.get(plan.key)
        if known is not None and known.plan.owner.tag != plan.owner.tag:
            # The user id was handed out again after a deletion: that connection (its
            # remote account, the passwords typed for it) was the deleted user's.
            await self.disconnect(*plan.key)
        connection = self._connections.setdefault(plan.key, ResourceConnection(plan))
        async with connection.lock:
            if connection.agent is not None and not connection.agent.closed:
                return connection.agent
            self.attempts.take(plan.user_id, self.settings.resource_connect_attempts_per_minute)
            connection.plan = plan  # the resource may have been edited since
            connection.closing = False
            self._set(connection, Status(ConnectionState.CONNECTING, "Connecting…"))
            try:
                if not _ending_work.get():
                    connection.plan = await self._current(plan)
                agent = await self._open(connection, asker or NoAsker())
            except asyncio.CancelledError:
                self._set(connection, DISCONNECTED)
                await self._drop_transport(connection)
                raise
            except Exception as exc:
                problem = problem_of(exc)
                if asker is None and problem.code == "login_required":
                    # Nobody was asked: the resource is simply not connected yet.
                    status = Status(ConnectionState.DISCONNECTED, problem.message, problem)
                else:
                    status = Status(ConnectionState.FAILED, problem.message, problem)
                self._set(connection, status)
                await self._drop_transport(connection)
                raise
            return agent

    async def _current(self, plan: ConnectionPlan) -> ConnectionPlan:
        """``plan`` as the database says now; raises when the resource is gone or its
        user may no longer use it (a plan can be older than a removal from a group)."""
        fresh = await self._replan(plan)
        if fresh is None:
            raise NotFound(f"The resource {plan.resource_name} no longer exists.")
        return fresh

    async def _open(self, connection: ResourceConnection, asker: Asker) -> AgentConnection:
        plan = connection.plan
        login = self._login(plan, asker, connection.cache)
        kind = self._transports.get(plan.kind)
        if kind is None:
            raise NotConnected(
                f"The resource {plan.resource_name} is of kind {plan.kind!r}, which no "
                "installed plug-in provides a transport for."
            )
        transport = kind.make(plan, login, self.settings)
        connection.transport = transport
        await kind.open(transport)
        await asker.progress("Starting the labgate agent…")
        agent = await AgentConnection.start(
            transport,
            python=plan.python,
            agent_args=self._agent_args(),
            call_timeout=self.settings.agent_call_timeout_seconds,
        )
        connection.agent = agent
        system = await RemoteSystem(agent).info()
        connection.system = asdict(system)
        where = system.hostname
        self._set(connection, Status(ConnectionState.CONNECTED, f"Connected to {where}."))
        connection.watcher = asyncio.create_task(self._watch(connection, agent))
        return agent

    def _agent_args(self) -> list[str]:
        args = ["--idle-seconds", str(self.settings.daemon_idle_minutes * 60)]
        if self.settings.agent_runtime_dir:
            args += ["--runtime-dir", self.settings.agent_runtime_dir]
        return args

    # -- losing and regaining the connection ---------------------------------------------

    async def _watch(self, connection: ResourceConnection, agent: AgentConnection) -> None:
        """Wait for the agent's end; unless it was closed on purpose, reconnect."""
        await agent.process.wait()
        if connection.closing or connection.agent is not agent:
            return
        log.info("connection to %s lost", connection.plan.resource_name)
        connection.agent = None
        await self._drop_transport(connection)
        for delay in RECONNECT_DELAYS_SECONDS:
            self._set(
                connection,
                Status(ConnectionState.RECONNECTING, f"Connection lost; retrying in {delay} s."),
            )
            await asyncio.sleep(delay)
            if connection.closing:
                return
            # Everything under the lock: a connection made meanwhile (a request, or one
            # to stop a user's work) is someone else's to keep, and a failure here must
            # not drop a transport that another attempt has just opened.
            async with connection.lock:
                if connection.closing:
                    return
                if connection.agent is not None and not connection.agent.closed:
                    return
                try:
                    plan = await self._replan(connection.plan)
                    if plan is None:
                        self._set(connection, DISCONNECTED)
                        return
                    connection.plan = plan
                    await self._open(connection, NoAsker())
                    return
                except Exception as exc:
                    problem = problem_of(exc)
                    await self._drop_transport(connection)
                    if problem.code in _FINAL:
                        status = Status(ConnectionState.FAILED, problem.message, problem)
                        self._set(connection, status)
                        return
        self._set(
            connection,
            Status(ConnectionState.FAILED, "The connection was lost and could not be restored."),
        )

    async def disconnect(self, user_id: int, resource_id: int) -> None:
        connection = self._connections.pop((user_id, resource_id), None)
        if connection is None:
            return
        await self._close(connection)
        self._set(connection, DISCONNECTED)

    def owners(self) -> dict[int, set[WorkOwner]]:
        """Whose connections are held here, by user id."""
        found: dict[int, set[WorkOwner]] = {}
        for (user_id, _), connection in self._connections.items():
            found.setdefault(user_id, set()).add(connection.plan.owner)
        return found

    async def disconnect_user(self, user_id: int) -> None:
        """Close every connection of a user (whose account is deleted), forgetting the
        passwords typed in for them."""
        for uid, rid in list(self._connections):
            if uid == user_id:
                await self.disconnect(uid, rid)

    async def disconnect_resource(self, resource_id: int) -> None:
        """Close every user's connection to a resource (it was deleted or changed)."""
        for user_id, rid in list(self._connections):
            if rid == resource_id:
                await self.disconnect(user_id, rid)

    async def close(self) -> None:
        for key in list(self._connections):
            connection = self._connections.pop(key)
            await self._close(connection)

    async def _close(self, connection: ResourceConnection) -> None:
        connection.closing = True
        connection.cache.clear()
        if connection.watcher is not None:
            connection.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connection.watcher
        if connection.agent is not None:
            with contextlib.suppress(Exception):
                await connection.agent.close()
            connection.agent = None
        await self._drop_transport(connection)

    async def _drop_transport(self, connection: ResourceConnection) -> None:
        transport, connection.transport = connection.transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close()

    def _set(self, connection: ResourceConnection, status: Status) -> None:
        connection.status = status
        self.hub.publish(connection.plan.user_id, connection.plan.resource_id, status)


# Failures that another attempt without the user cannot fix.
_FINAL = frozenset(
    {
        "login_required",
        "access_lost",
        "host_key_changed",
        "host_key_unknown",
        "auth_failed",
        "python_missing",
        "python_too_old",
        "host_refused",
        "local_account_missing",
        "local_account_refused",
    }
)
