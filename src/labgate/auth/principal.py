"""Who is making a request, and how they proved it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Row

from labgate.db.models import Role, User


class Scope(StrEnum):
    """What an API token may do. Browser sessions hold every scope their role allows."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@dataclass(frozen=True)
class Account:
    """What authentication needs to know about a user, read in the same query as the
    session or token (no ORM objects: this runs on every request)."""

    id: int
    username: str
    role: Role
    disabled: bool
    must_change_password: bool

    @classmethod
    def from_row(cls, row: Row[*tuple[Any, ...]]) -> Account:
        return cls(
            id=row.user_id,
            username=row.username,
            role=Role(row.role),
            disabled=row.disabled,
            must_change_password=row.must_change_password,
        )


# The columns Account.from_row reads, to add to a select that joins users.
ACCOUNT_COLUMNS = (
    User.id.label("user_id"),
    User.username,
    User.role,
    User.disabled,
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

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
