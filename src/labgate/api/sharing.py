"""Sharing a session: with users and groups in a role, invitation links, support staff,
and accepting an invitation. The rules are :mod:`labgate.sessions.sharing`'s (and
``invitations``, ``support``, ``presence``); who may use a shared session is decided by
:mod:`labgate.auth.policy` on every use.

Every change tells the tabs of those it concerns once committed (``session_changed``, on
every replica), drops the proxy's route to the session here (the other replicas drop
theirs when told) and checks the open WebSockets to the session at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, StrictBool, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.api.deps import CurrentPrincipal, Db, State, after_commit
from labgate.api.schemas import Body, Id
from labgate.api.sessions import PersonOut
from labgate.auth.policy import Action, SessionRole, authorize
from labgate.auth.principal import Principal
from labgate.db.models import (
    LIVE_SESSION_STATES,
    AppSession,
    Experiment,
    Group,
    Share,
    ShareInvitation,
    ShareRole,
    User,
)
from labgate.errors import Conflict, FieldProblem, ValidationFailed
from labgate.experiments.membership import role_of
from labgate.sessions import invitations, service, sharing, support
from labgate.sessions.lifecycle import SessionChanged
from labgate.sessions.presence import connected_now
from labgate.state import AppState

router = APIRouter(tags=["sharing"])

Name = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


class GroupOut(BaseModel):
    id: int
    name: str


class ExperimentShareOut(BaseModel):
    id: int
    code: str


class ShareOut(BaseModel):
    id: int
    #: ``user``, ``group`` or ``experiment`` (its members): which one is set.
    kind: str
    user: PersonOut | None
    group: GroupOut | None
    experiment: ExperimentShareOut | None = None
    role: ShareRole
    created_at: datetime
    #: Who made it (their user name; null once deleted).
    created_by: str | None
    #: Made by accepting this invitation (ended with it).
    invitation_id: int | None


class InvitationOut(BaseModel):
    id: int
    role: ShareRole
    expires_at: datetime
    max_uses: int
    uses: int
    created_at: datetime

    @classmethod
    def of(cls, row: ShareInvitation) -> InvitationOut:
        return cls(
            id=row.id,
            role=ShareRole(row.role),
            expires_at=row.expires_at,
            max_uses=row.max_uses,
            uses=row.uses,
            created_at=row.created_at,
        )


class NewInvitationOut(InvitationOut):
    #: The secret of the link, shown this once.
    token: str
    #: The link's path on labgate's origin (``/?invite=<token>``).
    path: str


class SupportOut(BaseModel):
    #: Members of the support group may join.
    allowed: bool
    help_requested_at: datetime | None
    help_message: str
    #: The support group's name (null: labgate has no support staff).
    group: str | None
    #: Support can be let in (a support group is named).
    available: bool

    @classmethod
    def of(cls, row: AppSession, state: AppState) -> SupportOut:
        group = state.settings.support_group or None
        return cls(
            allowed=row.support_allowed,
            help_requested_at=row.help_requested_at,
            help_message=row.help_message,
            group=group,
            available=group is not None,
        )


class ConnectedOut(BaseModel):
    user: PersonOut
    role: SessionRole
    since: datetime


class SharingOut(BaseModel):
    shares: list[ShareOut]
    invitations: list[InvitationOut]
    support: SupportOut
    #: Who other than the owner is connected now (through any replica).
    connected: list[ConnectedOut]
    #: The roles the session's app may be shared in.
    roles: list[ShareRole]
    #: Whether it can be shared on this installation (new shares, links, support); when
    #: not, ``why`` says so (a web app without the setting ``app_domain``).
    sharable: bool = True
    why: str | None = None


class ShareIn(Body):
    user: Name | None = None
    group: Name | None = None
    #: The members of this experiment (the session's own).
    experiment_id: Id | None = None
    role: Annotated[str, StringConstraints(max_length=16)]

    @model_validator(mode="after")
    def _one_target(self) -> ShareIn:
        named = [x for x in (self.user, self.group, self.experiment_id) if x is not None]
        if len(named) != 1:
            raise ValueError('Name one of a "user", a "group" or an "experiment_id" to share with.')
        return self


class ShareChange(Body):
    role: Annotated[str, StringConstraints(max_length=16)]


class InvitationIn(Body):
    role: Annotated[str, StringConstraints(max_length=16)]
    expires_in_hours: Annotated[int, Field(ge=1, le=720)] = 24
    max_uses: Annotated[int, Field(ge=1, le=1000)] = 1


class AcceptIn(Body):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AcceptedOut(BaseModel):
    session_id: str
    role: ShareRole


class InvitationPreviewOut(BaseModel):
    """What accepting an invitation would give: the browser asks before it accepts."""

    session_id: str
    #: The session's title, as its owner named it.
    title: str
    #: Its app's name (``JupyterLab``, ``Desktop``...).
    app: str
    #: How it is shown (``web``, ``desktop``...).
    view: str
    owner: PersonOut
    role: ShareRole


class SupportIn(Body):
    allowed: StrictBool


class HelpIn(Body):
    message: Annotated[str, StringConstraints(max_length=2000, strip_whitespace=True)] = ""


# -- helpers ------------------------------------------------------------------------------


async def _owned(db: AsyncSession, principal: Principal, session_id: str) -> AppSession:
    """The caller's own live session (sharing is the owner's alone; administrators do
    not share others' sessions). An ended one is refused (409)."""
    row = await service.find(db, principal, session_id)
    authorize(principal, Action.SHARE_SESSION, owner_id=row.user_id)
    if row.state not in LIVE_SESSION_STATES:
        raise Conflict("The session has ended: there is nothing to share.")
    return row


def _tell(request: Request, state: AppState, row: AppSession, users: Iterable[int]) -> None:
    """Once committed: the owner's and ``users``' tabs re-read the session (everywhere),
    the proxy forgets who may use it, and its open sockets are checked at once."""
    session_id, owner = row.id, row.user_id
    told = {owner, *users}

    def now() -> None:
        state.routes.drop(session_id)
        for user_id in told:
            state.lifecycle.hub.put(user_id, SessionChanged(session_id, user_id))
        state.live_sockets.recheck_session(session_id)

    after_commit(request, now)


async def _share_out(db: AsyncSession, shares: list[Share]) -> list[ShareOut]:
    users = await sharing.people(
        db,
        {s.user_id for s in shares if s.user_id is not None}
        | {s.created_by for s in shares if s.created_by is not None},
    )
    group_ids = {s.group_id for s in shares if s.group_id is not None}
    groups = (
        {g.id: g for g in await db.scalars(select(Group).where(Group.id.in_(group_ids)))}
        if group_ids
        else {}
    )
    experiment_ids = {s.experiment_id for s in shares if s.experiment_id is not None}
    codes = (
        {
            id_: code
            for id_, code in await db.execute(
                select(Experiment.id, Experiment.code).where(Experiment.id.in_(experiment_ids))
            )
        }
        if experiment_ids
        else {}
    )
    out = []
    for share in shares:
        group = groups.get(share.group_id) if share.group_id is not None else None
        kind = (
            "group"
            if share.group_id is not None
            else "experiment"
            if share.experiment_id is not None
            else "user"
        )
        maker = users.get(share.created_by) if share.created_by is not None else None
        out.append(
            ShareOut(
                id=share.id,
                kind=kind,
                user=PersonOut.of(users.get(share.user_id), share.user_id)
                if share.user_id is not None
                else None,
                group=GroupOut(id=group.id, name=group.name) if group is not None else None,
                experiment=ExperimentShareOut(
                    id=share.experiment_id, code=codes.get(share.experiment_id, "")
                )
                if share.experiment_id is not None
                else None,
                role=ShareRole(share.role),
                created_at=share.created_at,
                created_by=maker.username if maker is not None else None,
                invitation_id=share.invitation_id,
            )
        )
    return out


def _problem(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[FieldProblem(field, message)])


# -- routes -------------------------------------------------------------------------------


@router.get("/sessions/{session_id}/sharing", summary="Who has access, and who is connected")
async def get_sharing(
    session_id: str, principal: CurrentPrincipal, state: State, db: Db
) -> SharingOut:
    """The owner's (administrators may read it)."""
    row = await service.find(db, principal, session_id)
    authorize(principal, Action.READ_SHARING, owner_id=row.user_id)
    template = state.templates.get(row.template)
    why = sharing.why_not_sharable(template, state.settings)
    shares = await sharing.shares_of(db, row.id)
    connected = await connected_now(db, row.id)
    people = await sharing.people(db, {c.user_id for c in connected})
    return SharingOut(
        shares=await _share_out(db, shares),
        invitations=[InvitationOut.of(i) for i in await invitations.invitations_of(db, row.id)],
        support=SupportOut.of(row, state),
        connected=[
            ConnectedOut(
                user=PersonOut.of(people.get(c.user_id), c.user_id),
                role=SessionRole(c.role),
                since=c.since,
            )
            for c in connected
        ],
        roles=sharing.roles_for(template),
        sharable=why is None,
        why=why,
    )


@router.post("/sessions/{session_id}/shares", status_code=201, summary="Share a session")
async def add_share(
    request: Request,
    session_id: str,
    body: ShareIn,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> ShareOut:
    """With a user or a group (by name), or the members of the session's experiment
    (``experiment_id``), in a role: 409 if it is shared with them
    already (change that share instead), 422 for an unknown name, the owner, a role the
    session's app cannot be shared in, or a web app while ``app_domain`` is unset
    (``sharing_needs_app_domain``)."""
    row = await _owned(db, principal, session_id)
    template = state.templates.get(row.template)
    sharing.check_sharable(template, state.settings)
    role = sharing.check_role(body.role, template)
    user = group = experiment = None
    if body.user is not None:
        user = await db.scalar(select(User).where(User.username == body.user))
        if user is None:
            raise _problem("body.user", f"There is no user named {body.user!r}.")
    elif body.experiment_id is not None:
        experiment = await db.get(Experiment, body.experiment_id)
        if experiment is None or experiment.id != row.experiment_id:
            raise _problem("body.experiment_id", "The session was not launched for it.")
        if role_of(experiment, principal.user_id) is None:
            # One who left the experiment no longer speaks to its members.
            raise _problem("body.experiment_id", "You are no longer a member of it.")
    else:
        group = await db.scalar(select(Group).where(Group.name == body.group))
        if group is None:
            raise _problem("body.group", f"There is no group named {body.group!r}.")
    share = await sharing.add_share(
        db, principal, row, role, user=user, group=group, experiment=experiment
    )
    _tell(request, state, row, await sharing.recipients(db, [share]))
    return (await _share_out(db, [share]))[0]


@router.patch("/sessions/{session_id}/shares/{share_id}", summary="Change a share's role")
async def change_share(
    request: Request,
    session_id: str,
    share_id: Id,
    body: ShareChange,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> ShareOut:
    """A USER made GUEST: their connections that send input close at once."""
    row = await _owned(db, principal, session_id)
    share = await sharing.find_share(db, row, share_id)
    role = sharing.check_role(body.role, state.templates.get(row.template))
    await sharing.change_share(db, principal, row, share, role)
    _tell(request, state, row, await sharing.recipients(db, [share]))
    return (await _share_out(db, [share]))[0]


@router.delete(
    "/sessions/{session_id}/shares/{share_id}", status_code=204, summary="Revoke a share"
)
async def revoke_share(
    request: Request,
    session_id: str,
    share_id: Id,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> Response:
    """Its people's open connections close within a second, on every replica."""
    row = await _owned(db, principal, session_id)
    share = await sharing.find_share(db, row, share_id)
    told = await sharing.recipients(db, [share])
    await sharing.remove_share(db, principal, row, share)
    _tell(request, state, row, told)
    return Response(status_code=204)


@router.post(
    "/sessions/{session_id}/invitations", status_code=201, summary="Make an invitation link"
)
async def create_invitation(
    request: Request,
    session_id: str,
    body: InvitationIn,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> NewInvitationOut:
    """The token is in this answer only; labgate keeps its hash."""
    row = await _owned(db, principal, session_id)
    template = state.templates.get(row.template)
    sharing.check_sharable(template, state.settings)
    role = sharing.check_role(body.role, template)
    invitation, token = await invitations.create_invitation(
        db,
        principal,
        row,
        role,
        expires_in_hours=body.expires_in_hours,
        max_uses=body.max_uses,
    )
    _tell(request, state, row, ())
    return NewInvitationOut(
        **InvitationOut.of(invitation).model_dump(),
        token=token,
        path=invitations.LINK_PATH + token,
    )


@router.delete(
    "/sessions/{session_id}/invitations/{invitation_id}",
    status_code=204,
    summary="End an invitation link",
)
async def end_invitation(
    request: Request,
    session_id: str,
    invitation_id: Id,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> Response:
    """Those who accepted it lose the access it gave them, at once."""
    row = await _owned(db, principal, session_id)
    invitation = await invitations.find_invitation(db, row, invitation_id)
    made = await invitations.delete_invitation(db, principal, row, invitation)
    _tell(request, state, row, await sharing.recipients(db, made))
    return Response(status_code=204)


@router.post("/invitations/accept", summary="Take up an invitation link")
async def accept_invitation(
    request: Request, body: AcceptIn, principal: CurrentPrincipal, state: State, db: Db
) -> AcceptedOut:
    """Errors: ``invitation_unknown`` (404), ``invitation_expired``,
    ``invitation_used_up``, ``session_ended`` (410); one's own session (422)."""
    authorize(principal, Action.ACCEPT_INVITATION)
    accepted = await invitations.accept(db, principal, body.token)
    sharing.check_sharable(state.templates.get(accepted.session.template), state.settings)
    _tell(request, state, accepted.session, {principal.user_id})
    return AcceptedOut(session_id=accepted.session.id, role=accepted.role)


@router.post("/invitations/preview", summary="What an invitation link would give")
async def preview_invitation(
    body: AcceptIn, principal: CurrentPrincipal, state: State, db: Db
) -> InvitationPreviewOut:
    """Whose session, which, and in what role, so that the browser can ask the user
    before accepting (it never accepts a link by itself); nothing is changed or used
    up. The errors are those of accepting."""
    authorize(principal, Action.ACCEPT_INVITATION)
    previewed = await invitations.preview(db, principal, body.token)
    row = previewed.session
    template = state.templates.get(row.template)
    sharing.check_sharable(template, state.settings)
    owner = (await sharing.people(db, {row.user_id})).get(row.user_id)
    return InvitationPreviewOut(
        session_id=row.id,
        title=row.title,
        app=template.title if template is not None else row.template,
        view=template.view if template is not None else "web",
        owner=PersonOut.of(owner, row.user_id),
        role=previewed.role,
    )


@router.put("/sessions/{session_id}/support", summary="Let support staff in, or not")
async def set_support(
    request: Request,
    session_id: str,
    body: SupportIn,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> SupportOut:
    """Allowing needs a support group (setting ``support_group``; 409 without), and, for
    a web app, ``app_domain`` (422 without)."""
    row = await _owned(db, principal, session_id)
    if body.allowed:
        sharing.check_sharable(state.templates.get(row.template), state.settings)
    support.allow_support(db, state.settings, principal, row, body.allowed)
    members = await sharing.support_members(db, state.settings)
    _tell(request, state, row, {m.id for m in members})
    return SupportOut.of(row, state)


@router.post("/sessions/{session_id}/support/help", summary="Ask support staff for help")
async def ask_for_help(
    request: Request,
    session_id: str,
    body: HelpIn,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> SupportOut:
    """Lets support in, and tells the support group's members in the workspace and by
    e-mail (422 for a web app without ``app_domain``: support could not join it)."""
    row = await _owned(db, principal, session_id)
    sharing.check_sharable(state.templates.get(row.template), state.settings)
    members = await support.ask_for_help(db, state.settings, principal, row, body.message)
    _tell(request, state, row, {m.id for m in members})
    asked = support.HelpAsked.of(row, await db.get(User, principal.user_id), principal)

    def tell_staff() -> None:
        for member in members:
            if member.id != principal.user_id:
                state.help_asked.put(member.id, asked)

    after_commit(request, tell_staff)
    link = (state.settings.public_url or "") + "/"
    after_commit(
        request,
        lambda: state.lifecycle.run_soon(
            support.mail_support(state.settings, members, principal, row, link)
        ),
    )
    return SupportOut.of(row, state)
