"""The reconciliation loop: every ``app_reconcile_seconds`` each replica checks every live
session that no one is launching, and brings the database and reality into agreement.

A launch whose driver went away (its replica died) is carried on from the saved state; a
session left ``stopping`` is stopped again; for a running one: does its app still run
(else: failed, with why), how long has it been idle (the proxy's traffic, and for
JupyterLab busy kernels), is its time up? Its owner is warned before it is stopped, once
per entry of ``app_warnings_minutes`` (a day and an hour before): in the workspace, and
by a notification of kind ``session_warning`` (e-mailed when they want it).

One user cannot hold up the others' sessions. Sessions are checked side by side, at most
``app_reconcile_concurrency`` at once, each check within ``app_check_timeout_seconds``
(and every agent call and app probe in it within its own deadline). Rounds start on time
whether or not an earlier round's checks have ended: a session whose check still runs is
left to it. A check that runs out of time is logged and tried again on a later round; it
never fails a session by itself. A check holds the session's lease, so no two replicas
check one session at once, and lets go of it however the check ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from functools import partial

from sqlalchemy import select

from labgate.db.models import LIVE_SESSION_STATES, AppSession, SessionState
from labgate.db.types import utcnow
from labgate.errors import LabgateError
from labgate.launching.diagnosis import explain
from labgate.launching.launcher import Endpoint
from labgate.notifications.centre import notify
from labgate.notifications.kinds import SESSION_WARNING
from labgate.sessions import probes
from labgate.sessions.lifecycle import Access, Lifecycle, Snapshot
from labgate.sessions.policy import idle_stop_at, warning_due, warnings_kept

log = logging.getLogger(__name__)


class Reconciler:
    """Checks the live sessions for one replica (:meth:`run_forever`), through the
    ``lifecycle``'s leases and saves."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.settings = lifecycle.state.settings
        self._database = lifecycle.state.database
        self._slots = asyncio.Semaphore(self.settings.app_reconcile_concurrency)
        # Each session's check in progress (waiting for a slot, or running).
        self._checks: dict[str, asyncio.Task[None]] = {}

    async def run_forever(self) -> None:
        """Start a round every ``app_reconcile_seconds`` (without waiting for the last
        round's checks to end)."""
        while True:
            try:
                self.start_round(await self._live_sessions())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciling sessions failed")
            await asyncio.sleep(self.settings.app_reconcile_seconds)

    async def reconcile_once(self) -> None:
        """One round, returning when its checks have ended (each within
        ``app_check_timeout_seconds`` of getting its turn)."""
        started = self.start_round(await self._live_sessions())
        if started:
            await asyncio.wait(started)

    def start_round(self, session_ids: list[str]) -> list[asyncio.Task[None]]:
        """Start checking each of ``session_ids`` that is neither being launched here nor
        still being checked; the checks started."""
        started = []
        for session_id in session_ids:
            if self.lifecycle.driving(session_id) or session_id in self._checks:
                continue
            task = asyncio.get_running_loop().create_task(self._check(session_id))
            self._checks[session_id] = task
            task.add_done_callback(partial(self._ended, session_id))
            started.append(task)
        return started

    def _ended(self, session_id: str, _task: asyncio.Task[None]) -> None:
        self._checks.pop(session_id, None)

    async def close(self) -> None:
        """Give up the checks in progress (each lets go of its lease on the way out)."""
        checks = list(self._checks.values())
        for task in checks:
            task.cancel()
        for task in checks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _live_sessions(self) -> list[str]:
        async with self._database.read() as db:
            return list(
                await db.scalars(
                    select(AppSession.id).where(AppSession.state.in_(LIVE_SESSION_STATES))
                )
            )

    async def _check(self, session_id: str) -> None:
        async with self._slots:
            seconds = self.settings.app_check_timeout_seconds
            deadline = asyncio.timeout(seconds)
            try:
                async with deadline:
                    await self._reconcile(session_id)
            except TimeoutError:
                if not deadline.expired():
                    raise
                log.warning(
                    "session %s: its check took longer than %d s and was given up; "
                    "it is checked again on a later round",
                    session_id,
                    seconds,
                )
            except Exception as exc:
                log.info("checking session %s: %s", session_id, exc)

    async def _reconcile(self, session_id: str) -> None:
        lifecycle = self.lifecycle
        if not await lifecycle.claim(session_id):
            return  # another replica is at it
        relaunch = False
        try:
            snap = await lifecycle.snapshot(session_id)
            state = snap.row.state if snap is not None else None
            if state in (SessionState.PENDING.value, SessionState.STARTING.value):
                relaunch = True  # its driver went away: carry on from the saved state
            elif snap is not None and state == SessionState.STOPPING.value:
                final = SessionState(snap.row.final_state or SessionState.STOPPED.value)
                await lifecycle.stop(session_id, snap.row.message or "stopping", final)
            elif snap is not None:
                await self._check_running(snap)
        finally:
            # Also when the check is cancelled (its time is up, the server stops): the
            # lease must not wait out its minute before another replica may check.
            with contextlib.suppress(Exception):
                await lifecycle.release(session_id)
        if relaunch:
            lifecycle.drive(session_id)  # after the release: the driver claims it anew

    async def _check_running(self, snap: Snapshot) -> None:
        lifecycle = self.lifecycle
        row = snap.row
        template = lifecycle.state.templates.get(row.template)
        launcher = lifecycle.launcher_named(row.launcher)
        if template is None or launcher is None:
            return
        access = Access(lifecycle.state, snap.plan)
        try:
            poll = await launcher.poll(access, row.launcher_state)
        except LabgateError as exc:
            # Not reachable without someone typing a password, or not answering in
            # time: nothing to decide now.
            log.info("session %s: cannot check: %s", row.id, exc.message)
            return
        if await lifecycle.given_up(row, poll):
            return
        if poll.phase == "ended":
            text = await lifecycle.launch_log(launcher, access, row.launcher_state)
            final = (
                SessionState.EXPIRED
                if poll.scheduler_state == "TIMEOUT"
                else SessionState.FAILED
                if poll.failed
                else SessionState.STOPPED
            )
            await lifecycle.progress(
                row,
                f"Ended: {poll.message}",
                if_state=SessionState.RUNNING.value,  # not if it was stopped meanwhile
                state=final.value,
                message=explain(template, text, poll.message) if poll.failed else poll.message,
                ended_at=utcnow(),
                log_tail=text,
                failure_reason="app_exited",
            )
            return
        now = utcnow()
        last = row.last_activity_at
        if template.activity is not None and row.endpoint:
            token = lifecycle.state.session_tokens.open(row.sealed_token, row.id)
            app = probes.AppOverTunnel(
                access.pool(Endpoint.from_json(row.endpoint), token),
                template,
                f"/s/{row.id}/",
                token,
            )
            said = await probes.activity_of(
                lifecycle.state.plugins.activity_probes()[template.activity],
                app,
                within=self.settings.app_probe_timeout_seconds,
            )
            newer = now if said.busy else said.last_activity
            if newer is not None and newer > last:
                last = newer
                if warnings_kept(row.ends_at, now, self.settings):
                    await lifecycle.save(row, last_activity_at=last)
                else:
                    await lifecycle.save(
                        row, last_activity_at=last, warned_at=None, warnings_sent=0
                    )
        await self.enforce_limits(snap, now, last)

    async def enforce_limits(self, snap: Snapshot, now: datetime, last: datetime) -> None:
        """Stop the session if its idle limit or lifetime is up at ``now`` (it was last
        used at ``last``), or warn its owner when a warning is due."""
        lifecycle = self.lifecycle
        row = snap.row
        idle_at = idle_stop_at(last, row.idle_minutes)
        candidates = [
            (t, why) for t, why in ((idle_at, "idle"), (row.ends_at, "time")) if t is not None
        ]
        if not candidates:
            return
        stop_at, why = min(candidates, key=lambda pair: pair[0])
        if now >= stop_at:
            if why == "idle":
                await lifecycle.stop(row.id, f"no activity for {row.idle_minutes} minutes")
            else:
                await lifecycle.stop(row.id, "its time was up", SessionState.EXPIRED)
            return
        due = warning_due(now, stop_at, self.settings.app_warnings_minutes, row.warnings_sent)
        if due is None:
            return
        minutes = max(1, round((stop_at - now).total_seconds() / 60))
        cause = "without activity" if why == "idle" else "at the end of its time"
        text = (
            f"{row.title} on {snap.resource_name} will be stopped in {_duration(minutes)} "
            f"{cause}. Use it, or extend it in labgate, to keep it."
        )
        if not await lifecycle.progress(
            row, text, if_state=row.state, warned_at=now, warnings_sent=due + 1
        ):
            return  # stopped meanwhile
        async with self._database.session() as db:
            await notify(
                db,
                row.user_id,
                SESSION_WARNING,
                f"labgate: {row.title} will be stopped soon",
                text,
                {"session": row.id},
            )


def _duration(minutes: int) -> str:
    """About how long, in words ("about 23 hours", "about 5 minutes")."""
    if minutes >= 120:
        return f"about {round(minutes / 60)} hours"
    return f"about {minutes} minutes"
