"""Interactive sessions: the app templates, launching, the list, stopping, extending,
the app's log, and the administrators' decisions on requests for more time.

The rules are :mod:`labgate.sessions.service`'s; here the request is read, the caller
authorised and the answer shaped. A launch is answered at once with the new session in
``pending``; once the request's transaction is committed, the lifecycle drives it to
``running`` in the background and pushes every step to the user's events socket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.api.deps import CurrentPrincipal, Db, State, after_commit
from labgate.api.schemas import Body, Id, OneLineTitle
from labgate.auth.policy import Action, SessionRole, authorize
from labgate.auth.principal import Principal
from labgate.db.models import (
    LIVE_SESSION_STATES,
    AppSession,
    Experiment,
    ExtensionState,
    SessionExtension,
    SessionState,
    User,
)
from labgate.errors import FieldProblem, NotFound, ValidationFailed
from labgate.launching.launcher import launchable
from labgate.launching.template import AppTemplate
from labgate.launching.usable import usable_launchers
from labgate.resources import catalog
from labgate.resources.plan import plan_for
from labgate.sessions import service, sharing, switches
from labgate.sessions.failure_actions import FailureAction, failure_actions
from labgate.sessions.lifecycle import Access
from labgate.sessions.policy import idle_stop_at
from labgate.state import AppState

router = APIRouter(tags=["sessions"])


class TemplateOut(BaseModel):
    id: str
    title: str
    description: str
    icon: str
    #: ``web`` (pages through the proxy) or ``desktop`` (the desktop pane, over RFB).
    view: str
    fields: list[dict[str, Any]]
    launchers: list[str]


class TemplateList(BaseModel):
    templates: list[TemplateOut]


class LaunchIn(Body):
    template: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    resource_id: Id
    launcher: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "direct"
    title: OneLineTitle = ""
    form: dict[str, Any] = Field(default_factory=dict)
    #: Launched for this experiment: its data attached, its members see it listed.
    experiment_id: Id | None = None


class ExtendIn(Body):
    hours: Annotated[int, Field(ge=1, le=24 * 30)]
    reason: Annotated[str, StringConstraints(max_length=2000)] = ""


class DecideIn(Body):
    grant: StrictBool
    #: With a grant: the hours given (default: those asked).
    hours: Annotated[int, Field(ge=1, le=24 * 30)] | None = None
    #: Shown to the user with the decision (why not, usually).
    answer: Annotated[str, StringConstraints(max_length=2000, strip_whitespace=True)] = ""


class ExtensionOut(BaseModel):
    id: int
    session_id: str
    hours: int
    reason: str
    state: str
    requested_at: datetime
    decided_at: datetime | None
    #: The hours given, once granted (an administrator may give another amount).
    granted_hours: int | None
    #: The administrator's word to the user with their decision.
    answer: str

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
            granted_hours=row.granted_hours,
            answer=row.answer,
        )


class RequestedForOut(BaseModel):
    """The session a request for more time is for, as its decider needs to see it."""

    title: str
    template: str
    #: The template's title ("JupyterLab"); its id when no plug-in gives it any more.
    template_title: str
    launcher: str
    resource_id: Id
    resource_name: str
    state: str
    created_at: datetime
    ready_at: datetime | None
    ends_at: datetime | None
    idle_stop_at: datetime | None


class ExtensionRequestOut(ExtensionOut):
    """A request for more time, for the administrators deciding it."""

    username: str
    display_name: str
    session: RequestedForOut
    #: The administrator who decided it (null: waiting, granted at once, or deleted since).
    decided_by: str | None

    @classmethod
    def of_request(
        cls, request: service.ExtensionRequest, template: AppTemplate | None
    ) -> ExtensionRequestOut:
        row = request.session
        live = row.state in LIVE_SESSION_STATES
        return cls(
            **ExtensionOut.of(request.extension).model_dump(),
            username=request.username,
            display_name=request.display_name,
            decided_by=request.decided_by,
            session=RequestedForOut(
                title=row.title,
                template=row.template,
                template_title=template.title if template else row.template,
                launcher=row.launcher,
                resource_id=row.resource_id,
                resource_name=request.resource_name,
                state=row.state,
                created_at=row.created_at,
                ready_at=row.ready_at,
                ends_at=row.ends_at if live else None,
                idle_stop_at=idle_stop_at(row.last_activity_at, row.idle_minutes) if live else None,
            ),
        )


class PersonOut(BaseModel):
    """A user as others see them."""

    id: int
    username: str
    display_name: str

    @classmethod
    def of(cls, user: User | None, user_id: int) -> PersonOut:
        if user is None:  # deleted meanwhile
            return cls(id=user_id, username="", display_name="")
        return cls(id=user.id, username=user.username, display_name=user.display_name)


class ExperimentRefOut(BaseModel):
    """The experiment a session was launched for."""

    id: int
    code: str
    title: str


class SessionOut(BaseModel):
    id: str
    title: str
    template: str
    #: How the browser shows it: ``web`` (its ``url`` in a frame) or ``desktop`` (the
    #: desktop pane, over ``/api/v1/sessions/<id>/desktop``).
    view: str
    launcher: str
    resource_id: Id
    owner_id: int
    state: str
    #: What happened last (to others than its owner and administrators: a neutral line).
    message: str
    #: The launch's steps (empty for others than its owner and administrators).
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
    #: The same as ``idle_stop_at``, under the name the session's details use.
    idle_deadline: datetime | None = None
    #: The end of its lifetime or time limit (null: none).
    ends_at: datetime | None
    #: When its owner was last warned that it will be stopped (null: not for the
    #: current deadline), and how many of the warnings (``app_warnings_minutes``) were sent.
    warned_at: datetime | None
    warnings_sent: int = 0
    #: The launch form as filled in (empty for others than its owner and administrators:
    #: its environment lines and command may hold the owner's secrets).
    form: dict[str, Any]
    extension: ExtensionOut | None = None
    #: The ways on that a failed session offers (``labgate.sessions.failure_actions``).
    actions: list[FailureAction] = Field(default_factory=list)
    #: What the caller is to it: ``owner``, ``user``, ``guest``, ``support`` (it is shared
    #: with them) or ``admin`` (an administrator looking at another's session).
    my_role: SessionRole = SessionRole.OWNER
    #: Whose it is.
    owner: PersonOut | None = None
    #: It has shares or invitations.
    shared: bool = False
    #: How many users and groups it is shared with.
    share_count: int = 0
    #: When its owner asked support staff for help (null: not asked, or not now).
    help_requested_at: datetime | None = None
    #: The experiment it was launched for (null: none).
    experiment: ExperimentRefOut | None = None

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
            view=template.view if template else "web",
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
            idle_deadline=idle_stop,
            ends_at=row.ends_at,
            warned_at=row.warned_at,
            warnings_sent=row.warnings_sent or 0,
            form=dict(row.form),
            extension=ExtensionOut.of(extension) if extension else None,
            actions=failure_actions(row, template),
            help_requested_at=row.help_requested_at if row.support_allowed else None,
        )


class PeerSessionOut(BaseModel):
    """A live session another member of one of the caller's experiments launched for it:
    listed so that members see each other's work, with no access from being listed."""

    id: str
    title: str
    template: str
    state: str
    created_at: datetime
    owner: PersonOut
    experiment: ExperimentRefOut


class SessionList(BaseModel):
    sessions: list[SessionOut]
    #: Other members' live sessions for the caller's experiments (not shared with them).
    experiment_sessions: list[PeerSessionOut] = Field(default_factory=list)


class LogOut(BaseModel):
    log: str


@router.get("/app-templates", summary="What can be launched")
async def list_templates(principal: CurrentPrincipal, state: State, db: Db) -> TemplateList:
    """Not those an administrator switched off."""
    authorize(principal, Action.LIST_SESSIONS)
    launchers = sorted(n for n, x in state.plugins.launchers().items() if launchable(x))
    disabled = await switches.disabled_templates(db)
    return TemplateList(
        templates=[
            TemplateOut(**t.describe(), launchers=launchers)
            for t in state.templates.values()
            if t.launchable and t.id not in disabled
        ]
    )


class LauncherOut(BaseModel):
    name: str
    title: str
    batch: bool
    #: Why the resource cannot use it, for the launch form (null: it can).
    unusable: str | None


class LauncherList(BaseModel):
    launchers: list[LauncherOut]


@router.get("/resources/{resource_id}/launchers", summary="The launchers a resource can use")
async def resource_launchers(
    resource_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> LauncherList:
    """Every launcher, with why the resource cannot use it (SLURM where ``sbatch`` does
    not run): each launcher's own check, asked on the caller's connection to the
    resource (made if needed) and kept while it lasts."""
    authorize(principal, Action.READ_RESOURCE)
    resource = await catalog.get_visible(db, principal, state.settings, resource_id)
    plan = await plan_for(db, resource, principal)
    launchers = {n: x for n, x in state.plugins.launchers().items() if launchable(x)}
    answers = await usable_launchers(launchers, Access(state, plan), plan.setup_lines)
    return LauncherList(
        launchers=[
            LauncherOut(
                name=answer.name,
                title=launchers[answer.name].title,
                batch=launchers[answer.name].batch,
                unusable=answer.reason,
            )
            for answer in answers
        ]
    )


#: A session's ``message`` as those it is shared with read it.
SHARED_MESSAGE = "Shared with you by its owner."


async def describe(
    db: AsyncSession, state: AppState, rows: list[tuple[AppSession, SessionRole]]
) -> list[SessionOut]:
    """The sessions as the caller sees them (their role in each), read in a few queries."""
    ids = [row.id for row, _ in rows]
    extensions = await service.latest_extensions(db, ids)
    owners = await sharing.people(db, {row.user_id for row, _ in rows})
    counts = await sharing.share_counts(db, ids)
    invited = await sharing.invited(db, ids)
    experiments = await _experiment_refs(db, [row for row, _ in rows])
    described = []
    for row, role in rows:
        out = SessionOut.of(row, state.templates.get(row.template), extensions.get(row.id))
        out.my_role = role
        if role not in (SessionRole.OWNER, SessionRole.ADMIN):
            # Those it is shared with use the app; how it was launched is the owner's.
            out.form, out.progress, out.message = {}, [], SHARED_MESSAGE
        out.owner = PersonOut.of(owners.get(row.user_id), row.user_id)
        out.share_count = counts.get(row.id, 0)
        out.shared = out.share_count > 0 or row.id in invited
        if role in (SessionRole.OWNER, SessionRole.ADMIN):
            # Not to those it is shared with: an experiment one is not in is not found.
            out.experiment = experiments.get(row.experiment_id or 0)
        described.append(out)
    return described


async def _experiment_refs(db: AsyncSession, rows: list[AppSession]) -> dict[int, ExperimentRefOut]:
    ids = {row.experiment_id for row in rows if row.experiment_id is not None}
    if not ids:
        return {}
    found = await db.execute(
        select(Experiment.id, Experiment.code, Experiment.title).where(Experiment.id.in_(ids))
    )
    return {id_: ExperimentRefOut(id=id_, code=code, title=title) for id_, code, title in found}


def _role(principal: Principal, row: AppSession) -> SessionRole:
    """The caller's role on a session found for them as owner or administrator."""
    return SessionRole.OWNER if row.user_id == principal.user_id else SessionRole.ADMIN


async def _out(db: Db, state: AppState, principal: Principal, row: AppSession) -> SessionOut:
    return (await describe(db, state, [(row, _role(principal, row))]))[0]


async def _own(db: Db, principal: Principal, session_id: str, action: Action) -> AppSession:
    row = await service.find(db, principal, session_id)
    authorize(principal, action, owner_id=row.user_id)
    return row


@router.post("/sessions", status_code=201, summary="Launch an app")
async def launch(
    request: Request, body: LaunchIn, principal: CurrentPrincipal, state: State, db: Db
) -> SessionOut:
    return await start(request, state, db, principal, body)


async def start(
    request: Request, state: AppState, db: AsyncSession, principal: Principal, body: LaunchIn
) -> SessionOut:
    """A launch of ``body``, as ``POST /sessions`` makes it and a preset's relaunch
    (``api/favourites.py``) too: the new session, driven once the request is committed."""
    authorize(principal, Action.MANAGE_SESSIONS)
    authorize(principal, Action.USE_RESOURCE)
    row = await service.launch(
        db,
        state,
        principal,
        template=body.template,
        launcher=body.launcher,
        resource_id=body.resource_id,
        title=body.title,
        form=body.form,
        experiment_id=body.experiment_id,
    )
    out = await _out(db, state, principal, row)
    # The launch begins once this transaction is committed (the driver reads the row).
    session_id = row.id
    after_commit(request, lambda: state.lifecycle.drive(session_id))
    return out


@router.get("/sessions", summary="Your sessions")
async def list_sessions(
    principal: CurrentPrincipal,
    state: State,
    db: Db,
    everyone: Annotated[bool, Query(alias="all")] = False,
    live: bool = False,
    user: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    resource_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    experiment_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    session_state: Annotated[SessionState | None, Query(alias="state")] = None,
) -> SessionList:
    """Newest first: the caller's own and the live ones shared with them (``my_role``
    says which); ``all=true`` (administrators): everybody's, narrowed by ``user`` (a
    username), ``resource_id``, ``experiment_id`` and ``state`` when given (only with
    ``all=true``); ``live=true``: only those not ended. ``experiment_sessions``: the live
    sessions other members of the caller's experiments launched for them (not shared with
    the caller: listed, no access)."""
    authorize(principal, Action.LIST_SESSIONS)
    if everyone:
        authorize(principal, Action.DECIDE_EXTENSIONS)
    narrowed = service.SessionFilter(
        username=user,
        resource_id=resource_id,
        experiment_id=experiment_id,
        state=session_state,
        live=live,
    )
    if not everyone and narrowed.narrows:
        message = "These filters are for everybody's sessions: add all=true."
        raise ValidationFailed(message, details=[FieldProblem("query.all", message)])
    rows = await service.listed(
        db, user_id=None if everyone else principal.user_id, narrowed=narrowed
    )
    found = [(row, _role(principal, row)) for row in rows]
    peers: list[PeerSessionOut] = []
    if not everyone:
        found += await sharing.shared_with(db, state.settings, principal, limit=service.LISTED)
        found.sort(key=lambda pair: pair[0].created_at, reverse=True)
        peers = await _peers(db, principal, {row.id for row, _ in found})
    return SessionList(sessions=await describe(db, state, found), experiment_sessions=peers)


async def _peers(db: AsyncSession, principal: Principal, listed: set[str]) -> list[PeerSessionOut]:
    rows = [
        row
        for row in await service.of_my_experiments(db, principal.user_id)
        if row.id not in listed  # shared with the caller: listed with their role already
    ]
    owners = await sharing.people(db, {row.user_id for row in rows})
    experiments = await _experiment_refs(db, rows)
    return [
        PeerSessionOut(
            id=row.id,
            title=row.title,
            template=row.template,
            state=row.state,
            created_at=row.created_at,
            owner=PersonOut.of(owners.get(row.user_id), row.user_id),
            experiment=experiments[row.experiment_id],
        )
        for row in rows
        if row.experiment_id in experiments
    ]


@router.get("/sessions/{session_id}", summary="One session")
async def get_session(
    session_id: str, principal: CurrentPrincipal, state: State, db: Db
) -> SessionOut:
    """Also a session shared with the caller (``my_role`` says in which role)."""
    authorize(principal, Action.LIST_SESSIONS)
    row = await db.get(AppSession, session_id)
    role = await sharing.caller_role(db, state.settings, principal, row) if row else None
    if row is None or role is None:
        raise NotFound(f"There is no session {session_id!r}.")
    return (await describe(db, state, [(row, role)]))[0]


@router.post("/sessions/{session_id}/stop", summary="Stop a session")
async def stop_session(
    request: Request, session_id: str, principal: CurrentPrincipal, state: State, db: Db
) -> SessionOut:
    """Pending jobs are cancelled, running apps ended. Answers at once with the session
    in ``stopping``; it turns ``stopped`` when the app is gone."""
    row = await _own(db, principal, session_id, Action.MANAGE_SESSIONS)
    reason = service.stop(principal, row)
    if reason is not None:
        after_commit(request, lambda: state.lifecycle.stop_soon(session_id, reason))
    return await _out(db, state, principal, row)


@router.delete("/sessions/{session_id}", status_code=204, summary="Forget an ended session")
async def forget_session(session_id: str, principal: CurrentPrincipal, db: Db) -> Response:
    row = await _own(db, principal, session_id, Action.MANAGE_SESSIONS)
    await service.forget(db, row)
    return Response(status_code=204)


@router.get("/sessions/{session_id}/log", summary="What the app printed")
async def session_log(session_id: str, principal: CurrentPrincipal, state: State, db: Db) -> LogOut:
    row = await _own(db, principal, session_id, Action.LIST_SESSIONS)
    return LogOut(log=await service.log_of(state.lifecycle, row))


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
    extension = await service.extend(
        db,
        state.settings,
        principal,
        row,
        hours=body.hours,
        reason=body.reason,
        launchers=state.plugins.launchers(),
    )
    after_commit(request, lambda: state.lifecycle.changed(row.id, row.user_id))
    if extension.state == ExtensionState.PENDING.value:
        extension_id = extension.id
        after_commit(request, lambda: state.lifecycle.request_changed(extension_id))
    out = await _out(db, state, principal, row)
    out.extension = ExtensionOut.of(extension)
    return out


class ExtensionList(BaseModel):
    extensions: list[ExtensionRequestOut]


@router.get("/session-extensions", summary="Requests for more time (administrators)")
async def list_extensions(
    principal: CurrentPrincipal,
    state: State,
    db: Db,
    status: Literal["pending", "decided", "granted", "refused"] = "pending",
) -> ExtensionList:
    """``decided``: those administrators decided in the last seven days, the latest
    decision first (not those granted at once within the policy)."""
    authorize(principal, Action.DECIDE_EXTENSIONS)
    if status == "decided":
        found = await service.extension_requests(db, None, decided=True)
    else:
        found = await service.extension_requests(db, status)
    return ExtensionList(
        extensions=[
            ExtensionRequestOut.of_request(r, state.templates.get(r.session.template))
            for r in found
        ]
    )


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
    decision = await service.decide(
        db,
        state.settings,
        principal,
        extension_id,
        granted=body.grant,
        launchers=state.plugins.launchers(),
        hours=body.hours,
        answer=body.answer,
    )
    if decision.session is not None:
        owner = decision.session.user_id
        session_id = decision.extension.session_id
        after_commit(request, lambda: state.lifecycle.changed(session_id, owner))
    after_commit(request, lambda: state.lifecycle.request_changed(extension_id))
    return ExtensionOut.of(decision.extension)
