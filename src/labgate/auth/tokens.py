"""API tokens for scripts: ``Authorization: Bearer lgt_...``."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.audit import Actor
from labgate.auth.principal import (
    ACCOUNT_COLUMNS,
    TOUCH_INTERVAL,
    Account,
    Principal,
    Scope,
    role_scopes,
)
from labgate.auth.secrets import digest, new_secret
from labgate.db.models import ApiToken, Role, User
from labgate.db.types import utcnow
from labgate.errors import FieldProblem, ValidationFailed
from labgate.settings import Settings

TOKEN_PREFIX = "lgt_"  # noqa: S105 (a visible marker, not a secret)
# Each scope grants the ones listed with it.
_IMPLIED = {
    Scope.READ: {Scope.READ},
    Scope.WRITE: {Scope.READ, Scope.WRITE},
    Scope.ADMIN: {Scope.READ, Scope.WRITE, Scope.ADMIN},
}


def is_labgate_authorization(value: str) -> bool:
    """Whether an ``Authorization`` header's value is (or claims to be) a labgate API
    token, ``Bearer lgt_...``; any other value is an app's own business (the proxy passes
    it to the app and knows the caller by the login cookie instead)."""
    scheme, _, secret = value.strip().partition(" ")
    return scheme.lower() == "bearer" and secret.strip().startswith(TOKEN_PREFIX)


def expand_scopes(scopes: Iterable[str]) -> frozenset[Scope]:
    granted: set[Scope] = set()
    for name in scopes:
        granted |= _IMPLIED[Scope(name)]
    return frozenset(granted)


async def create_token(
    db: AsyncSession,
    settings: Settings,
    user: User,
    *,
    name: str,
    scopes: list[Scope],
    expires_in_days: int | None,
    grantable: frozenset[Scope],
    actor: Actor,
    not_after: datetime | None = None,
) -> tuple[str, ApiToken]:
    """Make a token for ``user``; returns the secret (shown once, never stored) and the row.
    Tokens always expire, within ``api_token_max_days`` and no later than ``not_after``
    (the expiry of the token that asks: a token cannot outlive itself through another;
    a later expiry asked for is brought forward to it), and hold no scope beyond the
    user's role nor beyond ``grantable`` (what whoever asks may pass on)."""
    limit = settings.api_token_max_days
    if expires_in_days is None or expires_in_days > limit:
        _refuse("body.expires_in_days", f"Tokens expire after at most {limit} days.")
    if not set(scopes) <= role_scopes(Role(user.role)):
        _refuse("body.scopes", "Only administrators' tokens may have the admin scope.")
    if not set(scopes) <= grantable:
        _refuse("body.scopes", "You cannot give a token more rights than you have.")
    secret = TOKEN_PREFIX + new_secret()
    now = utcnow()
    expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
    if not_after is not None and (expires_at is None or expires_at > not_after):
        expires_at = not_after
    row = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=digest(secret),
        scopes=sorted(s.value for s in scopes),
        created_at=now,
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    audit.record(
        db,
        "token_created",
        actor=actor,
        target=user.username,
        token_id=row.id,
        name=name,
        scopes=row.scopes,
    )
    return secret, row


def _refuse(field: str, message: str) -> NoReturn:
    raise ValidationFailed(message, details=[FieldProblem(field, message)])


@dataclass(frozen=True)
class LiveToken:
    id: int
    scopes: frozenset[Scope]
    account: Account
    expires_at: datetime | None
    # last_used_at is old enough to be worth refreshing (see touch_token).
    stale: bool

    def principal(self) -> Principal:
        """Who calls with this token: its scopes, within the user's role."""
        return Principal.of(
            self.account,
            "token",
            self.scopes,
            token_id=self.id,
            token_expires_at=self.expires_at,
        )


def unexpired(now: Any) -> ColumnElement[bool]:
    """A token that is neither revoked nor expired at ``now`` (its account aside)."""
    return and_(
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
    )


def _live_tokens(which: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    return (
        select(
            ApiToken.id,
            ApiToken.scopes,
            ApiToken.expires_at,
            ApiToken.last_used_at,
            *ACCOUNT_COLUMNS,
        )
        .join(User, User.id == ApiToken.user_id)
        .where(
            which,
            unexpired(bindparam("now")),
            User.disabled.is_(False),
            # A guest's account ends at its invitation's end, its tokens with it.
            or_(User.expires_at.is_(None), User.expires_at > bindparam("now")),
        )
    )


# Built once: every API request and every proxied request looks its token up.
_LIVE_TOKEN = _live_tokens(ApiToken.token_hash == bindparam("token_hash"))
_LIVE_TOKENS_BY_ID = _live_tokens(ApiToken.id.in_(bindparam("ids", expanding=True)))


async def find_live_token(db: AsyncSession, secret: str) -> LiveToken | None:
    """The token for ``secret`` if it is neither revoked, expired nor its user disabled;
    one query, no writes."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    found = await db.execute(_LIVE_TOKEN, {"token_hash": digest(secret), "now": now})
    row = found.first()
    return None if row is None else _live_token(row, now)


async def find_live_tokens(db: AsyncSession, token_ids: Collection[int]) -> dict[int, LiveToken]:
    """Those of ``token_ids`` that are live, by id, in one query (the tokens behind open
    WebSockets: labgate.auth.live_sockets)."""
    if not token_ids:
        return {}
    now = utcnow()
    rows = await db.execute(_LIVE_TOKENS_BY_ID, {"ids": list(token_ids), "now": now})
    return {row.id: _live_token(row, now) for row in rows}


def _live_token(row: Row[*tuple[Any, ...]], now: datetime) -> LiveToken:
    return LiveToken(
        id=row.id,
        scopes=expand_scopes(row.scopes),
        account=Account.from_row(row),
        expires_at=row.expires_at,
        stale=row.last_used_at is None or now - row.last_used_at > TOUCH_INTERVAL,
    )


async def touch_token(db: AsyncSession, token_id: int) -> None:
    await db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))


async def list_tokens(db: AsyncSession, user_id: int) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    return list((await db.scalars(stmt)).all())
