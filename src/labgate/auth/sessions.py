"""Server-side login sessions behind the browser's cookie."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.secrets import digest, new_secret
from labgate.db.models import LoginSession, User
from labgate.db.types import utcnow
from labgate.settings import Settings

COOKIE_NAME = "labgate_session"
# last_seen_at is refreshed at most this often, so reads do not all turn into writes.
_TOUCH_INTERVAL = timedelta(seconds=60)


async def create_session(
    db: AsyncSession, user: User, settings: Settings, *, client: str, user_agent: str
) -> tuple[str, LoginSession]:
    """Start a session for ``user``; returns the cookie value (shown once) and the row."""
    secret = new_secret()
    now = utcnow()
    row = LoginSession(
        token_hash=digest(secret),
        user_id=user.id,
        csrf_token=new_secret(24),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_max_age_hours),
        client=client[:64],
        user_agent=user_agent[:400],
    )
    db.add(row)
    await db.flush()
    return secret, row


def _alive(row: LoginSession, settings: Settings, now: datetime) -> bool:
    idle_limit = timedelta(minutes=settings.session_idle_timeout_minutes)
    return (
        row.revoked_at is None
        and row.expires_at > now
        and row.last_seen_at + idle_limit > now
        and not row.user.disabled
    )


async def resolve_session(db: AsyncSession, cookie: str, settings: Settings) -> LoginSession | None:
    """The live session for ``cookie``, refreshed, or None when unknown, ended or expired."""
    row = await db.scalar(select(LoginSession).where(LoginSession.token_hash == digest(cookie)))
    now = utcnow()
    if row is None or not _alive(row, settings, now):
        return None
    if now - row.last_seen_at > _TOUCH_INTERVAL:
        row.last_seen_at = now
    return row


async def revoke_session(db: AsyncSession, session_id: int) -> None:
    await db.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_sessions(
    db: AsyncSession, user_id: int, *, keep_session_id: int | None = None
) -> None:
    """End every session of a user (password change, disabling), maybe but one."""
    stmt = update(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        stmt = stmt.where(LoginSession.id != keep_session_id)
    await db.execute(stmt.values(revoked_at=utcnow()))


async def count_active_sessions(db: AsyncSession, settings: Settings) -> int:
    now = utcnow()
    idle_cutoff = now - timedelta(minutes=settings.session_idle_timeout_minutes)
    count = await db.scalar(
        select(func.count())
        .select_from(LoginSession)
        .where(
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
            LoginSession.last_seen_at > idle_cutoff,
        )
    )
    return int(count or 0)
