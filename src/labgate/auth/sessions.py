"""Server-side login sessions behind the browser's cookie."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.principal import ACCOUNT_COLUMNS, TOUCH_INTERVAL, Account, Principal, Scope
from labgate.auth.secrets import digest, new_secret
from labgate.db.models import LoginSession, User
from labgate.db.types import utcnow
from labgate.settings import Settings

# The provider that checks labgate's own password hashes (labgate.auth.local).
LOCAL_PROVIDER = "local"


async def create_session(
    db: AsyncSession,
    user: User,
    settings: Settings,
    *,
    client: str,
    user_agent: str,
    identity_id: int | None = None,
) -> tuple[str, LoginSession]:
    """Start a session for ``user`` (signed in with ``identity_id``, when through an
    identity provider); returns the cookie value (shown once) and the row."""
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
        identity_id=identity_id,
    )
    db.add(row)
    await db.flush()
    return secret, row


@dataclass(frozen=True)
class LiveSession:
    id: int
    csrf_token: str
    account: Account
    # last_seen_at is old enough to be worth refreshing (see touch_session).
    stale: bool

    def principal(self) -> Principal:
        """Who calls with this session: every scope the user's role allows."""
        return Principal.of(self.account, "session", frozenset(Scope), session_id=self.id)


def _live(now: Any, idle_cutoff: Any) -> ColumnElement[bool]:
    """The rule for a usable session: not ended, not expired, not idle for too long."""
    return and_(
        LoginSession.revoked_at.is_(None),
        LoginSession.expires_at > now,
        LoginSession.last_seen_at > idle_cutoff,
    )


def live_now(settings: Settings) -> ColumnElement[bool]:
    """:func:`_live` as of now: for other modules' queries of usable sessions."""
    now = utcnow()
    return _live(now, now - timedelta(minutes=settings.session_idle_timeout_minutes))


def _lookup(which: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    return (
        select(
            LoginSession.id, LoginSession.csrf_token, LoginSession.last_seen_at, *ACCOUNT_COLUMNS
        )
        .join(User, User.id == LoginSession.user_id)
        .where(
            which,
            _live(bindparam("now"), bindparam("idle_cutoff")),
            User.disabled.is_(False),
            # A guest's account ends at its invitation's end, its logins with it.
            or_(User.expires_at.is_(None), User.expires_at > bindparam("now")),
        )
    )


# Built once: every request looks a session up, and building the statement cost as much
# as running it (docs/performance.md, Sessions).
_BY_COOKIE = _lookup(LoginSession.token_hash == bindparam("key"))
_BY_ID = _lookup(LoginSession.id == bindparam("key"))
_BY_IDS = _lookup(LoginSession.id.in_(bindparam("key", expanding=True)))


async def find_live_session(
    db: AsyncSession, cookie: str, settings: Settings
) -> LiveSession | None:
    """The session behind ``cookie`` if it is live and its user enabled (and not past a
    guest's end); one query, no writes."""
    return await _find_live(db, _BY_COOKIE, digest(cookie), settings)


async def find_live_session_by_id(
    db: AsyncSession, session_id: int, settings: Settings
) -> LiveSession | None:
    """The same, for a session known by its id (an app origin's cookie names it)."""
    return await _find_live(db, _BY_ID, session_id, settings)


async def find_live_sessions(
    db: AsyncSession, session_ids: Collection[int], settings: Settings
) -> dict[int, LiveSession]:
    """Those of ``session_ids`` that are live, by id, in one query (the sessions behind
    open WebSockets, checked again every second: labgate.auth.live_sockets)."""
    if not session_ids:
        return {}
    found = await _find_all_live(db, _BY_IDS, list(session_ids), settings)
    return {session.id: session for session in found}


async def _find_live(
    db: AsyncSession, statement: Select[*tuple[Any, ...]], key: object, settings: Settings
) -> LiveSession | None:
    found = await _find_all_live(db, statement, key, settings)
    return found[0] if found else None


async def _find_all_live(
    db: AsyncSession, statement: Select[*tuple[Any, ...]], key: object, settings: Settings
) -> list[LiveSession]:
    now = utcnow()
    idle_cutoff = now - timedelta(minutes=settings.session_idle_timeout_minutes)
    rows = await db.execute(statement, {"key": key, "now": now, "idle_cutoff": idle_cutoff})
    return [
        LiveSession(
            id=row.id,
            csrf_token=row.csrf_token,
            account=Account.from_row(row),
            stale=now - row.last_seen_at > TOUCH_INTERVAL,
        )
        for row in rows
    ]


async def touch_session(db: AsyncSession, session_id: int) -> None:
    await db.execute(
        update(LoginSession).where(LoginSession.id == session_id).values(last_seen_at=utcnow())
    )


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


async def revoke_identity_sessions(db: AsyncSession, identity_id: int) -> None:
    """End every session begun with an identity (its provider refused it)."""
    await db.execute(
        update(LoginSession)
        .where(LoginSession.identity_id == identity_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def count_active_sessions(db: AsyncSession, settings: Settings) -> int:
    now = utcnow()
    count = await db.scalar(
        select(func.count())
        .select_from(LoginSession)
        .where(_live(now, now - timedelta(minutes=settings.session_idle_timeout_minutes)))
    )
    return int(count or 0)


async def began_with_one_time_password(db: AsyncSession, principal: Principal) -> bool:
    """Whether the caller's browser session began by logging in with the one-time password
    their account must still replace, so that it need not be typed again to replace it.

    True only for a browser session (never an API token) of a labgate account (the
    ``local`` provider's, the only one that checks labgate's passwords) that must change
    its password and whose session was created after that password was set: setting a
    password ends the account's sessions, so a later one logged in with it, and one that
    survived (none should) began before it. Every other caller types the current
    password to change it.
    """
    if principal.via != "session" or principal.session_id is None:
        return False
    found = (
        await db.execute(
            select(
                User.must_change_password,
                User.auth_provider,
                User.password_changed_at,
                LoginSession.created_at,
            )
            .join(LoginSession, LoginSession.user_id == User.id)
            .where(LoginSession.id == principal.session_id, User.id == principal.user_id)
        )
    ).first()
    if found is None or not found.must_change_password or found.password_changed_at is None:
        return False
    return bool(
        found.auth_provider == LOCAL_PROVIDER and found.created_at > found.password_changed_at
    )
