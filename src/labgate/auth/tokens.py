"""API tokens for scripts: ``Authorization: Bearer lgt_...``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.principal import ACCOUNT_COLUMNS, Account, Scope
from labgate.auth.secrets import digest, new_secret
from labgate.db.models import ApiToken, User
from labgate.db.types import utcnow

# last_used_at is refreshed at most this often, so reads do not all turn into writes.
_TOUCH_INTERVAL = timedelta(seconds=60)
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


@dataclass(frozen=True)
class LiveToken:
    id: int
    scopes: frozenset[Scope]
    account: Account
    # last_used_at is old enough to be worth refreshing (see touch_token).
    stale: bool


async def find_live_token(db: AsyncSession, secret: str) -> LiveToken | None:
    """The token for ``secret`` if it is neither revoked, expired nor its user disabled;
    one query, no writes."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = (
        await db.execute(
            select(
                ApiToken.id,
                ApiToken.scopes,
                ApiToken.expires_at,
                ApiToken.revoked_at,
                ApiToken.last_used_at,
                *ACCOUNT_COLUMNS,
            )
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest(secret))
        )
    ).first()
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
        or row.disabled
    ):
        return None
    return LiveToken(
        id=row.id,
        scopes=expand_scopes(row.scopes),
        account=Account.from_row(row),
        stale=row.last_used_at is None or now - row.last_used_at > _TOUCH_INTERVAL,
    )


async def touch_token(db: AsyncSession, token_id: int) -> None:
    await db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))


async def list_tokens(db: AsyncSession, user_id: int) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    return list((await db.scalars(stmt)).all())
