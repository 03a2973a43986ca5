"""The audit log, for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from labgate import audit
from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.auth.policy import Action, authorize
from labgate.errors import FieldProblem, ValidationFailed

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    event: str
    actor: str
    target: str
    client: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_before_id: int | None


@router.get("", summary="Security-relevant events, newest first")
async def list_events(
    principal: CurrentPrincipal,
    state: State,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    event: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditPage:
    """Narrowed by ``event`` (its kind), ``actor``, ``target`` (each exactly) and the
    time range ``since`` (inclusive) to ``until`` (exclusive), ISO 8601 with a time zone."""
    authorize(principal, Action.READ_AUDIT_LOG)
    problems = [
        FieldProblem(f"query.{name}", "give a time zone (e.g. Z or +01:00)")
        for name, value in (("since", since), ("until", until))
        if value is not None and value.tzinfo is None
    ]
    if not problems and since is not None and until is not None and until <= since:
        problems.append(FieldProblem("query.until", "must be after since"))
    if problems:
        raise ValidationFailed("The time range is not valid.", details=problems)
    rows = await audit.query(
        db,
        limit=limit,
        before_id=before_id,
        event=event,
        actor=actor,
        target=target,
        since=since,
        until=until,
    )
    events = [
        AuditEventOut(
            id=r.id,
            at=r.at,
            event=r.event,
            actor=r.actor,
            target=r.target,
            client=r.client,
            detail=r.detail,
        )
        for r in rows
    ]
    return AuditPage(events=events, next_before_id=rows[-1].id if len(rows) == limit else None)
