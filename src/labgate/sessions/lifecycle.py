"""The lifecycle: launching a session to ready, stopping it, and what both share with
the reconciliation loop (``sessions/reconcile.py``), which keeps the database and reality
in agreement after any restart or failure.

Launching (``drive``): start through the launcher, then poll it until the app runs
somewhere, then ask the app over its tunnel until it answers. Every step is saved and
pushed to the owner's tabs as a progress line. A replica drives a session while it holds
the session's lease (renewed as it goes); if it dies, the lease runs out and the next
reconciliation on any replica takes over from the saved state.

States: pending -> starting -> running -> stopping -> stopped, or failed / expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.agent.client import AgentConnection
from labgate.db.engine import Database
from labgate.db.models import (
    ENDED_SESSION_STATES,
    LIVE_SESSION_STATES,
    AppSession,
    Experiment,
    ExperimentLocation,
    Resource,
    SessionState,
    User,
)
from labgate.db.types import utcnow
from labgate.errors import LabgateError
from labgate.experiments.attaching import Attached, attach
from labgate.launching import apps_environment
from labgate.launching.diagnosis import explain
from labgate.launching.launcher import (
    Endpoint,
    Launcher,
    LaunchFailed,
    LaunchRequest,
    Poll,
)
from labgate.launching.probes import ActivityProbe, ReadinessCheck
from labgate.launching.template import AppTemplate
from labgate.launching.upstream import UpstreamPool
from labgate.quotas import accounting
from labgate.resources.plan import ConnectionPlan, plan_for_owner
from labgate.resources.status import Hub
from labgate.sessions import probes
from labgate.sessions.sharing import recipients, shares_of
from labgate.sessions.tokens import SessionTokens
from labgate.settings import Settings
from labgate.transport.base import ByteReader, StreamWriter, Transport

log = logging.getLogger(__name__)

LEASE_SECONDS = 60
POLL_SECONDS = {False: 0.5, True: 2.0}  # by launcher.batch
# A direct launch is asked more often at first: most apps answer within seconds, and
# every check skipped is time the user waits (docs/performance.md, Sessions).
EAGER_POLL_SECONDS = 0.05
EAGER_FOR_SECONDS = 15.0
PROGRESS_KEPT = 40
LOG_TAIL_BYTES = 16 * 1024


@dataclass(frozen=True)
class SessionChanged:
    """Pushed to the owner's tabs whenever a session changes (and to the tabs of those it
    is shared with when it starts or ends, or their share changes)."""

    session_id: str
    user_id: int


#: The key of administrators' news in :attr:`Lifecycle.requests`: no user has the id 0.
ADMINS = 0


class Connections(Protocol):
    """The owners' connections to their resources (``resources.connections``)."""

    async def agent(self, plan: ConnectionPlan) -> AgentConnection: ...

    async def transport(self, plan: ConnectionPlan) -> Transport: ...


class Routes(Protocol):
    """The proxy's routes to the sessions (``proxy.routes``)."""

    def drop(self, session_id: str) -> None:
        """Forget where the session leads: it changed."""
        ...


class Parts(Protocol):
    """What the loaded plug-ins provide that sessions use (``plugins.manager.Plugins``)."""

    def launchers(self) -> dict[str, Launcher]: ...

    def readiness_checks(self) -> dict[str, ReadinessCheck]: ...

    def activity_probes(self) -> dict[str, ActivityProbe]: ...


class LifecycleNeeds(Protocol):
    """What the lifecycle and its reconciler use of the running server (the app's
    state has it all): nothing else, so sessions import nothing above them."""

    @property
    def settings(self) -> Settings: ...

    @property
    def database(self) -> Database: ...

    @property
    def connections(self) -> Connections: ...

    @property
    def routes(self) -> Routes: ...

    @property
    def templates(self) -> Mapping[str, AppTemplate]: ...

    @property
    def session_tokens(self) -> SessionTokens: ...

    @property
    def plugins(self) -> Parts: ...


class Access:
    """A launcher's way to the resource: the owner's connection, made without asking
    anyone (remembered keys, certificates, or a login still held in memory)."""

    def __init__(self, state: LifecycleNeeds, plan: ConnectionPlan) -> None:
        self._state = state
        self.plan = plan

    async def agent(self) -> AgentConnection:
        return await self._state.connections.agent(self.plan)

    async def open(self, endpoint: Endpoint, token: str = "") -> tuple[ByteReader, StreamWriter]:
        return await endpoint.open(await self._state.connections.transport(self.plan), token)

    def pool(self, endpoint: Endpoint, token: str) -> UpstreamPool:
        """Connections to the app (``token``: the session's, for a batch job's relay)."""

        async def opener() -> tuple[ByteReader, StreamWriter]:
            return await self.open(endpoint, token)

        return UpstreamPool(opener, size=1)


@dataclass(frozen=True)
class Snapshot:
    """A session as the database has it now, with the way to its resource."""

    row: AppSession
    plan: ConnectionPlan
    resource_name: str


async def _account(
    db: AsyncSession, session_id: str, values: Mapping[str, Any], failure_reason: str
) -> None:
    """The session's usage row after ``values`` were saved (each mark is made once)."""
    if values.get("ready_at") is not None:
        await accounting.became_ready(db, session_id, values["ready_at"])
    if values.get("state") in ENDED_SESSION_STATES:
        at = values.get("ended_at") or values["updated_at"]
        await accounting.ended(db, session_id, values["state"], at, failure_reason or "other")


class Lifecycle:
    def __init__(self, state: LifecycleNeeds) -> None:
        self.state = state
        self.replica = f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.hub: Hub[SessionChanged] = Hub()
        # Requests for more time that were asked (to wait) or decided, by id, for the
        # administrators' tabs (subscribed under ADMINS).
        self.requests: Hub[int] = Hub()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    def launcher_named(self, name: str) -> Launcher | None:
        """The launcher a session names, None if no loaded plug-in provides it (any
        more: the session was started before it was uninstalled)."""
        return self.state.plugins.launchers().get(name)

    # -- the database ---------------------------------------------------------------------

    async def snapshot(self, session_id: str) -> Snapshot | None:
        """The session and the way to its resource; None if there is no such session."""
        async with self.state.database.read() as db:
            found = (
                await db.execute(
                    select(AppSession, Resource, User.username)
                    .join(Resource, Resource.id == AppSession.resource_id)
                    .join(User, User.id == AppSession.user_id)
                    .where(AppSession.id == session_id)
                )
            ).first()
            if found is None:
                return None
            row, resource, username = found
            plan = await plan_for_owner(db, resource, row.user_id, username)
            db.expunge(row)
        return Snapshot(row, plan, resource.name)

    async def _state_of(self, session_id: str) -> str | None:
        async with self.state.database.read() as db:
            state: str | None = await db.scalar(
                select(AppSession.state).where(AppSession.id == session_id)
            )
        return state

    async def save(
        self,
        row: AppSession,
        *,
        if_state: str | None = None,
        failure_reason: str = "",
        **values: Any,
    ) -> bool:
        """Write ``values`` to the session, tell its owner's tabs, refresh its route.
        ``if_state``: only while the session is still in that state (a check that found
        it running must not overwrite a stop that happened meanwhile); False if not.
        Its usage (``quotas.accounting``) follows in the same transaction: ready the
        first time it runs, ended (for ``failure_reason`` when it failed) when it ends."""
        values["updated_at"] = utcnow()
        statement = update(AppSession).where(AppSession.id == row.id)
        if if_state is not None:
            statement = statement.where(AppSession.state == if_state)
        others: set[int] = set()
        async with self.state.database.session() as db:
            result = cast(CursorResult[Any], await db.execute(statement.values(**values)))
            if if_state is not None and result.rowcount == 0:
                return False
            await _account(db, row.id, values, failure_reason)
            if "state" in values:  # those it is shared with see it start and end, too
                others = await recipients(db, await shares_of(db, row.id))
        for key, value in values.items():
            setattr(row, key, value)
        self.state.routes.drop(row.id)
        for user_id in {row.user_id, *others}:
            self.hub.put(user_id, SessionChanged(row.id, user_id))
        return True

    async def progress(
        self, row: AppSession, line: str, *, if_state: str | None = None, **values: Any
    ) -> bool:
        """:meth:`save` with ``line`` added to the session's progress (and logged)."""
        lines = [*row.progress, line][-PROGRESS_KEPT:]
        saved = await self.save(row, if_state=if_state, progress=lines, **values)
        if saved:
            log.info("session %s: %s", row.id, line)
        return saved

    async def claim(self, session_id: str) -> bool:
        """Take (or renew) the session's lease; False when another replica holds it."""
        now = utcnow()
        async with self.state.database.session() as db:
            result = cast(
                CursorResult[Any],
                await db.execute(
                    update(AppSession)
                    .where(
                        AppSession.id == session_id,
                        or_(
                            AppSession.lease_until.is_(None),
                            AppSession.lease_until < now,
                            AppSession.lease_owner == self.replica,
                        ),
                    )
                    .values(
                        lease_owner=self.replica, lease_until=now + timedelta(seconds=LEASE_SECONDS)
                    )
                ),
            )
        return result.rowcount == 1

    async def release(self, session_id: str) -> None:
        """Let go of the session's lease, if this replica holds it."""
        async with self.state.database.session() as db:
            await db.execute(
                update(AppSession)
                .where(AppSession.id == session_id, AppSession.lease_owner == self.replica)
                .values(lease_owner="", lease_until=None)
            )

    # -- launching -------------------------------------------------------------------------

    def driving(self, session_id: str) -> bool:
        """This replica is launching the session now."""
        task = self._tasks.get(session_id)
        return task is not None and not task.done()

    def drive(self, session_id: str) -> None:
        """Launch (or carry on launching) in the background on this replica."""
        task = self._tasks.get(session_id)
        if task is not None and not task.done():
            return
        self._tasks[session_id] = asyncio.get_running_loop().create_task(self._drive(session_id))

    async def _drive(self, session_id: str) -> None:
        try:
            if not await self.claim(session_id):
                return
            snap = await self.snapshot(session_id)
            if snap is None or snap.row.state not in (
                SessionState.PENDING.value,
                SessionState.STARTING.value,
            ):
                return
            await self._launch(snap)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("launching session %s failed", session_id)
            snap = await self.snapshot(session_id)
            if snap is not None and snap.row.state in LIVE_SESSION_STATES:
                reason = f"labgate could not launch the session: {exc}"
                await self._fail(
                    snap.row, reason, step="labgate could not launch the session.", why="other"
                )
        finally:
            with contextlib.suppress(Exception):
                await self.release(session_id)
            self._tasks.pop(session_id, None)

    async def _launch(self, snap: Snapshot) -> None:
        row = snap.row
        template = self.state.templates.get(row.template)
        launcher = self.launcher_named(row.launcher)
        if template is None or launcher is None:
            reason = f"This labgate does not know {row.template!r}/{row.launcher!r}."
            await self._fail(row, reason, step=reason, why="other")
            return
        access = Access(self.state, snap.plan)
        state: Mapping[str, Any] = row.launcher_state
        if not state:
            where = f"on {snap.resource_name}"
            await self.progress(row, f"Starting {template.title} {where}…")
            try:
                attached = await self._experiment_data(row)
                request = self._request(row, template, snap.plan, attached)
                state = await launcher.start(access, request)
            except (LaunchFailed, LabgateError) as exc:
                step = f"Could not start {template.title}: {exc}"
                await self._fail(row, str(exc), step=step, why="start_failed")
                return
            first = SessionState.PENDING if launcher.batch else SessionState.STARTING
            # Not "started": a program that is not found, or exits at once, was handed
            # to the resource all the same. What it did is said once it is known.
            line = state.get("submitted") or f"Waiting for {template.title} to answer…"
            await self.progress(row, str(line), launcher_state=dict(state), state=first.value)
        await self._until_ready(row, template, launcher, access, state)

    async def _experiment_data(self, row: AppSession) -> Attached | None:
        """The data of the session's experiment on its resource (None: launched for none)."""
        if row.experiment_id is None:
            return None
        async with self.state.database.read() as db:
            code = await db.scalar(
                select(Experiment.code).where(Experiment.id == row.experiment_id)
            )
            found = await db.execute(
                select(ExperimentLocation.kind, ExperimentLocation.path)
                .where(
                    ExperimentLocation.experiment_id == row.experiment_id,
                    ExperimentLocation.resource_id == row.resource_id,
                )
                .order_by(ExperimentLocation.position)
            )
            locations = [(kind, path) for kind, path in found.all()]
        if code is None:
            return None  # deleted meanwhile
        return attach(code, locations, str(row.form.get("workdir") or "~"))

    def _request(
        self,
        row: AppSession,
        template: AppTemplate,
        plan: ConnectionPlan,
        attached: Attached | None = None,
    ) -> LaunchRequest:
        environment = [
            line for line in str(row.form.get("environment", "")).splitlines() if line.strip()
        ]
        form = dict(row.form)
        if attached is not None:
            form["workdir"] = attached.workdir
        return LaunchRequest(
            session_id=row.id,
            owner_tag=plan.owner.tag,
            template=template,
            form=form,
            base_url=f"/s/{row.id}/",
            token=self.state.session_tokens.open(row.sealed_token, row.id),
            # The experiment's data before the form's lines (which may change what it set);
            # last, the apps environment labgate set up, at the end of PATH, so that what
            # the lines above make available wins.
            setup_lines=(
                *plan.setup_lines,
                *(attached.setup_lines if attached is not None else ()),
                *environment,
                apps_environment.path_line(),
            ),
            python=plan.python,
        )

    async def _until_ready(
        self,
        row: AppSession,
        template: AppTemplate,
        launcher: Launcher,
        access: Access,
        state: Mapping[str, Any],
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        said = ""
        token = self.state.session_tokens.open(row.sealed_token, row.id)
        renewed = started = loop.time()
        while True:
            if loop.time() - renewed > LEASE_SECONDS / 3:
                await self.claim(row.id)
                renewed = loop.time()
            if await self._state_of(row.id) not in (
                SessionState.PENDING.value,
                SessionState.STARTING.value,
            ):
                return  # stopped (or deleted) meanwhile
            try:
                poll = await launcher.poll(access, state)
            except LabgateError as exc:
                # The resource cannot be asked now (its connection dropped, a password
                # is needed again): nothing is known to have changed, as the reconciler
                # takes it; the app may well be starting. Failing the session here
                # would leave its app running with nobody to stop it.
                poll = Poll("unknown", exc.message)
            if await self.given_up(row, poll):
                return
            if poll.phase == "ended":
                await self._ended_while_launching(row, template, launcher, access, state, poll)
                return
            if poll.phase == "pending":
                if poll.message != said:
                    said = poll.message
                    await self.progress(row, poll.message, message=poll.message)
            elif poll.endpoint is not None:
                if row.endpoint != poll.endpoint.to_json():
                    found: dict[str, Any] = {
                        "endpoint": poll.endpoint.to_json(),
                        "state": SessionState.STARTING.value,
                        "message": "",
                    }
                    if poll.where:  # a batch job now runs somewhere: say where
                        line = f"Running on {poll.where}; starting {template.title}…"
                        await self.progress(row, line, **found)
                    else:
                        await self.save(row, **found)
                timeout = (
                    self.state.settings.app_start_timeout_seconds or template.start_timeout_seconds
                )
                if deadline is None:
                    deadline = loop.time() + timeout
                app = probes.AppOverTunnel(
                    access.pool(poll.endpoint, token), template, f"/s/{row.id}/", token
                )
                if await probes.is_ready(
                    self.state.plugins.readiness_checks()[template.readiness],
                    app,
                    within=self.state.settings.app_probe_timeout_seconds,
                ):
                    await self.progress(
                        row,
                        f"{template.title} is ready.",
                        state=SessionState.RUNNING.value,
                        ready_at=utcnow(),
                        last_activity_at=utcnow(),
                        message="",
                    )
                    return
                if loop.time() > deadline:
                    text = await self.launch_log(launcher, access, state)
                    with contextlib.suppress(Exception):
                        await launcher.stop(access, state)
                    said = (
                        f"{template.title} did not answer within {timeout} seconds, "
                        "so it was stopped."
                    )
                    reason = explain(template, text, said)
                    await self._fail(row, reason, step=said, why="timeout", log_tail=text)
                    return
            eager = not launcher.batch and loop.time() - started < EAGER_FOR_SECONDS
            await asyncio.sleep(EAGER_POLL_SECONDS if eager else POLL_SECONDS[launcher.batch])

    async def given_up(self, row: AppSession, poll: Poll) -> bool:
        """Note whether the launcher knows where the session is. An ``unknown`` answer
        (the scheduler does not answer) changes nothing but a progress line, once;
        after ``app_scheduler_outage_seconds`` of them the session is given up: it turns
        ``stopping`` (ending ``failed``) and the reconciler cancels its job once the
        scheduler answers. True then: the caller stops looking at it."""
        if poll.phase != "unknown":
            if row.unknown_since is not None:
                await self.progress(row, "The scheduler answers again.", unknown_since=None)
            return False
        now = utcnow()
        if row.unknown_since is None:
            line = "The scheduler does not answer; asking again."
            log.info("session %s: %s", row.id, poll.message)
            await self.progress(row, line, if_state=row.state, unknown_since=now)
            return False
        outage = timedelta(seconds=self.state.settings.app_scheduler_outage_seconds)
        if now - row.unknown_since < outage:
            return False
        minutes = max(1, round((now - row.unknown_since).total_seconds() / 60))
        reason = (
            f"The scheduler did not answer for {minutes} minutes ({poll.message}), so "
            "labgate gave the session up; its job is cancelled as soon as the scheduler "
            "answers again."
        )
        await self.progress(
            row,
            f"Stopping: {reason}",
            if_state=row.state,  # not if it was stopped meanwhile
            state=SessionState.STOPPING.value,
            final_state=SessionState.FAILED.value,
            message=reason,
        )
        return True

    async def _ended_while_launching(
        self,
        row: AppSession,
        template: AppTemplate,
        launcher: Launcher,
        access: Access,
        state: Mapping[str, Any],
        poll: Poll,
    ) -> None:
        text = await self.launch_log(launcher, access, state)
        reason = explain(template, text, poll.message)
        await self._fail(row, reason, step=poll.message, why="app_exited", log_tail=text)

    async def launch_log(self, launcher: Launcher, access: Access, state: Mapping[str, Any]) -> str:
        """The end of what the app printed; empty if it cannot be read now."""
        try:
            return (await launcher.log(access, state, LOG_TAIL_BYTES))[-LOG_TAIL_BYTES:]
        except Exception as exc:
            log.info("could not read a session's log: %s", exc)
            return ""

    async def _fail(
        self, row: AppSession, reason: str, *, step: str, why: str, log_tail: str = ""
    ) -> None:
        """The session failed: ``step``, the progress line of what failed (its last;
        the front end marks it failed), ``reason`` the message for the user, ``why`` its
        slug for the usage history (``timeout``, ``app_exited``, ``start_failed``...)."""
        await self.progress(
            row,
            step,
            failure_reason=why,
            state=SessionState.FAILED.value,
            message=reason,
            ended_at=utcnow(),
            log_tail=log_tail or row.log_tail,
        )

    # -- stopping ----------------------------------------------------------------------------

    async def stop(
        self, session_id: str, reason: str, final: SessionState = SessionState.STOPPED
    ) -> None:
        """Mark it stopping at once (the proxy refuses it from now on), then end the app."""
        snap = await self.snapshot(session_id)
        if snap is None or snap.row.state not in LIVE_SESSION_STATES:
            return
        task = self._tasks.pop(session_id, None)
        if task is not None:
            task.cancel()
        row = snap.row
        if row.state != SessionState.STOPPING.value:  # a stop tried again says it once
            await self.progress(
                row,
                f"Stopping: {reason}",
                state=SessionState.STOPPING.value,
                message=reason,
                final_state=final.value,
            )
        launcher = self.launcher_named(row.launcher)
        if launcher is not None and row.launcher_state:
            try:
                await launcher.stop(Access(self.state, snap.plan), row.launcher_state)
            except Exception as exc:
                # The resource may be unreachable now; the reconciler tries again.
                log.warning("stopping session %s: %s", session_id, exc)
                return
        # A session given up fails (the scheduler stopped answering, ``given_up``).
        why = "scheduler" if row.unknown_since is not None else "other"
        await self.progress(
            row, "Stopped.", state=final.value, ended_at=utcnow(), failure_reason=why
        )

    def stop_soon(self, session_id: str, reason: str) -> None:
        """:meth:`stop` in the background (the API answers at once)."""
        task = asyncio.get_running_loop().create_task(self.stop(session_id, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def run_soon(self, work: Coroutine[Any, Any, None]) -> None:
        """``work`` (e-mail to send) in the background, ended with the lifecycle."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def changed(self, session_id: str, user_id: int) -> None:
        """Something else changed the session (an extension): tell the tabs, drop the route."""
        self.state.routes.drop(session_id)
        self.hub.put(user_id, SessionChanged(session_id, user_id))

    def request_changed(self, extension_id: int) -> None:
        """A request for more time now waits, or was decided: tell administrators' tabs."""
        self.requests.put(ADMINS, extension_id)

    async def read_log(self, session_id: str) -> str:
        snap = await self.snapshot(session_id)
        if snap is None:
            return ""
        launcher = self.launcher_named(snap.row.launcher)
        if launcher is None or not snap.row.launcher_state:
            return snap.row.log_tail
        access = Access(self.state, snap.plan)
        return await self.launch_log(launcher, access, snap.row.launcher_state)

    async def close(self) -> None:
        """The server stops: launches in progress are left to the next server (their
        lease runs out); the apps themselves keep running on the resources."""
        for task in [*self._tasks.values(), *self._background]:
            task.cancel()
        for task in [*self._tasks.values(), *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
