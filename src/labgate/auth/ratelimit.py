"""Login rate limiting, counted from the audit log.

Failed logins are audit events anyway; counting them there (instead of in memory) means
every server replica sees the same count and a restart does not reset it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from labgate.db.models import AuditEvent
from labgate.db.types import UTCDateTime, utcnow
from labgate.errors import RateLimited
from labgate.settings import Settings

FAILED_LOGIN = "login_failed"


async def _failures(
    db: AsyncSession, column: InstrumentedAttribute[str], value: str, since: datetime
) -> tuple[int, datetime | None]:
    count, oldest = (
        await db.execute(
            select(func.count(), func.min(AuditEvent.at, type_=UTCDateTime)).where(
                AuditEvent.event == FAILED_LOGIN,
                column == value,
                AuditEvent.at > since,
            )
        )
    ).one()
    return int(count), oldest


async def check_login_allowed(
    db: AsyncSession, settings: Settings, *, username: str, client: str
) -> None:
    """Raise :class:`RateLimited` when too many logins failed recently for the account or
    from the client address."""
    now = utcnow()
    window = timedelta(seconds=settings.login_rate_window_seconds)
    since = now - window
    limits = (
        (AuditEvent.target, username, settings.login_max_failures_per_account, "this account"),
        (AuditEvent.client, client, settings.login_max_failures_per_client, "your address"),
    )
    for column, value, limit, what in limits:
        if not value:
            continue
        count, oldest = await _failures(db, column, value, since)
        if count >= limit:
            retry = (oldest + window - now).total_seconds() if oldest else window.total_seconds()
            raise RateLimited(
                f"Too many failed logins for {what}. Try again in {math.ceil(retry)} seconds.",
                retry_after=math.ceil(retry),
            )
