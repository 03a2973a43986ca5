"""Sharing a terminal: the terminal becomes a session of the built-in ``terminal`` app,
so that everything sharing has (shares with users and groups, invitation links,
support staff, who is connected, the audit log, closing revoked sockets) works for it
as for JupyterLab or a desktop, through one machinery.

The session points at the terminal, a process the owner's daemon runs already (its id
and the owner's tag, in the launcher state of :mod:`labgate.launchers.terminal`): it
starts nothing, and those it is shared with attach to that process through the owner's
connection (``/api/v1/sessions/<id>/terminal``). It is made ``running`` at once and
ends when the terminal ends (the reconciler asks the owner's daemon) or when its owner
stops it, which ends the sharing and leaves the terminal running. It is never stopped
for being idle (a terminal someone only reads is in use), but lives no longer than the
owner's sessions may (``app_max_hours``). Sharing the same terminal again gives the
same session while it is live.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.agent.typed import ProcessInfo
from labgate.auth.principal import Principal
from labgate.db.models import LIVE_SESSION_STATES, AppSession, Resource, SessionState
from labgate.db.types import utcnow
from labgate.errors import Conflict, ValidationFailed
from labgate.launchers.terminal import NAME as LAUNCHER
from labgate.launching.template import AppTemplate
from labgate.sessions.policy import policy_for
from labgate.sessions.service import ends_at, one_at_a_time
from labgate.sessions.tokens import SessionTokens, new_session_id
from labgate.settings import Settings

TERMINAL = AppTemplate(
    id="terminal",
    title="Terminal",
    description="A terminal its owner shares: its shell, live, for those it is shared with.",
    icon="terminal",
    # Nothing is started: the session is a terminal that runs already.
    command="",
    listen="socket",
    ready_path="",
    keeps_base_path=False,
    view="terminal",
    # The terminal socket drops a GUEST's typing, resizing and signals.
    guest_view=True,
    launchable=False,
)


async def share_terminal(
    db: AsyncSession,
    settings: Settings,
    tokens: SessionTokens,
    principal: Principal,
    resource: Resource,
    process: ProcessInfo,
) -> tuple[AppSession, bool]:
    """The session sharing the caller's terminal ``process`` on ``resource`` (found with
    its owner's tag, the current or a legacy one, which the share keeps to find it again),
    and whether it was made now: the live one that shares it already,
    else a new one, ``running``. Refused: a process that is not a terminal (422), one
    that has ended (409)."""
    if not process.pty:
        raise ValidationFailed("Only a terminal can be shared; this process has none.")
    if not process.running:
        raise Conflict("The terminal has ended; open a new one to share.")
    await one_at_a_time(db, principal.user_id)
    live = await db.scalars(
        select(AppSession).where(
            AppSession.user_id == principal.user_id,
            AppSession.resource_id == resource.id,
            AppSession.template == TERMINAL.id,
            AppSession.state.in_(LIVE_SESSION_STATES),
        )
    )
    for row in live:
        if row.launcher_state.get("process_id") == process.id:
            return row, False
    now = utcnow()
    session_id = new_session_id()
    policy = policy_for(principal.role, settings)
    row = AppSession(
        id=session_id,
        user_id=principal.user_id,
        resource_id=resource.id,
        template=TERMINAL.id,
        launcher=LAUNCHER,
        title=f"Terminal on {resource.name}",
        form={"process_id": process.id},
        state=SessionState.RUNNING.value,
        message="",
        launcher_state={"process_id": process.id, "owner": process.owner},
        sealed_token=tokens.seal(tokens.new(), session_id),
        progress=["Sharing a terminal that runs already."],
        log_tail="",
        created_at=now,
        ready_at=now,
        last_activity_at=now,
        idle_minutes=0,
        ends_at=ends_at(now, policy.max_hours, None),
        lease_owner="",
        updated_at=now,
    )
    db.add(row)
    await db.flush()
    return row, True
