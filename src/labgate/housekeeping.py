"""Periodic clean-up of rows that only grow: ended login sessions, dead tokens, old audit
events, the used grants of app origins once they have expired, and old notifications. With
it, the quotas' pass: usage rows of sessions that ended unseen are closed, and users whose
monthly hours near a limit are told (``labgate.quotas``).

Every replica runs it; the deletes are idempotent, so running them twice is harmless.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.engine import Database
from labgate.db.models import ApiToken, AuditEvent, LoginSession, RedeemedGrant
from labgate.db.types import utcnow
from labgate.notifications import centre
from labgate.quotas import accounting, warnings
from labgate.settings import Settings

log = logging.getLogger(__name__)

# Ended sessions and tokens stay this long, so "why was I logged out?" can be answered.
_KEEP_ENDED = timedelta(days=30)


@dataclass(frozen=True)
class Removed:
    sessions: int
    tokens: int
    audit_events: int
    grants: int
    notifications: int = 0


async def _delete(db: AsyncSession, statement: Delete) -> int:
    result = cast(CursorResult[Any], await db.execute(statement))
    return result.rowcount


async def clean_up(db: AsyncSession, settings: Settings) -> Removed:
    now = utcnow()
    cutoff = now - _KEEP_ENDED
    idle = timedelta(minutes=settings.session_idle_timeout_minutes)
    sessions = await _delete(
        db,
        delete(LoginSession).where(
            or_(
                LoginSession.expires_at < cutoff,
                LoginSession.revoked_at < cutoff,
                LoginSession.last_seen_at < cutoff - idle,
            )
        ),
    )
    tokens = await _delete(
        db, delete(ApiToken).where(or_(ApiToken.expires_at < cutoff, ApiToken.revoked_at < cutoff))
    )
    events = 0
    if settings.audit_retention_days:
        old = now - timedelta(days=settings.audit_retention_days)
        events = await _delete(db, delete(AuditEvent).where(AuditEvent.at < old))
    # A used grant is remembered only while it could still be presented.
    grants = await _delete(db, delete(RedeemedGrant).where(RedeemedGrant.expires_at <= now))
    notifications = await centre.prune(db, settings.notification_retention_days)
    return Removed(sessions, tokens, events, grants, notifications)


async def quota_pass(db: AsyncSession, settings: Settings) -> None:
    """Close the usage of sessions that ended without saying so, then warn of monthly
    hours nearly used up (idempotent: each warning is given once a month)."""
    now = utcnow()
    closed = await accounting.close_orphans(db, now)
    warned = await warnings.warn_everyone(db, settings, now)
    if closed or warned:
        log.info("quotas: %d usage rows closed, %d warnings given", closed, warned)


async def run_periodically(database: Database, settings: Settings, interval: float) -> None:
    """Clean up now and then every ``interval`` seconds until cancelled."""
    while True:
        try:
            async with database.session() as db:
                removed = await clean_up(db, settings)
            if any(dataclasses.astuple(removed)):
                log.info("housekeeping removed %s", removed)
            async with database.session() as db:
                await quota_pass(db, settings)
        except Exception:  # a failed round must not stop the next one
            log.exception("housekeeping failed; trying again later")
        await asyncio.sleep(interval)
