"""Adding a notification to a user's centre (``notify``), in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import Notification


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
    row = Notification(user_id=user_id, kind=kind, title=title, body=body, subject=subject or {})
    db.add(row)
    await db.flush()
    return row
