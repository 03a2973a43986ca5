"""Guest invitations: an administrator's code (or link) that makes up to ``seats`` guest
accounts until ``expires_at``, for a workshop or a class; joining with one; changing and
withdrawing it.

A guest's account is an ordinary labgate account with the role ``guest`` (so the guest
role's limits, quotas and lifetimes apply), a generated name (``guest-k7qm4``) and a
password the guest chose (``local``: they log in again with the form, so without it in
``auth_providers`` no invitation is made). Its end is the invitation's: from then on its
logins and tokens no longer work, and the expiry pass removes it with its data
(labgate.accounts.guest_expiry).

Seats are taken by one conditional update (``used < seats``, open, not ended) in the
joining transaction: of two guests joining for the last seat one gets it and the other
is told that every seat is taken, on PostgreSQL as on SQLite.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.accounts.guest_codes import code_hash, new_code, new_guest_name, normal_code
from labgate.accounts.users import create_user
from labgate.audit import Actor
from labgate.auth.sessions import LOCAL_PROVIDER
from labgate.credentials.vault import Vault
from labgate.db.models import (
    LIVE_SESSION_STATES,
    AppSession,
    GuestInvitation,
    LoginSession,
    Role,
    User,
)
from labgate.db.types import utcnow
from labgate.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from labgate.settings import Settings
from labgate.transport.os_accounts import find_account

MAX_SEATS = 10_000
#: Guest accounts are temporary: an invitation ends within this.
MAX_LIFETIME = timedelta(days=366)
TITLE_MAX = 200
NAME_MAX = 100
# Tries at a free generated name before giving up (each is one in 20 million).
_NAME_TRIES = 20


class InvitationState(enum.StrEnum):
    OPEN = "open"
    FULL = "full"
    EXPIRED = "expired"
    REVOKED = "revoked"


class InvitationUnusable(NotFound):
    """A code that makes no guest account now: unknown, withdrawn, ended or full. The
    message says which, and whom to ask."""

    code = "invitation_unusable"


class UnknownInvitation(InvitationUnusable):
    """No invitation has this code: mistyped, or guessed."""


_UNUSABLE = {
    None: "There is no invitation with this code. Check it for typing mistakes, or ask "
    "whoever invited you for the link.",
    InvitationState.REVOKED: "This invitation was withdrawn. Ask whoever invited you for a "
    "new one.",
    InvitationState.EXPIRED: "This invitation has ended. Ask whoever invited you for a new one.",
    InvitationState.FULL: "Every seat of this invitation is taken. Ask whoever invited you "
    "for more seats or a new invitation.",
}


def state_of(invitation: GuestInvitation, now: datetime) -> InvitationState:
    if invitation.revoked_at is not None:
        return InvitationState.REVOKED
    if invitation.expires_at <= now:
        return InvitationState.EXPIRED
    if invitation.used >= invitation.seats:
        return InvitationState.FULL
    return InvitationState.OPEN


def sealed_purpose(invitation_id: int) -> str:
    """The vault purpose an invitation's code is sealed for."""
    return f"guest-invitation:{invitation_id}"


def code_of(vault: Vault, invitation: GuestInvitation) -> str:
    """The invitation's code (its normal form), unsealed to show it again."""
    return vault.open(invitation.code_sealed, sealed_purpose(invitation.id)).decode()


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[FieldProblem(field, message)])


#: Characters that break a line (control characters, line and paragraph separators) ...
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})
#: ... and those that are not seen but change what is (right-to-left overrides and other
#: format characters, which make a name read as another; lone surrogates, which are no
#: characters at all).
_INVISIBLE = frozenset({"Cf", "Cs"})


def _one_line(text: str, longest: int) -> bool:
    return len(text) <= longest and not any(unicodedata.category(c) in _LINE_BREAKING for c in text)


def _visible(text: str) -> bool:
    return not any(unicodedata.category(c) in _INVISIBLE for c in text)


def check_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise _refuse("body.title", "Give the invitation a title, such as the workshop's name.")
    if not _one_line(title, TITLE_MAX):
        raise _refuse("body.title", f"A title is one line of at most {TITLE_MAX} characters.")
    if not _visible(title):
        raise _refuse(
            "body.title",
            "Type the title without invisible formatting characters, such as text-direction marks.",
        )
    return title


def check_seats(seats: int, *, used: int = 0) -> None:
    if not 1 <= seats <= MAX_SEATS:
        raise _refuse("body.seats", f"Seats are 1 to {MAX_SEATS}.")
    if seats < used:
        raise _refuse(
            "body.seats",
            f"{used} guests have joined already: give at least {used} seats.",
        )


def check_end(expires_at: datetime, now: datetime) -> None:
    if expires_at <= now:
        raise _refuse("body.expires_at", "The end must be in the future.")
    if expires_at > now + MAX_LIFETIME:
        raise _refuse(
            "body.expires_at",
            "Guest accounts are temporary: an invitation ends within a year.",
        )


def check_guest_name(display_name: str) -> str:
    """The name a guest gives (shown to others, e.g. when they share a session)."""
    name = display_name.strip()
    if not name:
        raise _refuse(
            "body.display_name", "Type your name, as the others in the workshop know you."
        )
    if not _one_line(name, NAME_MAX):
        raise _refuse(
            "body.display_name", f"Your name is one line of at most {NAME_MAX} characters."
        )
    if not _visible(name):
        raise _refuse(
            "body.display_name",
            "Type your name without invisible formatting characters, such as text-direction marks.",
        )
    return name


async def create_invitation(
    db: AsyncSession,
    vault: Vault,
    settings: Settings,
    *,
    title: str,
    seats: int,
    expires_at: datetime,
    actor: Actor,
) -> tuple[GuestInvitation, str]:
    """A new invitation and its code (normal form; shown to administrators only).
    Refused (409) without the ``local`` provider: its guests could never log in again."""
    if LOCAL_PROVIDER not in settings.auth_providers:
        raise Conflict(
            "Guests log in again with a labgate password, which needs the provider "
            f"'{LOCAL_PROVIDER}' in auth_providers. Add it there to invite guests."
        )
    now = utcnow()
    title = check_title(title)
    check_seats(seats)
    check_end(expires_at, now)
    code = new_code()
    row = GuestInvitation(
        title=title,
        code_hash=code_hash(code),
        code_sealed=b"",
        seats=seats,
        used=0,
        expires_at=expires_at,
        created_by=actor.id,
        created_at=now,
    )
    db.add(row)
    await db.flush()
    # Sealed for its own row (the purpose names its id), so it is known only now.
    row.code_sealed = vault.seal(code.encode(), sealed_purpose(row.id))
    audit.record(
        db,
        "guest_invitation_created",
        actor=actor,
        target=str(row.id),
        title=title,
        seats=seats,
        expires_at=expires_at.isoformat(),
    )
    return row, code


async def get_invitation(db: AsyncSession, invitation_id: int) -> GuestInvitation:
    row = await db.get(GuestInvitation, invitation_id)
    if row is None:
        raise NotFound(f"There is no guest invitation {invitation_id}.")
    return row


async def list_invitations(db: AsyncSession) -> list[GuestInvitation]:
    """Every invitation, the newest first."""
    stmt = select(GuestInvitation).order_by(GuestInvitation.created_at.desc(), GuestInvitation.id)
    return list((await db.scalars(stmt)).all())


async def usable_invitation(db: AsyncSession, typed_code: str) -> GuestInvitation:
    """The invitation of ``typed_code`` if it makes a guest account now; else
    :class:`InvitationUnusable` saying why."""
    code = normal_code(typed_code)
    row = None
    if code is not None:
        row = await db.scalar(
            select(GuestInvitation)
            .where(GuestInvitation.code_hash == code_hash(code))
            # Read again, not the copy a failed seat left in this session.
            .execution_options(populate_existing=True)
        )
    if row is None:
        raise UnknownInvitation(_UNUSABLE[None])
    state = state_of(row, utcnow())
    if state is not InvitationState.OPEN:
        raise InvitationUnusable(_UNUSABLE[state])
    return row


@dataclass(frozen=True)
class Joining:
    """What a guest gives to join; the password is checked and hashed already (hashing is
    slow: the caller does it before opening the transaction)."""

    code: str
    display_name: str
    password: str
    password_hash: str


async def join(db: AsyncSession, settings: Settings, joining: Joining) -> User:
    """A guest account made with an invitation, its seat taken, in ``db``'s transaction."""
    display_name = check_guest_name(joining.display_name)
    invitation = await usable_invitation(db, joining.code)
    taken = await db.execute(
        update(GuestInvitation)
        .where(
            GuestInvitation.id == invitation.id,
            GuestInvitation.used < GuestInvitation.seats,
            GuestInvitation.revoked_at.is_(None),
            GuestInvitation.expires_at > utcnow(),
        )
        .values(used=GuestInvitation.used + 1)
    )
    if cast(CursorResult[Any], taken).rowcount != 1:
        # Taken meanwhile (the last seat), withdrawn or ended: say which.
        await usable_invitation(db, joining.code)
        raise InvitationUnusable(_UNUSABLE[InvitationState.FULL])
    username = await _free_guest_name(db)
    user = await create_user(
        db,
        settings,
        username=username,
        password=joining.password,
        password_hash=joining.password_hash,
        role=Role.GUEST,
        display_name=display_name,
        actor=Actor(None, username),
    )
    user.expires_at = invitation.expires_at
    user.invitation_id = invitation.id
    audit.record(
        db,
        "guest_joined",
        actor=Actor(user.id, username),
        target=username,
        invitation=invitation.id,
        expires_at=invitation.expires_at.isoformat(),
    )
    await db.flush()
    return user


async def _free_guest_name(db: AsyncSession) -> str:
    """A generated name that no labgate user has, nor an OS account of this machine (the
    account and home an earlier guest left behind are never a new guest's)."""
    for _ in range(_NAME_TRIES):
        name = new_guest_name()
        if find_account(name) is not None:
            continue
        if await db.scalar(select(User.id).where(User.username == name)) is None:
            return name
    raise Conflict("No free guest name was found. Try again.")


async def change_invitation(
    db: AsyncSession,
    invitation: GuestInvitation,
    *,
    actor: Actor,
    title: str | None = None,
    seats: int | None = None,
    expires_at: datetime | None = None,
) -> GuestInvitation:
    """A new title, number of seats or end; a new end is its guests' accounts' too."""
    now = utcnow()
    changes: dict[str, object] = {}
    if invitation.revoked_at is not None and (seats is not None or expires_at is not None):
        raise Conflict("This invitation was withdrawn: make a new one instead.")
    if title is not None:
        invitation.title = changes["title"] = check_title(title)
    if seats is not None:
        check_seats(seats, used=invitation.used)
        invitation.seats = changes["seats"] = seats
    if expires_at is not None and expires_at != invitation.expires_at:
        check_end(expires_at, now)
        invitation.expires_at = expires_at
        changes["expires_at"] = expires_at.isoformat()
        await db.execute(
            update(User)
            .where(User.invitation_id == invitation.id, User.expires_at > now)
            .values(expires_at=expires_at)
        )
    if changes:
        audit.record(
            db, "guest_invitation_changed", actor=actor, target=str(invitation.id), changes=changes
        )
    await db.flush()
    return invitation


async def revoke_invitation(
    db: AsyncSession, invitation: GuestInvitation, *, actor: Actor, end_accounts: bool
) -> list[str]:
    """Withdraw ``invitation`` (nobody joins with it any more); with ``end_accounts`` its
    guests' accounts end now too: their logins end, and the expiry pass removes them.
    Returns the names of the accounts ended."""
    now = utcnow()
    if invitation.revoked_at is None:
        invitation.revoked_at = now
    ended: list[str] = []
    if end_accounts:
        guests = (
            await db.execute(
                select(User.id, User.username).where(
                    User.invitation_id == invitation.id, User.expires_at > now
                )
            )
        ).all()
        ids = [guest.id for guest in guests]
        ended = [guest.username for guest in guests]
        if ids:
            await db.execute(update(User).where(User.id.in_(ids)).values(expires_at=now))
            await db.execute(
                update(LoginSession)
                .where(LoginSession.user_id.in_(ids), LoginSession.revoked_at.is_(None))
                .values(revoked_at=now)
            )
    audit.record(
        db,
        "guest_invitation_revoked",
        actor=actor,
        target=str(invitation.id),
        accounts_ended=sorted(ended),
    )
    await db.flush()
    return sorted(ended)


@dataclass(frozen=True)
class Guest:
    """A guest account of an invitation, as the console shows it."""

    username: str
    display_name: str
    joined_at: datetime
    last_login_at: datetime | None
    expires_at: datetime | None
    #: Their app sessions starting or running now.
    sessions: int


async def guests_of(db: AsyncSession, invitation_ids: list[int]) -> dict[int, list[Guest]]:
    """The guests (still there) of each invitation, in the order they joined."""
    found: dict[int, list[Guest]] = {invitation_id: [] for invitation_id in invitation_ids}
    if not invitation_ids:
        return found
    live = (
        select(AppSession.user_id, func.count().label("sessions"))
        .where(AppSession.state.in_(LIVE_SESSION_STATES))
        .group_by(AppSession.user_id)
        .subquery()
    )
    rows = await db.execute(
        select(User, func.coalesce(live.c.sessions, 0))
        .outerjoin(live, live.c.user_id == User.id)
        .where(User.invitation_id.in_(invitation_ids))
        .order_by(User.created_at, User.id)
    )
    for user, sessions in rows:
        assert user.invitation_id is not None
        found[user.invitation_id].append(
            Guest(
                username=user.username,
                display_name=user.display_name,
                joined_at=user.created_at,
                last_login_at=user.last_login_at,
                expires_at=user.expires_at,
                sessions=int(sessions),
            )
        )
    return found
