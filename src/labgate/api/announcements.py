"""Announcements: banners administrators schedule for every user (``/announcements``),
and the ones shown now, for every logged-in user (``/announcements/current``). A change
reaches every tab through the events socket (``announcements``: read them again)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime, BaseModel, StringConstraints
from sqlalchemy import select

from labgate import audit
from labgate.api.deps import CurrentPrincipal, Db, State, after_commit
from labgate.api.schemas import Body, Id
from labgate.auth.policy import Action, authorize
from labgate.db.models import Announcement, User
from labgate.db.types import utcnow
from labgate.errors import FieldProblem, ValidationFailed
from labgate.notifications import announcements
from labgate.notifications.announcements import EVERYONE
from labgate.state import AppState

router = APIRouter(prefix="/announcements", tags=["announcements"])

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Severity = Literal["info", "warning", "critical"]


class CurrentOut(BaseModel):
    id: int
    text: str
    severity: Severity
    starts_at: datetime
    ends_at: datetime


class CurrentList(BaseModel):
    announcements: list[CurrentOut]


class AnnouncementOut(CurrentOut):
    email: bool
    #: When it was sent out (notifications, and e-mail when ``email``); null: not yet.
    emailed_at: datetime | None
    created_by: str | None
    created_at: datetime
    #: "scheduled" (its start is to come), "current" or "past".
    status: Literal["scheduled", "current", "past"]


class AnnouncementList(BaseModel):
    announcements: list[AnnouncementOut]


class AnnouncementIn(Body):
    text: Text
    severity: Severity = "info"
    #: Null or left out: now.
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime
    email: bool = False


class AnnouncementPatch(Body):
    text: Text | None = None
    severity: Severity | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    email: bool | None = None


def _current(row: Announcement) -> CurrentOut:
    return CurrentOut(
        id=row.id,
        text=row.text,
        severity=row.severity,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


async def _out(db: Db, rows: list[Announcement]) -> list[AnnouncementOut]:
    makers = {r.created_by for r in rows if r.created_by is not None}
    names = (
        dict((await db.execute(select(User.id, User.username).where(User.id.in_(makers)))).all())
        if makers
        else {}
    )
    now = utcnow()
    return [
        AnnouncementOut(
            **_current(r).model_dump(),
            email=r.email,
            emailed_at=r.emailed_at,
            created_by=names.get(r.created_by) if r.created_by is not None else None,
            created_at=r.created_at,
            status="scheduled" if r.starts_at > now else "current" if r.ends_at > now else "past",
        )
        for r in rows
    ]


def _check_times(starts_at: datetime, ends_at: datetime, *, new: bool) -> None:
    problems = []
    if ends_at <= starts_at:
        problems.append(FieldProblem("body.ends_at", "The end must come after the start."))
    elif new and ends_at <= utcnow():
        problems.append(FieldProblem("body.ends_at", "The end must be in the future."))
    if problems:
        raise ValidationFailed(problems[0].message, details=problems)


def _tell(request: Request, state: AppState, announcement_id: int) -> None:
    """Once committed: every tab, on every replica, reads the current ones again, and
    this replica's announcer looks at once whether one is due to be sent out."""

    def now() -> None:
        state.announcements.put(EVERYONE, announcement_id)
        state.announcer.soon()

    after_commit(request, now)


@router.get("/current", summary="The announcements shown now (every logged-in user)")
async def current_announcements(principal: CurrentPrincipal, state: State, db: Db) -> CurrentList:
    authorize(principal, Action.READ_ANNOUNCEMENTS)
    return CurrentList(announcements=[_current(r) for r in await announcements.current(db)])


@router.get("", summary="Every announcement, the latest to start first (administrators)")
async def list_announcements(principal: CurrentPrincipal, state: State, db: Db) -> AnnouncementList:
    authorize(principal, Action.MANAGE_ANNOUNCEMENTS)
    return AnnouncementList(announcements=await _out(db, await announcements.every(db)))


@router.post("", status_code=201, summary="Schedule an announcement (administrators)")
async def create_announcement(
    request: Request, body: AnnouncementIn, principal: CurrentPrincipal, state: State, db: Db
) -> AnnouncementOut:
    """Shown to every user from ``starts_at`` (now when left out) until ``ends_at``; at
    its start every user gets a notification, and with ``email`` an e-mail."""
    authorize(principal, Action.MANAGE_ANNOUNCEMENTS)
    starts_at = body.starts_at or utcnow()
    _check_times(starts_at, body.ends_at, new=True)
    row = Announcement(
        text=body.text,
        severity=body.severity,
        starts_at=starts_at,
        ends_at=body.ends_at,
        email=body.email,
        created_by=principal.user_id,
    )
    db.add(row)
    await db.flush()
    audit.record(
        db,
        "announcement_created",
        actor=principal.actor,
        target=str(row.id),
        severity=row.severity,
        starts_at=starts_at.isoformat(),
        ends_at=body.ends_at.isoformat(),
        email=row.email,
    )
    _tell(request, state, row.id)
    return (await _out(db, [row]))[0]


@router.get("/{announcement_id}", summary="One announcement (administrators)")
async def get_announcement(
    announcement_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> AnnouncementOut:
    authorize(principal, Action.MANAGE_ANNOUNCEMENTS)
    return (await _out(db, [await announcements.get(db, announcement_id)]))[0]


@router.patch("/{announcement_id}", summary="Change an announcement (administrators)")
async def change_announcement(
    request: Request,
    announcement_id: Id,
    body: AnnouncementPatch,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> AnnouncementOut:
    """One already sent out is not sent again."""
    authorize(principal, Action.MANAGE_ANNOUNCEMENTS)
    row = await announcements.get(db, announcement_id)
    changes = body.model_dump(exclude_unset=True)
    for key in ("text", "severity", "ends_at", "email"):
        if key in changes and changes[key] is None:
            message = f"{key} cannot be null."
            raise ValidationFailed(message, details=[FieldProblem(f"body.{key}", message)])
    if "starts_at" in changes and changes["starts_at"] is None:
        changes["starts_at"] = utcnow()
    _check_times(
        changes.get("starts_at", row.starts_at), changes.get("ends_at", row.ends_at), new=False
    )
    for key, value in changes.items():
        setattr(row, key, value)
    await db.flush()
    audit.record(
        db,
        "announcement_changed",
        actor=principal.actor,
        target=str(row.id),
        fields=sorted(changes),
    )
    _tell(request, state, row.id)
    return (await _out(db, [row]))[0]


@router.delete("/{announcement_id}", status_code=204, summary="Delete an announcement")
async def delete_announcement(
    request: Request, announcement_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> Response:
    """Its banner goes from every tab (administrators)."""
    authorize(principal, Action.MANAGE_ANNOUNCEMENTS)
    row = await announcements.get(db, announcement_id)
    await db.delete(row)
    audit.record(db, "announcement_deleted", actor=principal.actor, target=str(announcement_id))
    _tell(request, state, announcement_id)
    return Response(status_code=204)
