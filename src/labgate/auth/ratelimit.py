"""Login rate limiting, counted from the audit log.

Failed logins are audit events anyway; counting them there (instead of in memory) means
every server replica sees the same count and a restart does not reset it.

A login first *claims* an attempt: in one short transaction it counts the recent
failures (and the attempts still being checked) of the account and of the client
address, and, if both are under their limits, records a ``login_attempt`` event. The
password is checked after that transaction has ended (no connection, no lock held while
hashing); the outcome then turns the event into ``login_failed``, ``login`` or
``login_refused``. Claims of one account (and of one address) take turns: on PostgreSQL
by advisory locks, on SQLite because every writing transaction is exclusive. So
concurrent wrong passwords cannot pass the limit together, and an attempt whose outcome
was never recorded (the replica died meanwhile) counts as a failure.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from labgate import audit
from labgate.audit import Actor
from labgate.db.engine import lock_across_replicas
from labgate.db.models import AuditEvent
from labgate.db.types import UTCDateTime, utcnow
from labgate.errors import RateLimited
from labgate.settings import Settings

FAILED_LOGIN = "login_failed"
# A login whose password is being checked; settled into its outcome afterwards.
LOGIN_ATTEMPT = "login_attempt"
_COUNTED = (FAILED_LOGIN, LOGIN_ATTEMPT)


def _lock_key(kind: str, value: str) -> int:
    """A PostgreSQL advisory lock key (signed 64 bits) for one account or address."""
    digest = hashlib.sha256(f"labgate-login:{kind}:{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _failures(
    db: AsyncSession, column: InstrumentedAttribute[str], value: str, since: datetime
) -> tuple[int, datetime | None]:
    count, oldest = (
        await db.execute(
            select(func.count(), func.min(AuditEvent.at, type_=UTCDateTime)).where(
                AuditEvent.event.in_(_COUNTED),
                column == value,
                AuditEvent.at > since,
            )
        )
    ).one()
    return int(count), oldest


async def claim_login_attempt(
    db: AsyncSession,
    settings: Settings,
    *,
    username: str,
    client: str,
    per_account: bool = True,
) -> int:
    """Record a login attempt and return its audit event's id, or raise
    :class:`RateLimited` when too many logins failed recently for the account or from the
    client address. ``db`` must be a writing transaction, committed before the password
    is checked. Without ``per_account`` only the address's failures count (``username``
    then names what is tried, such as guest invitation codes, which everybody tries)."""
    counted = (("account", username),) if per_account else ()
    keys = [_lock_key(kind, value) for kind, value in (*counted, ("client", client))]
    # Always in the same order, so that two claims never wait for each other's lock.
    for key in sorted(keys):
        await lock_across_replicas(db, key)
    now = utcnow()
    window = timedelta(seconds=settings.login_rate_window_seconds)
    since = now - window
    limits = (
        (AuditEvent.target, username, settings.login_max_failures_per_account, "this account"),
        (AuditEvent.client, client, settings.login_max_failures_per_client, "your address"),
    )
    for column, value, limit, what in limits:
        if not value or (column is AuditEvent.target and not per_account):
            continue
        count, oldest = await _failures(db, column, value, since)
        if count >= limit:
            retry = (oldest + window - now).total_seconds() if oldest else window.total_seconds()
            raise RateLimited(
                f"Too many failed logins for {what}. Try again in {math.ceil(retry)} seconds.",
                retry_after=math.ceil(retry),
            )
    entry = audit.record(db, LOGIN_ATTEMPT, target=username, client=client)
    await db.flush()
    return entry.id


async def settle_login_attempt(
    db: AsyncSession,
    attempt_id: int,
    event: str,
    *,
    actor: Actor = audit.SYSTEM,
    **detail: Any,
) -> None:
    """Turn the attempt's event into its outcome (``login_failed``, ``login``, ...)."""
    await db.execute(
        update(AuditEvent)
        .where(AuditEvent.id == attempt_id)
        .values(event=event, actor_id=actor.id, actor=actor.name, detail=detail)
    )
