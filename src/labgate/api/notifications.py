"""The caller's notification centre: list (newest first, with the unread count), mark
read, delete. New ones arrive on the events socket (``notification``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, model_validator

from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.api.schemas import Body, Id
from labgate.auth.policy import Action, authorize
from labgate.db.models import Notification
from labgate.notifications import centre

router = APIRouter(prefix="/notifications", tags=["notifications"])


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    #: What it is about, for opening it: {"session": id}, {"session": id, "sharing":
    #: true}, {"experiment": id}, {"announcement": id}.
    subject: dict[str, Any]
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> NotificationOut:
        return cls(
            id=row.id,
            kind=row.kind,
            title=row.title,
            body=row.body,
            subject=row.subject,
            created_at=row.created_at,
            read_at=row.read_at,
        )


class NotificationList(BaseModel):
    notifications: list[NotificationOut]
    #: How many of all the caller's notifications are unread (not only those listed).
    unread: int


class MarkRead(Body):
    """Either ``ids`` or ``all``."""

    ids: Annotated[list[Id], Field(max_length=1000)] | None = None
    all: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="after")
    def _one_of(self) -> MarkRead:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all: true")
        return self


class Marked(BaseModel):
    marked: int
    unread: int


@router.get("", summary="Your notifications, newest first, and how many are unread")
async def list_notifications(
    principal: CurrentPrincipal,
    state: State,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotificationList:
    authorize(principal, Action.READ_NOTIFICATIONS)
    found = await centre.listing(db, principal.user_id, limit=limit)
    return NotificationList(
        notifications=[NotificationOut.of(n) for n in found.notifications], unread=found.unread
    )


@router.post("/read", summary="Mark some (ids) or all of your notifications read")
async def mark_read(body: MarkRead, principal: CurrentPrincipal, state: State, db: Db) -> Marked:
    authorize(principal, Action.MANAGE_NOTIFICATIONS)
    marked = await centre.mark_read(db, principal.user_id, None if body.all else body.ids)
    unread = (await centre.listing(db, principal.user_id, limit=1)).unread
    return Marked(marked=marked, unread=unread)


@router.delete("/{notification_id}", status_code=204, summary="Delete one of your notifications")
async def delete_notification(
    notification_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> Response:
    """404 for one that is not the caller's."""
    authorize(principal, Action.MANAGE_NOTIFICATIONS)
    await centre.remove(db, principal.user_id, notification_id)
    return Response(status_code=204)
