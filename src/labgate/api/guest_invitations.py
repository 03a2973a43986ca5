"""Guest invitations over HTTP: administrators make, list, change and withdraw them
(``/guest-invitations``); anyone may look a code up (``/guest-invitations/lookup``) and
join with it (``POST /auth/guest``), both rate-limited like logins: an unknown code
counts as a failed login of the caller's address (labgate.auth.ratelimit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints
from sqlalchemy import select

from labgate.accounts import guests
from labgate.accounts.guest_codes import join_path, shown_code
from labgate.accounts.guest_expiry import remove_guests
from labgate.accounts.guests import Guest, InvitationUnusable, Joining, UnknownInvitation
from labgate.accounts.users import check_password
from labgate.api.auth import SessionOut, start_session_for
from labgate.api.deps import Caller, CurrentPrincipal, Db, State, client_of
from labgate.api.schemas import Body, Id, Password
from labgate.auth.authentication import expected_origin
from labgate.auth.cookies import set_session_cookie
from labgate.auth.passwords import hash_password
from labgate.auth.policy import Action, authorize
from labgate.auth.ratelimit import FAILED_LOGIN, claim_login_attempt, settle_login_attempt
from labgate.db.models import GuestInvitation, User
from labgate.db.types import utcnow
from labgate.errors import LabgateError
from labgate.state import AppState

router = APIRouter(tags=["guests"])

#: What the rate limit counts lookups and joins under (never a user's name: a colon).
GUEST_CODES = ":guest-invitation"

Title = Annotated[str, StringConstraints(max_length=guests.TITLE_MAX + 100)]
Seats = Annotated[int, Field(ge=1, le=guests.MAX_SEATS)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class GuestOut(BaseModel):
    username: str
    display_name: str
    joined_at: datetime
    last_login_at: datetime | None
    expires_at: datetime | None
    #: Their app sessions starting or running now.
    sessions: int

    @classmethod
    def of(cls, guest: Guest) -> GuestOut:
        return cls(**guest.__dict__)


class InvitationOut(BaseModel):
    id: int
    title: str
    #: As people read it: ``K7QM-4TXP-9WRB``.
    code: str
    #: Opens the joining page: ``<origin>/login?invitation=<code>``.
    link: str
    seats: int
    #: Guests who joined (those removed since included).
    used: int
    seats_left: int
    expires_at: datetime
    created_by: str | None
    created_at: datetime
    revoked_at: datetime | None
    state: Literal["open", "full", "expired", "revoked"]
    #: Its guests' accounts still there, in the order they joined.
    guests: list[GuestOut]


class InvitationList(BaseModel):
    invitations: list[InvitationOut]


class InvitationIn(Body):
    title: Title
    seats: Seats
    #: When it ends, and the accounts made with it.
    expires_at: AwareDatetime


class InvitationPatch(Body):
    title: Title | None = None
    seats: Seats | None = None
    #: A new end is its guests' accounts' too.
    expires_at: AwareDatetime | None = None


class LookupOut(BaseModel):
    """What a guest sees before joining."""

    title: str
    expires_at: datetime
    seats_left: int


class GuestJoinIn(Body):
    code: Code
    #: The guest's name, as others see it.
    display_name: Annotated[str, StringConstraints(max_length=guests.NAME_MAX + 100)]
    #: The password they choose, to log in again with their generated user name.
    password: Password


def join_link(request: Request, state: AppState, code: str) -> str:
    return expected_origin(request, state) + join_path(code)


async def _out(
    request: Request, state: AppState, db: Db, rows: list[GuestInvitation]
) -> list[InvitationOut]:
    makers = {r.created_by for r in rows if r.created_by is not None}
    names = (
        dict((await db.execute(select(User.id, User.username).where(User.id.in_(makers)))).all())
        if makers
        else {}
    )
    theirs = await guests.guests_of(db, [r.id for r in rows])
    now = utcnow()
    answer = []
    for row in rows:
        code = guests.code_of(state.vault, row)
        answer.append(
            InvitationOut(
                id=row.id,
                title=row.title,
                code=shown_code(code),
                link=join_link(request, state, code),
                seats=row.seats,
                used=row.used,
                seats_left=max(row.seats - row.used, 0),
                expires_at=row.expires_at,
                created_by=names.get(row.created_by) if row.created_by is not None else None,
                created_at=row.created_at,
                revoked_at=row.revoked_at,
                state=guests.state_of(row, now).value,
                guests=[GuestOut.of(guest) for guest in theirs[row.id]],
            )
        )
    return answer


@router.get("/guest-invitations", summary="Every guest invitation (administrators)")
async def list_invitations(
    request: Request, principal: CurrentPrincipal, state: State, db: Db
) -> InvitationList:
    authorize(principal, Action.LIST_GUEST_INVITATIONS)
    rows = await guests.list_invitations(db)
    return InvitationList(invitations=await _out(request, state, db, rows))


@router.post(
    "/guest-invitations", status_code=201, summary="Make a guest invitation (administrators)"
)
async def create_invitation(
    request: Request, body: InvitationIn, principal: CurrentPrincipal, state: State, db: Db
) -> InvitationOut:
    """Up to ``seats`` guests join with its code or link until ``expires_at``; their
    accounts end then too. 409 without the ``local`` provider (guests log in again with
    it)."""
    authorize(principal, Action.MANAGE_GUEST_INVITATIONS)
    row, _code = await guests.create_invitation(
        db,
        state.vault,
        state.settings,
        title=body.title,
        seats=body.seats,
        expires_at=body.expires_at,
        actor=principal.actor,
    )
    return (await _out(request, state, db, [row]))[0]


@router.get(
    "/guest-invitations/lookup",
    summary="What an invitation code is for, before joining with it (no login needed)",
)
async def lookup_invitation(
    request: Request, state: State, code: Annotated[str, Query(min_length=1, max_length=64)]
) -> LookupOut:
    """404 ``invitation_unusable`` for a code that is unknown, withdrawn, ended or full,
    saying which; unknown codes count as failed logins of the caller's address."""
    attempt = await _claim(request, state)
    try:
        async with state.database.read() as db:
            row = await guests.usable_invitation(db, code)
    except LabgateError as exc:
        await _settle_refused(state, attempt, exc)
        raise
    async with state.database.session() as db:
        await settle_login_attempt(db, attempt, "guest_code_looked_up", invitation=row.id)
    return LookupOut(
        title=row.title, expires_at=row.expires_at, seats_left=max(row.seats - row.used, 0)
    )


@router.get("/guest-invitations/{invitation_id}", summary="One guest invitation (administrators)")
async def get_invitation(
    request: Request, invitation_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> InvitationOut:
    authorize(principal, Action.LIST_GUEST_INVITATIONS)
    row = await guests.get_invitation(db, invitation_id)
    return (await _out(request, state, db, [row]))[0]


@router.patch(
    "/guest-invitations/{invitation_id}", summary="Change a guest invitation (administrators)"
)
async def change_invitation(
    request: Request,
    invitation_id: Id,
    body: InvitationPatch,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> InvitationOut:
    """A new end is also its guests' accounts' end; seats cannot be fewer than the guests
    who joined; a withdrawn one keeps its seats and end."""
    authorize(principal, Action.MANAGE_GUEST_INVITATIONS)
    row = await guests.get_invitation(db, invitation_id)
    await guests.change_invitation(
        db,
        row,
        actor=principal.actor,
        title=body.title,
        seats=body.seats,
        expires_at=body.expires_at,
    )
    return (await _out(request, state, db, [row]))[0]


@router.delete(
    "/guest-invitations/{invitation_id}",
    summary="Withdraw a guest invitation, and maybe end its guests' accounts (administrators)",
)
async def revoke_invitation(
    request: Request,
    invitation_id: Id,
    principal: Caller,
    state: State,
    end_accounts: bool = False,
) -> InvitationOut:
    """Nobody joins with it any more; it stays listed as withdrawn. With
    ``end_accounts=true`` its guests' logins end at once and their accounts are removed
    (with their files on ``local``, as ``guest_files_on_expiry`` says) before the answer."""
    authorize(principal, Action.MANAGE_GUEST_INVITATIONS)
    async with state.database.session() as db:
        row = await guests.get_invitation(db, invitation_id)
        ended = await guests.revoke_invitation(
            db, row, actor=principal.actor, end_accounts=end_accounts
        )
    await remove_guests(state, ended, actor=principal.actor)
    async with state.database.read() as db:
        row = await guests.get_invitation(db, invitation_id)
        return (await _out(request, state, db, [row]))[0]


@router.post(
    "/auth/guest",
    summary="Join as a guest with an invitation code, starting a browser session",
)
async def join_as_guest(
    body: GuestJoinIn, request: Request, response: Response, state: State
) -> SessionOut:
    """Makes a guest account (its name generated: ``user.username`` in the answer, which
    the guest needs to log in again with their password) and logs it in, as
    ``/auth/login`` does. 404 ``invitation_unusable`` says why a code makes no account."""
    guests.check_guest_name(body.display_name)
    check_password(body.password, state.settings, field="body.password")
    attempt = await _claim(request, state)
    try:
        # A code that makes no account costs no hash (hashing is slow on purpose).
        async with state.database.read() as db:
            await guests.usable_invitation(db, body.code)
        password_hash = await hash_password(body.password)
        async with state.database.session() as db:
            user = await guests.join(
                db,
                state.settings,
                Joining(body.code, body.display_name, body.password, password_hash),
            )
            user_id = user.id
    except LabgateError as exc:
        await _settle_refused(state, attempt, exc)
        raise
    except Exception as exc:
        async with state.database.session() as db:
            await settle_login_attempt(db, attempt, "login_error", error=type(exc).__name__)
        raise
    cookie, answer = await start_session_for(request, state, user_id, attempt=attempt)
    set_session_cookie(response, request, state.settings, cookie)
    return answer


async def _claim(request: Request, state: AppState) -> int:
    """An attempt at a code, refused (429) when the caller's address failed too often."""
    async with state.database.session() as db:
        return await claim_login_attempt(
            db,
            state.settings,
            username=GUEST_CODES,
            client=client_of(request, state),
            per_account=False,
        )


async def _settle_refused(state: AppState, attempt: int, exc: LabgateError) -> None:
    """An unknown code is a failed login (guessing); a known one that is closed, or a
    bad input, is not."""
    event = FAILED_LOGIN if isinstance(exc, UnknownInvitation) else "guest_code_refused"
    reason = "guest_code" if isinstance(exc, InvitationUnusable) else exc.code
    async with state.database.session() as db:
        await settle_login_attempt(db, attempt, event, reason=reason)
