"""The audit log, for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from labgate import audit
from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.auth.policy import Action, authorize

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
) -> AuditPage:
    authorize(principal, Action.READ_AUDIT_LOG)
    rows = await audit.query(
        db, limit=limit, before_id=before_id, event=event, actor=actor, target=target
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
