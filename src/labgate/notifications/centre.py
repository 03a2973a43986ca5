"""A user's notification centre: adding a notification (``notify``, in the caller's
transaction), listing them newest first, marking them read, deleting them, and pruning
old ones (housekeeping).

A notification added here is told to the user's tabs, and e-mailed when they want it,
only once the transaction that added it has committed (``labgate.notifications.delivery``):
``notify`` notes its id on the database session for that."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import Notification
from labgate.db.types import utcnow
from labgate.errors import NotFound

#: Where ``notify`` notes the ids it added, on the (sync) session's ``info``.
PENDING = "labgate.notifications.pending"


async def notify(
    db: AsyncSession,
    user_id: int,
    kind: str,
    title: str,
    body: str = "",
    subject: dict[str, Any] | None = None,
) -> Notification:
    """A new notification for ``user_id`` of ``kind`` (``session_warning``, ``share``,
    ``join``, ``extension``, ``announcement``, ``quota``), added to ``db``: it exists once
    the caller's transaction commits."""
    # One line, whatever it was made of (a session's title, someone's words): it becomes
    # an e-mail's subject, where a line break is refused.
    one_line = " ".join(title.split())[:200]
    row = Notification(user_id=user_id, kind=kind, title=one_line, body=body, subject=subject or {})
    db.add(row)
    await db.flush()
    db.info.setdefault(PENDING, []).append(row.id)
    return row


@dataclass(frozen=True)
class Listing:
    notifications: list[Notification]
    unread: int


async def listing(db: AsyncSession, user_id: int, *, limit: int) -> Listing:
    """The user's newest ``limit`` notifications, and how many of all are unread."""
    rows = await db.scalars(
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    unread = await db.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return Listing(list(rows), unread or 0)


async def mark_read(db: AsyncSession, user_id: int, ids: Sequence[int] | None) -> int:
    """Mark the user's notifications ``ids`` (None: all) read; how many changed. Ids that
    are not the user's are left alone: they are no one's business here."""
    statement = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    result = cast(CursorResult[Any], await db.execute(statement.values(read_at=utcnow())))
    return result.rowcount


async def remove(db: AsyncSession, user_id: int, notification_id: int) -> None:
    """Delete one of the user's notifications (404 for anyone else's)."""
    result = cast(
        CursorResult[Any],
        await db.execute(
            delete(Notification).where(
                Notification.id == notification_id, Notification.user_id == user_id
            )
        ),
    )
    if result.rowcount == 0:
        raise NotFound(f"There is no notification {notification_id}.")


async def prune(db: AsyncSession, older_than_days: int) -> int:
    """Delete notifications older than ``older_than_days``; how many."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = cast(
        CursorResult[Any],
        await db.execute(delete(Notification).where(Notification.created_at < cutoff)),
    )
    return result.rowcount
