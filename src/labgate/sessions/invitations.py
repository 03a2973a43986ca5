"""Invitation links: a session shared with whoever opens the link while logged in, in a
role, until it expires or is used up. The token is shown once, to the owner who makes
it; only its SHA-256 is stored.

Accepting makes a share for the user that names the invitation, so that deleting the
invitation also takes back the access it gave (the database deletes those shares with
it). Taking a use is one conditional UPDATE, so of two accepts racing for the last use
exactly one wins, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.auth.principal import Principal
from labgate.auth.secrets import digest, new_secret
from labgate.db.models import (
    LIVE_SESSION_STATES,
    AppSession,
    Share,
    ShareInvitation,
    ShareRole,
)
from labgate.db.types import utcnow
from labgate.errors import Gone, NotFound, ValidationFailed

#: Where the browser goes with a link: labgate's page, which accepts it.
LINK_PATH = "/?invite="


class InvitationUnknown(NotFound):
    code = "invitation_unknown"


async def create_invitation(
    db: AsyncSession,
    principal: Principal,
    row: AppSession,
    role: ShareRole,
    *,
    expires_in_hours: int,
    max_uses: int,
) -> tuple[ShareInvitation, str]:
    """A new invitation and its token (shown once)."""
    token = new_secret()
    invitation = ShareInvitation(
        app_session_id=row.id,
        role=role.value,
        token_hash=digest(token),
        expires_at=utcnow() + timedelta(hours=expires_in_hours),
        max_uses=max_uses,
        uses=0,
        created_by=principal.user_id,
    )
    db.add(invitation)
    await db.flush()
    audit.record(
        db,
        "session_invitation_created",
        actor=principal.actor,
        target=row.id,
        invitation=invitation.id,
        role=role.value,
        expires_in_hours=expires_in_hours,
        max_uses=max_uses,
    )
    return invitation, token


async def invitations_of(db: AsyncSession, session_id: str) -> list[ShareInvitation]:
    return list(
        await db.scalars(
            select(ShareInvitation)
            .where(ShareInvitation.app_session_id == session_id)
            .order_by(ShareInvitation.id)
        )
    )


async def find_invitation(db: AsyncSession, row: AppSession, invitation_id: int) -> ShareInvitation:
    found = await db.get(ShareInvitation, invitation_id)
    if found is None or found.app_session_id != row.id:
        raise NotFound(f"The session has no invitation {invitation_id}.")
    return found


async def delete_invitation(
    db: AsyncSession, principal: Principal, row: AppSession, invitation: ShareInvitation
) -> list[Share]:
    """End the invitation; the shares it made go with it (returned, to tell their users)."""
    made = list(await db.scalars(select(Share).where(Share.invitation_id == invitation.id)))
    audit.record(
        db,
        "session_invitation_ended",
        actor=principal.actor,
        target=row.id,
        invitation=invitation.id,
        shares_removed=len(made),
    )
    await db.delete(invitation)
    return made


@dataclass(frozen=True)
class Accepted:
    session: AppSession
    role: ShareRole
    #: The share made (None: the user had one already, which stays as it is).
    share: Share | None


async def _usable(
    db: AsyncSession, principal: Principal, token: str
) -> tuple[ShareInvitation, AppSession, Share | None]:
    """The invitation ``token`` opens, its session and the caller's direct share of it
    (if any); the errors of :func:`accept` but a use limit reached."""
    invitation = await db.scalar(
        select(ShareInvitation).where(ShareInvitation.token_hash == digest(token))
    )
    if invitation is None:
        raise InvitationUnknown(
            "This invitation link is not known: it was ended, or mistyped. Ask for a new one."
        )
    row = await db.get(AppSession, invitation.app_session_id)
    assert row is not None  # the invitation goes with its session
    if row.user_id == principal.user_id:
        raise ValidationFailed("This is an invitation to your own session.")
    if row.state not in LIVE_SESSION_STATES:
        raise Gone("session_ended", "The session this invitation is for has ended.")
    if invitation.expires_at <= utcnow():
        raise Gone("invitation_expired", "This invitation link has expired. Ask for a new one.")
    existing = await db.scalar(
        select(Share).where(Share.app_session_id == row.id, Share.user_id == principal.user_id)
    )
    return invitation, row, existing


def _used_up() -> Gone:
    return Gone(
        "invitation_used_up",
        "This invitation link has been used as often as it may be. Ask for a new one.",
    )


async def preview(db: AsyncSession, principal: Principal, token: str) -> Accepted:
    """What accepting ``token`` would give the caller, changing nothing (``share`` is
    None): the browser asks them first. The errors are :func:`accept`'s."""
    invitation, row, existing = await _usable(db, principal, token)
    if existing is not None:
        return Accepted(row, ShareRole(existing.role), None)
    if invitation.uses >= invitation.max_uses:
        raise _used_up()
    return Accepted(row, ShareRole(invitation.role), None)


async def accept(db: AsyncSession, principal: Principal, token: str) -> Accepted:
    """Take up an invitation: 404 ``invitation_unknown``, 410 ``invitation_expired``,
    ``invitation_used_up`` or ``session_ended``, 422 for the session's owner. A user the
    session is shared with directly already keeps that share and uses nothing up."""
    invitation, row, existing = await _usable(db, principal, token)
    if existing is not None:
        return Accepted(row, ShareRole(existing.role), None)
    now = utcnow()
    taken = cast(
        CursorResult[tuple[()]],
        await db.execute(
            update(ShareInvitation)
            .where(
                ShareInvitation.id == invitation.id,
                ShareInvitation.uses < ShareInvitation.max_uses,
                ShareInvitation.expires_at > now,
            )
            .values(uses=ShareInvitation.uses + 1)
        ),
    )
    if taken.rowcount != 1:
        raise _used_up()
    role = ShareRole(invitation.role)
    share = Share(
        app_session_id=row.id,
        user_id=principal.user_id,
        role=role.value,
        invitation_id=invitation.id,
        created_by=invitation.created_by,
    )
    db.add(share)
    await db.flush()
    audit.record(
        db,
        "session_invitation_accepted",
        actor=principal.actor,
        target=row.id,
        invitation=invitation.id,
        role=role.value,
    )
    return Accepted(row, role, share)
