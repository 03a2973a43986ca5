"""Who may use a session besides its owner, read from the database on every use: shares
with users, groups and the members of an experiment (in a
:class:`~labgate.db.models.ShareRole`), and the support group's members where the owner
lets support in. What a role may do is decided by
:mod:`labgate.auth.policy` (:func:`~labgate.auth.policy.session_role`); here the grants
are found, and shares are made, changed and removed.

Group and experiment shares follow membership as it is when the session is used, so
leaving the group or the experiment ends the access; a user's deletion removes their
shares (the database's cascade); an ended session's shares give nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.auth.policy import SessionRole, session_role
from labgate.auth.principal import Principal
from labgate.db.models import (
    LIVE_SESSION_STATES,
    AppSession,
    Experiment,
    ExperimentMember,
    Group,
    Membership,
    Notification,
    Share,
    ShareInvitation,
    SharePresence,
    ShareRole,
    User,
)
from labgate.db.types import utcnow
from labgate.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from labgate.experiments.membership import member_of
from labgate.launching.template import AppTemplate
from labgate.notifications.centre import notify
from labgate.notifications.kinds import SHARE
from labgate.settings import Settings


@dataclass(frozen=True)
class SessionAccess:
    """What the caller is to a session, now: the proxy and the desktop bridge both ask
    :func:`session_access` and act on this."""

    session_id: str
    owner_id: int
    template: str
    state: str
    role: SessionRole

    @property
    def view_only(self) -> bool:
        """A GUEST: may look, not act (the bridge drops their input)."""
        return self.role is SessionRole.GUEST


def _groups_of(user_id: int) -> Select[Any]:
    return select(Membership.group_id).where(Membership.user_id == user_id)


def _shared_with_user(user_id: int) -> Any:
    """Shares that reach ``user_id`` now: theirs, their groups', their experiments'."""
    return or_(
        Share.user_id == user_id,
        Share.group_id.in_(_groups_of(user_id)),
        Share.experiment_id.in_(member_of(user_id)),
    )


async def granted_roles(db: AsyncSession, session_id: str, user_id: int) -> list[str]:
    """The roles the session is shared with ``user_id`` in: directly (also through an
    accepted invitation) or through a group or an experiment they are in now."""
    rows = await db.scalars(
        select(Share.role).where(Share.app_session_id == session_id, _shared_with_user(user_id))
    )
    return list(rows)


async def in_support_group(db: AsyncSession, settings: Settings, user_id: int) -> bool:
    """Whether ``user_id`` is a member of the ``support_group`` now (none: nobody is)."""
    if not settings.support_group:
        return False
    found = await db.scalar(
        select(Membership.user_id)
        .join(Group, Group.id == Membership.group_id)
        .where(Group.name == settings.support_group, Membership.user_id == user_id)
    )
    return found is not None


async def caller_role(
    db: AsyncSession, settings: Settings, principal: Principal, row: AppSession
) -> SessionRole | None:
    """The caller's role on the session ``row`` (see :func:`labgate.auth.policy.session_role`);
    the owner's without asking the database. Others have none once the session ended."""
    if principal.user_id == row.user_id:
        return SessionRole.OWNER
    if row.state not in LIVE_SESSION_STATES:
        return SessionRole.ADMIN if principal.is_admin else None
    granted = await granted_roles(db, row.id, principal.user_id)
    support = row.support_allowed and await in_support_group(db, settings, principal.user_id)
    return session_role(principal, owner_id=row.user_id, granted=granted, support=support)


async def session_access(
    db: AsyncSession, settings: Settings, principal: Principal, session_id: str
) -> SessionAccess | None:
    """What ``principal`` is to the session now; None when nothing (no such session, or
    not theirs, not shared with them, and they are no administrator)."""
    row = await db.get(AppSession, session_id, populate_existing=True)
    if row is None:
        return None
    role = await caller_role(db, settings, principal, row)
    if role is None:
        return None
    return SessionAccess(row.id, row.user_id, row.template, row.state, role)


# -- what recipients see ------------------------------------------------------------------


async def shared_with(
    db: AsyncSession, settings: Settings, principal: Principal, *, limit: int
) -> list[tuple[AppSession, SessionRole]]:
    """The live sessions of others the caller may use, newest first, with their role:
    shared with them or one of their groups, and (members of the support group) those
    whose owner lets support in."""
    reachable = [
        AppSession.id.in_(select(Share.app_session_id).where(_shared_with_user(principal.user_id)))
    ]
    if await in_support_group(db, settings, principal.user_id):
        reachable.append(AppSession.support_allowed.is_(True))
    rows = list(
        await db.scalars(
            select(AppSession)
            .where(
                AppSession.user_id != principal.user_id,
                AppSession.state.in_(LIVE_SESSION_STATES),
                or_(*reachable),
            )
            .order_by(AppSession.created_at.desc())
            .limit(limit)
        )
    )
    found: list[tuple[AppSession, SessionRole]] = []
    for row in rows:
        role = await caller_role(db, settings, principal, row)
        if role is not None and role is not SessionRole.ADMIN:
            found.append((row, role))
    return found


async def share_counts(db: AsyncSession, session_ids: Iterable[str]) -> dict[str, int]:
    """How many shares each of the sessions has (those without any left out)."""
    ids = list(session_ids)
    if not ids:
        return {}
    rows = await db.execute(
        select(Share.app_session_id, func.count())
        .where(Share.app_session_id.in_(ids))
        .group_by(Share.app_session_id)
    )
    return {session_id: count for session_id, count in rows.all()}


async def invited(db: AsyncSession, session_ids: Iterable[str]) -> set[str]:
    """Which of the sessions have invitations."""
    ids = list(session_ids)
    if not ids:
        return set()
    return set(
        await db.scalars(
            select(ShareInvitation.app_session_id)
            .where(ShareInvitation.app_session_id.in_(ids))
            .distinct()
        )
    )


async def people(db: AsyncSession, user_ids: Iterable[int]) -> dict[int, User]:
    ids = set(user_ids)
    if not ids:
        return {}
    return {user.id: user for user in await db.scalars(select(User).where(User.id.in_(ids)))}


# -- shares --------------------------------------------------------------------------------


class SharingNeedsAppDomain(ValidationFailed):
    code = "sharing_needs_app_domain"


#: Why a web app cannot be shared on an installation without app origins.
NEEDS_APP_DOMAIN = (
    "Web apps can be shared only when each app is served from an origin of its own: an "
    "administrator must set app_domain (see the administrator's guide). Without it, the "
    "app's pages would run on labgate's own origin, where they could act with the login "
    "of whoever opens them. Desktops can be shared without it."
)


def why_not_sharable(template: AppTemplate | None, settings: Settings) -> str | None:
    """Why a session of ``template`` cannot be shared on this installation (None: it
    can). A web app's pages (view ``web``; an unknown template's too) are served on
    labgate's own origin without ``app_domain``: there its owner's page scripts could
    read a viewer's CSRF token and act with the viewer's login. Other views (a desktop's
    RFB, a terminal) bring no page of the owner's to the viewer."""
    if settings.app_domain or (template is not None and template.view != "web"):
        return None
    return NEEDS_APP_DOMAIN


def check_sharable(template: AppTemplate | None, settings: Settings) -> None:
    """422 (``sharing_needs_app_domain``) if a session of ``template`` cannot be shared
    here (:func:`why_not_sharable`)."""
    why = why_not_sharable(template, settings)
    if why is not None:
        raise SharingNeedsAppDomain(why)


def roles_for(template: AppTemplate | None) -> list[ShareRole]:
    """The roles a session of ``template`` may be shared in: GUEST only where the app can
    be viewed without being used (:attr:`AppTemplate.guest_view`)."""
    return [
        role
        for role in ShareRole
        if role is not ShareRole.GUEST or (template is not None and template.guest_view)
    ]


def check_role(role: str, template: AppTemplate | None, *, field: str = "body.role") -> ShareRole:
    """The role, if a session of ``template`` may be shared in it (else 422, saying why)."""
    allowed = roles_for(template)
    if role == ShareRole.GUEST.value and ShareRole.GUEST not in allowed:
        title = template.title if template else "This app"
        message = (
            f"{title} cannot be shared view-only: its pages need to send to the app. Share "
            "it in the user role instead."
        )
        raise ValidationFailed(message, details=[FieldProblem(field, message)])
    if role not in {r.value for r in allowed}:
        message = f"The role must be one of {', '.join(r.value for r in allowed)}."
        raise ValidationFailed(message, details=[FieldProblem(field, message)])
    return ShareRole(role)


async def shares_of(db: AsyncSession, session_id: str) -> list[Share]:
    return list(
        await db.scalars(select(Share).where(Share.app_session_id == session_id).order_by(Share.id))
    )


async def add_share(
    db: AsyncSession,
    principal: Principal,
    row: AppSession,
    role: ShareRole,
    *,
    user: User | None = None,
    group: Group | None = None,
    experiment: Experiment | None = None,
) -> Share:
    """Share the session with ``user``, ``group`` or the members of ``experiment`` (the
    session's own) in ``role``: 409 if it is shared with them already (change the role
    instead), 422 with its owner or with an experiment it is not for."""
    if user is not None and user.id == row.user_id:
        message = "This is your own session: you have every right in it already."
        raise ValidationFailed(message, details=[FieldProblem("body.user", message)])
    if experiment is not None and experiment.id != row.experiment_id:
        message = f"The session is not for experiment {experiment.code}."
        raise ValidationFailed(message, details=[FieldProblem("body.experiment_id", message)])
    if user is not None:
        same, whom = Share.user_id == user.id, f"user {user.username}"
    elif experiment is not None:
        same = Share.experiment_id == experiment.id
        whom = f"the members of experiment {experiment.code}"
    else:
        same, whom = Share.group_id == group_id(group), f"group {group_name(group)}"
    existing = await db.scalar(select(Share.id).where(Share.app_session_id == row.id, same))
    if existing is not None:
        raise Conflict(f"The session is shared with {whom} already: change that share's role.")
    share = Share(
        app_session_id=row.id,
        user_id=user.id if user is not None else None,
        group_id=group.id if group is not None else None,
        experiment_id=experiment.id if experiment is not None else None,
        role=role.value,
        created_by=principal.user_id,
    )
    db.add(share)
    await db.flush()
    audit.record(
        db,
        "session_shared",
        actor=principal.actor,
        target=row.id,
        user=user.username if user is not None else None,
        group=group.name if group is not None else None,
        experiment=experiment.code if experiment is not None else None,
        role=role.value,
    )
    who = principal.username
    reached = [u for u in await recipients(db, [share]) if u != row.user_id]
    told = await _told_of_lately(db, row.id, reached)
    for user_id in reached:
        if user_id not in told:
            await notify(
                db,
                user_id,
                SHARE,
                f"{who} shared {row.title} with you",
                f"{who} shared the session {row.title!r} with you as {role.value}"
                + (f" (through the group {group.name})" if group is not None else "")
                + ". Open it from your Sessions pane.",
                {"session": row.id},
            )
    return share


#: A session shared again (unshared and shared, with a group after a user) within this
#: long tells a recipient nothing new: one notification, however often it is done.
RETOLD_AFTER = timedelta(hours=24)


async def _told_of_lately(db: AsyncSession, session_id: str, users: list[int]) -> set[int]:
    """Those of ``users`` told of a share of ``session_id`` within :data:`RETOLD_AFTER`."""
    if not users:
        return set()
    rows = await db.execute(
        select(Notification.user_id, Notification.subject).where(
            Notification.kind == SHARE,
            Notification.user_id.in_(users),
            Notification.created_at >= utcnow() - RETOLD_AFTER,
        )
    )
    return {user_id for user_id, subject in rows if subject.get("session") == session_id}


def group_id(group: Group | None) -> int:
    assert group is not None  # a share names a user or a group
    return group.id


def group_name(group: Group | None) -> str:
    return group.name if group is not None else ""


async def find_share(db: AsyncSession, row: AppSession, share_id: int) -> Share:
    share = await db.get(Share, share_id)
    if share is None or share.app_session_id != row.id:
        raise NotFound(f"The session has no share {share_id}.")
    return share


async def change_share(
    db: AsyncSession, principal: Principal, row: AppSession, share: Share, role: ShareRole
) -> None:
    before = share.role
    share.role = role.value
    audit.record(
        db,
        "session_share_changed",
        actor=principal.actor,
        target=row.id,
        share=share.id,
        role=role.value,
        was=before,
    )


async def remove_share(
    db: AsyncSession, principal: Principal, row: AppSession, share: Share
) -> None:
    """Revoke a share; its user's presence there is forgotten with it (they are cut off)."""
    audit.record(
        db,
        "session_share_revoked",
        actor=principal.actor,
        target=row.id,
        share=share.id,
        user_id=share.user_id,
        group_id=share.group_id,
        experiment_id=share.experiment_id,
        role=share.role,
    )
    if share.user_id is not None:
        await db.execute(
            delete(SharePresence).where(
                SharePresence.app_session_id == row.id, SharePresence.user_id == share.user_id
            )
        )
    await db.delete(share)


async def recipients(db: AsyncSession, shares: Iterable[Share]) -> set[int]:
    """The users a change of these shares concerns: their users, their groups' and their
    experiments' members."""
    listed = list(shares)
    users = {s.user_id for s in listed if s.user_id is not None}
    groups = {s.group_id for s in listed if s.group_id is not None}
    experiments = {s.experiment_id for s in listed if s.experiment_id is not None}
    if groups:
        users |= set(
            await db.scalars(select(Membership.user_id).where(Membership.group_id.in_(groups)))
        )
    if experiments:
        found = await db.scalars(
            select(ExperimentMember.user_id).where(
                ExperimentMember.experiment_id.in_(experiments),
                ExperimentMember.user_id.is_not(None),
            )
        )
        users |= {user_id for user_id in found if user_id is not None}
    return users


async def support_members(db: AsyncSession, settings: Settings) -> list[User]:
    """The members of the support group (none when no group is named)."""
    if not settings.support_group:
        return []
    return list(
        await db.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .join(Group, Group.id == Membership.group_id)
            .where(Group.name == settings.support_group, User.disabled.is_(False))
        )
    )
