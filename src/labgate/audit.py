"""The audit log: security-relevant events, kept in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a user (id and name), or the system / command line."""

    id: int | None
    name: str


SYSTEM = Actor(None, "system")


def record(
    session: AsyncSession,
    event: str,
    *,
    actor: Actor = SYSTEM,
    target: str = "",
    client: str = "",
    **detail: Any,
) -> AuditEvent:
    """Add an event to ``session``; it is written when the session's transaction commits."""
    entry = AuditEvent(
        event=event,
        actor_id=actor.id,
        actor=actor.name,
        target=target[:200],
        client=client[:64],
        detail=detail,
    )
    session.add(entry)
    return entry


async def query(
    session: AsyncSession,
    *,
    limit: int = 100,
    before_id: int | None = None,
    event: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEvent]:
    """Newest first; page with ``before_id`` (the smallest id of the previous page);
    ``since`` inclusive, ``until`` exclusive."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    if event:
        stmt = stmt.where(AuditEvent.event == event)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if target:
        stmt = stmt.where(AuditEvent.target == target)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    return list((await session.scalars(stmt)).all())
