"""API tokens for scripts: ``Authorization: Bearer lgt_...``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.principal import Scope
from labgate.auth.secrets import digest, new_secret
from labgate.db.models import ApiToken, User
from labgate.db.types import utcnow

TOKEN_PREFIX = "lgt_"  # noqa: S105 (a visible marker, not a secret)
# Each scope grants the ones listed with it.
_IMPLIED = {
    Scope.READ: {Scope.READ},
    Scope.WRITE: {Scope.READ, Scope.WRITE},
    Scope.ADMIN: {Scope.READ, Scope.WRITE, Scope.ADMIN},
}


def expand_scopes(scopes: Iterable[str]) -> frozenset[Scope]:
    granted: set[Scope] = set()
    for name in scopes:
        granted |= _IMPLIED[Scope(name)]
    return frozenset(granted)


async def create_token(
    db: AsyncSession,
    user: User,
    *,
    name: str,
    scopes: list[Scope],
    expires_in_days: int | None,
) -> tuple[str, ApiToken]:
    """Make a token for ``user``; returns the secret (shown once, never stored) and the row."""
    secret = TOKEN_PREFIX + new_secret()
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=digest(secret),
        scopes=sorted(s.value for s in scopes),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db.add(row)
    await db.flush()
    return secret, row


def token_is_live(row: ApiToken) -> bool:
    now = utcnow()
    return (
        row.revoked_at is None
        and (row.expires_at is None or row.expires_at > now)
        and not row.user.disabled
    )


async def resolve_token(db: AsyncSession, secret: str) -> ApiToken | None:
    """The live token for ``secret``, with its last use recorded, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = await db.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if row is None or not token_is_live(row):
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(seconds=60):
        row.last_used_at = now
    return row


async def list_tokens(db: AsyncSession, user_id: int) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    return list((await db.scalars(stmt)).all())
