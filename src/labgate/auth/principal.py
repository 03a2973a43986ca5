"""Who is making a request, and how they proved it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row

from labgate.audit import Actor
from labgate.db.models import Role, User


class Scope(StrEnum):
    """What an API token may do. Browser sessions hold every scope their role allows."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


def role_scopes(role: Role) -> frozenset[Scope]:
    """Everything a role may do; a token never holds more than its owner's role allows."""
    return frozenset(Scope) if role is Role.ADMIN else frozenset({Scope.READ, Scope.WRITE})


@dataclass(frozen=True)
class Account:
    """What authentication needs to know about a user, read in the same query as the
    session or token (no ORM objects: this runs on every request)."""

    id: int
    username: str
    role: Role
    must_change_password: bool

    @classmethod
    def from_row(cls, row: Row[*tuple[Any, ...]]) -> Account:
        return cls(
            id=row.user_id,
            username=row.username,
            role=Role(row.role),
            must_change_password=row.must_change_password,
        )


# Sessions' and tokens' "last used" times are refreshed at most this often, so that
# reads do not all turn into writes.
TOUCH_INTERVAL = timedelta(seconds=60)

# The columns Account.from_row reads, to add to a select that joins users.
ACCOUNT_COLUMNS = (
    User.id.label("user_id"),
    User.username,
    User.role,
    User.must_change_password,
)


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    via: str  # "session" or "token"
    scopes: frozenset[Scope] = field(default_factory=lambda: frozenset(Scope))
    session_id: int | None = None
    token_id: int | None = None
    must_change_password: bool = False
    #: When the token used expires (None: a browser session, or a token that never does).
    token_expires_at: datetime | None = None

    @classmethod
    def of(
        cls,
        account: Account,
        via: str,
        scopes: frozenset[Scope],
        *,
        session_id: int | None = None,
        token_id: int | None = None,
        token_expires_at: datetime | None = None,
    ) -> Principal:
        """The caller behind a live login session or token: never more scopes than the
        account's role allows."""
        return cls(
            user_id=account.id,
            username=account.username,
            role=account.role,
            via=via,
            scopes=scopes & role_scopes(account.role),
            session_id=session_id,
            token_id=token_id,
            token_expires_at=token_expires_at,
            must_change_password=account.must_change_password,
        )

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def actor(self) -> Actor:
        """How this caller appears in the audit log."""
        return Actor(self.user_id, self.username)
