"""Who is making a request, and how they proved it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from labgate.db.models import Role


class Scope(StrEnum):
    """What an API token may do. Browser sessions hold every scope their role allows."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


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
