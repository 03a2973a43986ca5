"""Whether a user may still use a resource.

A request that names a resource is checked when it is made (``catalog.get_visible``);
what it starts lives on: a session's app reached through the proxy, extensions asked
for later, connections that labgate re-makes when they drop. Each of those asks again
here, with the user as the database says now, so that a removal from a group, a
demotion or a changed ``local_resource`` setting ends access instead of only hiding the
resource. The rule itself is the policy's (:func:`labgate.auth.policy.may_use_resource`,
through :func:`labgate.resources.catalog.can_see`).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.principal import Principal
from labgate.db.models import Resource, Role, User
from labgate.errors import LabgateError
from labgate.resources.catalog import can_see
from labgate.settings import Settings


class AccessLost(LabgateError):
    """The user was allowed to use the resource once, and is not any more."""

    code = "access_lost"
    status = 403


def lost_message(resource_name: str) -> str:
    """What the user reads where their access ended (the proxy, an extension, a
    reconnect)."""
    return (
        f"You no longer have access to {resource_name}. Ask an administrator if you need it again."
    )


def stop_reason(resource_name: str) -> str:
    """Why their sessions there were stopped (the session's message)."""
    return f"you no longer have access to {resource_name}"


async def as_stored(db: AsyncSession, user_id: int) -> Principal | None:
    """The user as the database says now (their current role), for decisions about
    their work made without them at the keyboard; None when the user is gone."""
    user = await db.get(User, user_id)
    if user is None:
        return None
    return Principal(user_id=user.id, username=user.username, role=Role(user.role), via="owner")


async def may_still_use(
    db: AsyncSession, settings: Settings, user_id: int, resource: Resource
) -> bool:
    """Whether the user may still use ``resource`` (the same rule as listing it)."""
    owner = await as_stored(db, user_id)
    return owner is not None and await can_see(db, owner, settings, resource)


async def check_still_allowed(
    db: AsyncSession, settings: Settings, user_id: int, resource: Resource
) -> None:
    """Raise :class:`AccessLost` unless the user may still use ``resource``."""
    if not await may_still_use(db, settings, user_id, resource):
        raise AccessLost(lost_message(resource.name))
