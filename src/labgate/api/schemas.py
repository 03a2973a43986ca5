"""Request and response bodies shared by several routers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.accounts.users import group_names
from labgate.db.models import ApiToken, Group, Role, User


class Body(BaseModel):
    """Base of request bodies: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# A row's id in a path or a body: the database's 64-bit integers, so that an id no row
# can have is a validation error (422), not a database error (500).
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
DisplayName = Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)]


#: A title on one line (a session's, a preset's): it names tabs, notifications and e-mail
#: subjects, where a line break does not belong.
#: No line break nor other control character.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
OneLineTitle = Annotated[
    str, StringConstraints(max_length=200, strip_whitespace=True, pattern=ONE_LINE)
]
#: A label for people to read (an identity's), on one line.
OneLineLabel = Annotated[
    str, StringConstraints(max_length=255, strip_whitespace=True, pattern=ONE_LINE)
]
Email = Annotated[EmailStr, StringConstraints(max_length=320)]


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    disabled: bool
    must_change_password: bool
    groups: list[str]
    created_at: datetime
    last_login_at: datetime | None
    #: The sign-in provider that made the account (``local``: an administrator or the
    #: command line did, or a guest invitation).
    auth_provider: str
    #: A guest's account ends then (None: it does not end).
    expires_at: datetime | None
    #: Why ``disabled``: ``admin`` (an administrator, or None from before reasons were
    #: kept), ``provider`` (its sign-in provider refused it at a re-check: a sign-in that
    #: a provider vouches for enables it again).
    disabled_reason: str | None

    @classmethod
    def of(cls, user: User, groups: list[str]) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            role=Role(user.role),
            disabled=user.disabled,
            must_change_password=user.must_change_password,
            groups=groups,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
            auth_provider=user.auth_provider,
            expires_at=user.expires_at,
            disabled_reason=user.disabled_reason if user.disabled else None,
        )


async def describe_user(db: AsyncSession, user: User) -> UserOut:
    """The API's view of ``user``, with its groups."""
    return UserOut.of(user, (await group_names(db, [user.id]))[user.id])


class GroupOut(BaseModel):
    id: int
    name: str
    description: str
    members: list[str]

    @classmethod
    def of(cls, group: Group) -> GroupOut:
        return cls(
            id=group.id,
            name=group.name,
            description=group.description,
            members=sorted(m.user.username for m in group.memberships),
        )


class TokenOut(BaseModel):
    id: int
    name: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            scopes=token.scopes,
            prefix=token.prefix,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked=token.revoked_at is not None,
        )


NonEmptyName = Annotated[str, Field(min_length=1, max_length=100)]
