"""Interactive sessions: the app templates, launching, the list, stopping, extending,
the app's log, and the administrators' decisions on requests for more time.

A launch is checked here (template, launcher, form, the resource, the user's limit) and
answered at once with the new session in ``pending``; the lifecycle then drives it to
``running`` in the background and pushes every step to the user's events socket.

Limits counted in the database (live sessions per user, extensions granted without an
administrator) are counted and acted on in one turn per user: concurrent requests of
one user take turns (:func:`_one_at_a_time`), so they cannot all pass one check together.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool, StringConstraints
from sqlalchemy import func, select

from labgate.api.deps import CurrentPrincipal, Db, State, after_commit
from labgate.api.schemas import Body, Id
from labgate.auth.policy import Action, authorize
from labgate.auth.principal import Principal
from labgate.db.engine import lock_per_user
from labgate.db.models import (
    ENDED_SESSION_STATES,
    LIVE_SESSION_STATES,
    AppSession,
    ExtensionState,
    Resource,
    SessionExtension,
    SessionState,
)
from labgate.db.types import utcnow
from labgate.errors import Conflict, FieldProblem, LimitReached, NotFound, ValidationFailed
from labgate.launching.template import AppTemplate, validate_form
from labgate.resources import catalog
from labgate.resources.access import check_still_allowed
from labgate.sessions.lifecycle import launcher_named, launcher_names
from labgate.sessions.policy import idle_stop_at, policy_for
from labgate.sessions.tokens import new_session_id
from labgate.state import AppState

router = APIRouter(tags=["sessions"])

LISTED = 200


class TemplateOut(BaseModel):
    id: str
    title: str
    description: str
    icon: str
    fields: list[dict[str, Any]]
    launchers: list[str]


class TemplateList(BaseModel):
    templates: list[TemplateOut]


class LaunchIn(Body):
    template: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    resource_id: Id
    launcher: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "direct"
    title: Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)] = ""
    form: dict[str, Any] = Field(default_factory=dict)


class ExtendIn(Body):
    hours: Annotated[int, Field(ge=1, le=24 * 30)]
    reason: Annotated[str, StringConstraints(max_length=2000)] = ""


class DecideIn(Body):
    grant: StrictBool


class ExtensionOut(BaseModel):
    id: int
    session_id: str
    hours: int
    reason: str
    state: str
    requested_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, row: SessionExtension) -> ExtensionOut:
        return cls(
            id=row.id,
            session_id=row.session_id,
            hours=row.hours,
            reason=row.reason,
            state=row.state,
            requested_at=row.requested_at,
            decided_at=row.decided_at,
        )


class SessionOut(BaseModel):
    id: str
    title: str
    template: str
    launcher: str
    resource_id: Id
    owner_id: int
    state: str
    message: str
    progress: list[str]
    #: The page to open (below ``/s/<id>/``), once running.
    url: str
    created_at: datetime
    ready_at: datetime | None
    ended_at: datetime | None
    last_activity_at: datetime
    idle_minutes: int
    #: When idle clean-up will stop it if nothing happens (null: never).
    idle_stop_at: datetime | None
    #: The end of its lifetime or time limit (null: none).
    ends_at: datetime | None
    warned_at: datetime | None
    form: dict[str, Any]
    extension: ExtensionOut | None = None

    @classmethod
    def of(
        cls, row: AppSession, template: AppTemplate | None, extension: SessionExtension | None
    ) -> SessionOut:
        idle_stop = (
            idle_stop_at(row.last_activity_at, row.idle_minutes)
            if row.state in LIVE_SESSION_STATES
            else None
        )
        return cls(
            id=row.id,
            title=row.title,
            template=row.template,
            launcher=row.launcher,
            resource_id=row.resource_id,
            owner_id=row.user_id,
            state=row.state,
            message=row.message,
            progress=list(row.progress),
            url=f"/s/{row.id}/{template.open_path if template else ''}",
            created_at=row.created_at,
            ready_at=row.ready_at,
            ended_at=row.ended_at,
            last_activity_at=row.last_activity_at,
            idle_minutes=row.idle_minutes,
            idle_stop_at=idle_stop,
            ends_at=row.ends_at,
            warned_at=row.warned_at,
            form=dict(row.form),
            extension=ExtensionOut.of(extension) if extension else None,
        )


class SessionList(BaseModel):
    sessions: list[SessionOut]


class LogOut(BaseModel):
    log: str


@router.get("/app-templates", summary="What can be launched")
async def list_templates(principal: CurrentPrincipal, state: State) -> TemplateList:
    authorize(principal, Action.LIST_SESSIONS)
    return TemplateList(
        templates=[
            TemplateOut(**t.describe(), launchers=launcher_names())
            for t in state.templates.values()
        ]
    )


async def _latest_extensions(db: Db, ids: list[str]) -> dict[str, SessionExtension]:
    if not ids:
        return {}
    rows = await db.scalars(
        select(SessionExtension)
        .where(SessionExtension.session_id.in_(ids))
        .order_by(SessionExtension.requested_at)
    )
    return {row.session_id: row for row in rows}  # the newest wins


async def _out(db: Db, state: AppState, row: AppSession) -> SessionOut:
    extension = (await _latest_extensions(db, [row.id])).get(row.id)
    return SessionOut.of(row, state.templates.get(row.template), extension)


_SESSIONS_LOCK = 0x73657373


async def _one_at_a_time(db: Db, user_id: int) -> None:
    """Until the request's transaction ends, other requests that count or change this
    user's sessions wait here (:func:`labgate.db.engine.lock_per_user`, as uploads and
    transfers do for theirs)."""
    await lock_per_user(db, _SESSIONS_LOCK, user_id)


async def _own(db: Db, principal: Principal, session_id: str, action: Action) -> AppSession:
    row = await db.get(AppSession, session_id)
    if row is None or (row.user_id != principal.user_id and not principal.is_admin):
        raise NotFound(f"There is no session {session_id!r}.")
    authorize(principal, action, owner_id=row.user_id)
    return row


@router.post("/sessions", status_code=201, summary="Launch an app")
async def launch(
    request: Request, body: LaunchIn, principal: CurrentPrincipal, state: State, db: Db
) -> SessionOut:
    authorize(principal, Action.MANAGE_SESSIONS)
    authorize(principal, Action.USE_RESOURCE)
    template = state.templates.get(body.template)
    if template is None:
        known = ", ".join(sorted(state.templates))
        raise ValidationFailed(
            f"There is no app template {body.template!r}. Known: {known}.",
            details=[FieldProblem("body.template", f"unknown template (known: {known})")],
        )
    launcher = launcher_named(body.launcher)
    if launcher is None:
        raise ValidationFailed(
            f"There is no launcher {body.launcher!r}.",
            details=[FieldProblem("body.launcher", f"one of {', '.join(launcher_names())}")],
        )
    form = validate_form(template, body.form, batch=launcher.batch)
    resource: Resource = await catalog.get_visible(db, principal, state.settings, body.resource_id)
    policy = policy_for(principal.role, state.settings)
    await _one_at_a_time(db, principal.user_id)
    live = await db.scalar(
        select(func.count())
        .select_from(AppSession)
        .where(AppSession.user_id == principal.user_id, AppSession.state.in_(LIVE_SESSION_STATES))
    )
    if (live or 0) >= policy.max_sessions:
        raise Conflict(
            f"You have {live} sessions running or starting, the most you may have. Stop one first."
        )
    now = utcnow()
    session_id = new_session_id()
    token = state.session_tokens.new()
    row = AppSession(
        id=session_id,
        user_id=principal.user_id,
        resource_id=resource.id,
        template=template.id,
        launcher=launcher.name,
        title=body.title or f"{template.title} on {resource.name}",
        form=form,
        state=SessionState.PENDING.value,
        message="",
        launcher_state={},
        sealed_token=state.session_tokens.seal(token, session_id),
        progress=[],
        log_tail="",
        created_at=now,
        last_activity_at=now,
        idle_minutes=policy.idle_minutes,
        ends_at=_ends_at(now, policy.max_hours, form if launcher.batch else None),
        lease_owner="",
        updated_at=now,
    )
    db.add(row)
    await db.flush()
    out = SessionOut.of(row, template, None)
    # The launch begins once this transaction is committed (the driver reads the row).
    after_commit(request, lambda: state.lifecycle.drive(session_id))
    return out


@router.get("/sessions", summary="Your sessions")
async def list_sessions(
    principal: CurrentPrincipal,
    state: State,
    db: Db,
    everyone: Annotated[bool, Query(alias="all")] = False,
    live: bool = False,
) -> SessionList:
    """Newest first; ``all=true`` (administrators): everybody's; ``live=true``: only those
    not ended."""
    authorize(principal, Action.LIST_SESSIONS)
    query = select(AppSession).order_by(AppSession.created_at.desc()).limit(LISTED)
    if everyone:
        authorize(principal, Action.DECIDE_EXTENSIONS)
    else:
        query = query.where(AppSession.user_id == principal.user_id)
    if live:
        query = query.where(AppSession.state.in_(LIVE_SESSION_STATES))
    rows = list(await db.scalars(query))
    extensions = await _latest_extensions(db, [r.id for r in rows])
    return SessionList(
        sessions=[
            SessionOut.of(r, state.templates.get(r.template), extensions.get(r.id)) for r in rows
        ]
    )


@router.get("/sessions/{session_id}", summary="One session")
async def get_session(
    session_id: str, principal: CurrentPrincipal, state: State, db: Db
) -> SessionOut:
    row = await _own(db, principal, session_id, Action.LIST_SESSIONS)
    return await _out(db, state, row)


@router.post("/sessions/{session_id}/stop", summary="Stop a session")
async def stop_session(
    request: Request, session_id: str, principal: CurrentPrincipal, state: State, db: Db
) -> SessionOut:
    """Pending jobs are cancelled, running apps ended. Answers at once with the session
    in ``stopping``; it turns ``stopped`` when the app is gone."""
    row = await _own(db, principal, session_id, Action.MANAGE_SESSIONS)
    if row.state not in LIVE_SESSION_STATES:
        return await _out(db, state, row)
    who = "you" if row.user_id == principal.user_id else f"administrator {principal.username}"
    after_commit(request, lambda: state.lifecycle.stop_soon(session_id, f"stopped by {who}"))
    row.state = SessionState.STOPPING.value
    row.message = f"stopped by {who}"
    return await _out(db, state, row)


@router.delete("/sessions/{session_id}", status_code=204, summary="Forget an ended session")
async def forget_session(session_id: str, principal: CurrentPrincipal, db: Db) -> Response:
    row = await _own(db, principal, session_id, Action.MANAGE_SESSIONS)
    if row.state in LIVE_SESSION_STATES:
        raise Conflict("The session is still live; stop it first.")
    await db.delete(row)
    return Response(status_code=204)


@router.get("/sessions/{session_id}/log", summary="What the app printed")
async def session_log(session_id: str, principal: CurrentPrincipal, state: State, db: Db) -> LogOut:
    row = await _own(db, principal, session_id, Action.LIST_SESSIONS)
    if row.state in ENDED_SESSION_STATES or not row.launcher_state:
        return LogOut(log=row.log_tail)
    return LogOut(log=await state.lifecycle.read_log(session_id) or row.log_tail)


@router.post("/sessions/{session_id}/extend", summary="Ask for more time")
async def extend_session(
    request: Request,
    session_id: str,
    body: ExtendIn,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> SessionOut:
    """Within the policy (``app_extension_hours``, ``app_auto_extensions``) it is granted
    at once: the idle clock starts again and the end moves by ``hours``. Otherwise it
    waits for an administrator (``extension.state`` is ``pending``). Refused (403,
    ``access_lost``) once the owner may no longer use the session's resource."""
    row = await _own(db, principal, session_id, Action.MANAGE_SESSIONS)
    await _one_at_a_time(db, row.user_id)
    await db.refresh(row)  # as the request before this one in turn left it
    if row.state not in (
        SessionState.RUNNING.value,
        SessionState.STARTING.value,
        SessionState.PENDING.value,
    ):
        raise Conflict("Only a live session can be extended.")
    await _check_owner_access(db, state, row)
    policy = policy_for(principal.role, state.settings)
    granted_before = await db.scalar(
        select(func.count())
        .select_from(SessionExtension)
        .where(
            SessionExtension.session_id == row.id,
            SessionExtension.state == ExtensionState.GRANTED.value,
        )
    )
    automatic = (
        body.hours <= policy.auto_extension_hours and (granted_before or 0) < policy.auto_extensions
    )
    if not automatic:
        await _check_waiting_room(db, state, principal.user_id)
    now = utcnow()
    extension = SessionExtension(
        session_id=row.id,
        hours=body.hours,
        reason=body.reason,
        state=ExtensionState.GRANTED.value if automatic else ExtensionState.PENDING.value,
        requested_at=now,
        decided_at=now if automatic else None,
    )
    db.add(extension)
    if automatic:
        _grant(row, body.hours, now)
    await db.flush()
    after_commit(request, lambda: state.lifecycle.changed(row.id, row.user_id))
    return SessionOut.of(row, state.templates.get(row.template), extension)


async def _check_waiting_room(db: Db, state: AppState, user_id: int) -> None:
    """Refuse (409) a request that would wait for an administrator beyond the user's
    ``app_max_pending_extensions`` (counted in the user's turn: ``_one_at_a_time``)."""
    waiting = await db.scalar(
        select(func.count())
        .select_from(SessionExtension)
        .join(AppSession, AppSession.id == SessionExtension.session_id)
        .where(
            AppSession.user_id == user_id,
            SessionExtension.state == ExtensionState.PENDING.value,
        )
    )
    if (waiting or 0) >= state.settings.app_max_pending_extensions:
        raise LimitReached(
            "too_many_extension_requests",
            f"You have {waiting} requests for more time waiting for an administrator, the "
            "most labgate keeps for one person. Wait for an answer before asking again.",
        )


async def _check_owner_access(db: Db, state: AppState, row: AppSession) -> None:
    """More time only for a session whose owner may still use its resource."""
    resource = await db.get(Resource, row.resource_id)
    if resource is not None:
        await check_still_allowed(db, state.settings, row.user_id, resource)


def _ends_at(now: datetime, max_hours: int, batch_form: dict[str, Any] | None) -> datetime | None:
    """The end of a session's life: the policy's lifetime, or a batch job's time limit
    when that comes first (the scheduler ends the job then)."""
    ends = [now + timedelta(hours=max_hours)] if max_hours else []
    if batch_form is not None:
        ends.append(now + timedelta(minutes=int(batch_form.get("walltime_minutes", 60))))
    return min(ends) if ends else None


def _grant(row: AppSession, hours: int, now: datetime) -> None:
    """More time: the idle clock starts again, and the end moves, except for a batch job,
    whose time limit only the scheduler's administrators can raise."""
    row.last_activity_at = now
    row.warned_at = None
    launcher = launcher_named(row.launcher)
    if row.ends_at is not None and launcher is not None and not launcher.batch:
        row.ends_at = max(row.ends_at, now) + timedelta(hours=hours)


class ExtensionList(BaseModel):
    extensions: list[ExtensionOut]


@router.get("/session-extensions", summary="Requests for more time (administrators)")
async def list_extensions(
    principal: CurrentPrincipal,
    db: Db,
    status: Literal["pending", "granted", "refused"] | None = "pending",
) -> ExtensionList:
    authorize(principal, Action.DECIDE_EXTENSIONS)
    query = select(SessionExtension).order_by(SessionExtension.requested_at.desc()).limit(LISTED)
    if status is not None:
        query = query.where(SessionExtension.state == status)
    return ExtensionList(extensions=[ExtensionOut.of(r) for r in await db.scalars(query)])


@router.post("/session-extensions/{extension_id}", summary="Grant or refuse more time")
async def decide_extension(
    request: Request,
    extension_id: Id,
    body: DecideIn,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> ExtensionOut:
    authorize(principal, Action.DECIDE_EXTENSIONS)
    # Locked (PostgreSQL) so that two administrators deciding at once take turns: the
    # second finds it decided.
    extension = await db.get(
        SessionExtension, extension_id, with_for_update=True, populate_existing=True
    )
    if extension is None:
        raise NotFound(f"There is no extension request {extension_id}.")
    if extension.state != ExtensionState.PENDING.value:
        raise Conflict(f"This request was {extension.state} already.")
    now = utcnow()
    extension.state = (ExtensionState.GRANTED if body.grant else ExtensionState.REFUSED).value
    extension.decided_at = now
    extension.decided_by = principal.user_id
    row = await db.get(AppSession, extension.session_id)
    if row is not None:
        await _one_at_a_time(db, row.user_id)  # with the owner's own extensions
        await db.refresh(row)
    if row is not None and body.grant and row.state in LIVE_SESSION_STATES:
        await _check_owner_access(db, state, row)
        _grant(row, extension.hours, now)
    if row is not None:
        owner = row.user_id
        session_id = extension.session_id
        after_commit(request, lambda: state.lifecycle.changed(session_id, owner))
    return ExtensionOut.of(extension)
