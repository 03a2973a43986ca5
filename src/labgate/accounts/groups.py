"""Groups of users: who sees which shared resources and experiments (later issues)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.accounts.names import check_name
from labgate.audit import Actor
from labgate.db.models import Group, Membership, QuotaScope, User
from labgate.errors import Conflict, NotFound
from labgate.quotas.editing import forget_quotas_of


async def get_group(db: AsyncSession, name: str) -> Group:
    group = await db.scalar(select(Group).where(Group.name == name))
    if group is None:
        raise NotFound(f"There is no group '{name}'.")
    return group


async def list_groups(db: AsyncSession) -> list[Group]:
    return list((await db.scalars(select(Group).order_by(Group.name))).all())


async def create_group(
    db: AsyncSession, *, name: str, description: str = "", actor: Actor = audit.SYSTEM
) -> Group:
    check_name(name, field="body.name", what="group")
    if await db.scalar(select(Group.id).where(Group.name == name)) is not None:
        raise Conflict(f"A group named '{name}' already exists.")
    group = Group(name=name, description=description, memberships=[])
    db.add(group)
    await db.flush()
    audit.record(db, "group_created", actor=actor, target=name)
    return group


async def delete_group(db: AsyncSession, group: Group, *, actor: Actor = audit.SYSTEM) -> None:
    await forget_quotas_of(db, QuotaScope.GROUP, str(group.id))
    await db.delete(group)
    await db.flush()
    audit.record(db, "group_deleted", actor=actor, target=group.name)


async def add_member(
    db: AsyncSession, group: Group, user: User, *, actor: Actor = audit.SYSTEM
) -> Group:
    if any(m.user_id == user.id for m in group.memberships):
        return group  # PUT is idempotent
    membership = Membership(group=group, user=user)
    db.add(membership)
    await db.flush()
    audit.record(db, "group_member_added", actor=actor, target=group.name, user=user.username)
    return group


async def remove_member(
    db: AsyncSession, group: Group, user: User, *, actor: Actor = audit.SYSTEM
) -> Group:
    for membership in group.memberships:
        if membership.user_id == user.id:
            group.memberships.remove(membership)
            await db.flush()
            audit.record(
                db, "group_member_removed", actor=actor, target=group.name, user=user.username
            )
            return group
    raise NotFound(f"'{user.username}' is not a member of '{group.name}'.")
