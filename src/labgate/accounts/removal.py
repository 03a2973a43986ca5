"""Deleting a user, with their work on the resources and their credentials.

The account's rows go with it (sessions, tokens, preferences, remembered keys, the
generated key pair, its app sessions), but what it started on resources runs in daemons
there, not in the database. So before the row goes:

1. the user is disabled and logged out, in one short transaction, so nothing new starts;
2. their live app sessions are stopped (as a user's stop would), then every process and
   terminal carrying their tag (labgate.resources.owners) is ended and forgotten in the
   daemons of every resource the user could use, where labgate gets in without asking
   anyone (remembered or generated keys, certificates, ``local``, a password still in
   this replica's memory), at most ``SWEEP_AT_ONCE`` resources at a time and each
   within ``SWEEP_SECONDS``;
3. this replica's connections for the user close (the passwords typed for them go);
4. the user is deleted with their remembered keys and key pair, and the audit log says
   what was stopped and which resources could not be reached.

Work on a resource that could not be reached stays there (see the admin guide, *Deleting
users*); it carries a tag no later user ever gets, so nobody else can attach to it.
Network calls are made with no database transaction open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.accounts import users as accounts
from labgate.agent.client import AgentCallError
from labgate.agent.typed import ProcessInfo, RemoteProcesses
from labgate.audit import Actor
from labgate.auth.live_sockets import LiveSockets
from labgate.auth.principal import Account, Principal, Scope
from labgate.auth.recent import RecentCallers
from labgate.db.engine import Database
from labgate.db.models import (
    LIVE_SESSION_STATES,
    AppSession,
    Resource,
    Role,
    StoredCredential,
    User,
    UserSshKey,
)
from labgate.resources import catalog
from labgate.resources.connections import ConnectionManager
from labgate.resources.plan import ConnectionPlan, plan_for_owner
from labgate.settings import Settings
from labgate.transport.os_accounts import find_account, server_runs_as_root

log = logging.getLogger(__name__)

SWEEP_AT_ONCE = 8
SWEEP_SECONDS = 60.0
# After TERM, how long processes have to exit before they get KILL.
GRACE_SECONDS = 5.0
_CHECK_SECONDS = 0.2


class SessionStopper(Protocol):
    """Stops app sessions (``sessions.lifecycle.Lifecycle``)."""

    async def stop(self, session_id: str, reason: str) -> None: ...


class HeldConnections(Protocol):
    """What closing a deleted user's connections uses of the running server."""

    @property
    def database(self) -> Database: ...

    @property
    def connections(self) -> ConnectionManager: ...


class RemovalNeeds(HeldConnections, Protocol):
    """What deleting a user uses of the running server."""

    @property
    def settings(self) -> Settings: ...

    @property
    def lifecycle(self) -> SessionStopper: ...

    @property
    def recent_callers(self) -> RecentCallers: ...

    @property
    def live_sockets(self) -> LiveSockets: ...


@dataclass
class Removal:
    """What deleting a user did on the resources."""

    sessions_stopped: int = 0
    processes_stopped: int = 0
    # Resources labgate could not reach without asking anyone: their work is still there.
    unreachable: list[str] = field(default_factory=list)


async def remove_user(state: RemovalNeeds, username: str, *, actor: Actor) -> Removal:
    """Delete ``username`` after ending their work where labgate can reach it."""
    async with state.database.session() as db:
        user = await accounts.get_user(db, username)
        await accounts.begin_deletion(db, user, actor=actor)
        user_id = user.id
        plans, session_ids = await _their_work(db, state, user)
    state.recent_callers.forget_all()
    state.live_sockets.recheck(user_id)

    removal = Removal()
    stops = [state.lifecycle.stop(sid, "its user was deleted") for sid in session_ids]
    for stopped in await asyncio.gather(*stops, return_exceptions=True):
        if isinstance(stopped, BaseException):
            log.warning("deleting %s: stopping a session: %s", username, stopped)
        else:
            removal.sessions_stopped += 1
    limit = asyncio.Semaphore(SWEEP_AT_ONCE)

    async def sweep(plan: ConnectionPlan) -> None:
        async with limit:
            try:
                async with asyncio.timeout(SWEEP_SECONDS):
                    stopped = await _end_processes(state, plan)
                removal.processes_stopped += stopped
            except Exception as exc:
                log.info("deleting %s: %s not reached: %s", username, plan.resource_name, exc)
                removal.unreachable.append(plan.resource_name)

    await asyncio.gather(*(sweep(plan) for plan in plans))
    await state.connections.disconnect_user(user_id)

    async with state.database.session() as db:
        found = await db.get(User, user_id)
        if found is not None:
            await _forget_credentials(db, user_id)
            await accounts.delete_user(
                db,
                found,
                actor=actor,
                sessions_stopped=removal.sessions_stopped,
                processes_stopped=removal.processes_stopped,
                unreachable=sorted(removal.unreachable),
            )
    state.recent_callers.forget_all()
    state.live_sockets.recheck(user_id)
    return removal


async def close_connections_of_deleted_users(state: HeldConnections) -> None:
    """Close this replica's connections of users deleted elsewhere (another replica, the
    command line), with the passwords typed in for them. Run by every replica's
    housekeeping (labgate.resources.leftovers)."""
    held = state.connections.owners()
    if not held:
        return
    async with state.database.read() as db:
        rows = await db.execute(select(User.id, User.work_tag).where(User.id.in_(list(held))))
        tags = {user_id: work_tag for user_id, work_tag in rows}
    for user_id, owners in held.items():
        if any(owner.user_tag != tags.get(user_id) for owner in owners):
            log.info("closing the connections of deleted user %s", user_id)
            await state.connections.disconnect_user(user_id)


async def _their_work(
    db: AsyncSession, state: RemovalNeeds, user: User
) -> tuple[list[ConnectionPlan], list[str]]:
    """How to reach every resource the user could use or has a live session on, and
    their live sessions."""
    account = Account(user.id, user.username, Role(user.role), False)
    principal = Principal.of(account, "session", frozenset(Scope))
    resources = {r.id: r for r in await catalog.visible_resources(db, principal, state.settings)}
    live = (
        await db.execute(
            select(AppSession.id, AppSession.resource_id).where(
                AppSession.user_id == user.id, AppSession.state.in_(LIVE_SESSION_STATES)
            )
        )
    ).all()
    for _, resource_id in live:
        if resource_id not in resources:
            resource = await db.get(Resource, resource_id)
            if resource is not None:
                resources[resource_id] = resource
    plans = [
        await plan_for_owner(db, resource, user.id, user.username)
        for resource in resources.values()
    ]
    return [p for p in plans if not _no_account_there(p)], [sid for sid, _ in live]


def _no_account_there(plan: ConnectionPlan) -> bool:
    """Whether the user's OS account on ``local`` does not exist: nothing of theirs runs
    there, and connecting would create it (``local_create_accounts``) only to find so."""
    return plan.is_local and server_runs_as_root() and find_account(plan.account.name) is None


async def _end_processes(state: RemovalNeeds, plan: ConnectionPlan) -> int:
    """End and forget the user's processes on one resource; how many were running."""
    processes = RemoteProcesses(await state.connections.agent(plan))

    async def theirs() -> list[ProcessInfo]:
        return [p for p in await processes.processes() if plan.owner.owns(p)]

    running = [p.id for p in await theirs() if p.running]
    loop = asyncio.get_running_loop()
    for signal in ("TERM", "KILL"):
        left = [p.id for p in await theirs() if p.running]
        if not left:
            break
        for process_id in left:
            with contextlib.suppress(AgentCallError):
                await processes.signal(process_id, signal)
        deadline = loop.time() + GRACE_SECONDS
        while loop.time() < deadline:
            if not any(p.running for p in await theirs()):
                break
            await asyncio.sleep(_CHECK_SECONDS)
    # Their recorded output goes too.
    for process in await theirs():
        if not process.running:
            with contextlib.suppress(AgentCallError):
                await processes.forget(process.id)
    return len(running)


async def _forget_credentials(db: AsyncSession, user_id: int) -> None:
    """The user's remembered keys and generated key pair (the database would drop them
    with the user too; said here so that it does not depend on that)."""
    await db.execute(delete(StoredCredential).where(StoredCredential.user_id == user_id))
    await db.execute(delete(UserSshKey).where(UserSshKey.user_id == user_id))
