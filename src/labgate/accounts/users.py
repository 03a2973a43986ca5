"""Creating, changing and removing user accounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.accounts.names import check_name
from labgate.audit import Actor
from labgate.auth.passwords import hash_password
from labgate.auth.sessions import revoke_user_sessions
from labgate.db.models import Group, Membership, Resource, Role, User
from labgate.db.types import utcnow
from labgate.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from labgate.experiments.membership import match_user
from labgate.settings import Settings


def check_password(password: str, settings: Settings, *, field: str = "password") -> None:
    problem = None
    if len(password) < settings.min_password_length:
        problem = f"Passwords need at least {settings.min_password_length} characters."
    elif len(password) > 1024:
        problem = "Passwords are at most 1024 characters."
    if problem:
        raise ValidationFailed(problem, details=[FieldProblem(field, problem)])


async def get_user(db: AsyncSession, username: str) -> User:
    user = await db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"There is no user '{username}'.")
    return user


async def group_names(db: AsyncSession, user_ids: list[int]) -> dict[int, list[str]]:
    """The names of each user's groups, sorted, in one query."""
    rows = await db.execute(
        select(Membership.user_id, Group.name)
        .join(Group, Group.id == Membership.group_id)
        .where(Membership.user_id.in_(user_ids))
        .order_by(Group.name)
    )
    names: dict[int, list[str]] = {user_id: [] for user_id in user_ids}
    for user_id, name in rows:
        names[user_id].append(name)
    return names


async def list_users(db: AsyncSession) -> list[User]:
    return list((await db.scalars(select(User).order_by(User.username))).all())


async def count_admins(db: AsyncSession, *, enabled_only: bool = True) -> int:
    stmt = select(func.count()).select_from(User).where(User.role == Role.ADMIN.value)
    if enabled_only:
        stmt = stmt.where(User.disabled.is_(False))
    return int(await db.scalar(stmt) or 0)


async def create_user(
    db: AsyncSession,
    settings: Settings,
    *,
    username: str,
    password: str | None,
    role: Role = Role.USER,
    display_name: str = "",
    email: str | None = None,
    must_change_password: bool = False,
    actor: Actor = audit.SYSTEM,
    password_hash: str | None = None,
) -> User:
    """A new account. ``password_hash``: the ``password``, checked and hashed already by
    a caller that hashes before opening its transaction (hashing is slow)."""
    check_name(username, field="body.username", what="user")
    if password is not None:
        check_password(password, settings, field="body.password")
        if password_hash is None:
            password_hash = await hash_password(password)
    if await db.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"A user named '{username}' already exists.")
    now = utcnow()
    user = User(
        username=username,
        display_name=display_name,
        email=email,
        # Accounts are made by administrators (and the command line): theirs to vouch for.
        email_verified=bool(email),
        role=role.value,
        password_hash=password_hash if password is not None else None,
        password_changed_at=now if password is not None else None,
        disabled=False,
        must_change_password=must_change_password and password is not None,
        created_at=now,
        updated_at=now,
        memberships=[],
    )
    db.add(user)
    await db.flush()
    audit.record(db, "user_created", actor=actor, target=username, role=role.value)
    await match_user(db, user)  # experiments that named them before they existed
    return user


async def _keep_an_admin(db: AsyncSession, user: User, *, leaving: str) -> None:
    if user.role == Role.ADMIN.value and not user.disabled and await count_admins(db) <= 1:
        raise Conflict(
            f"'{user.username}' is the last active administrator and cannot be {leaving}."
        )


#: ``users.disabled_reason`` of an account an administrator disabled.
ADMIN_DISABLED = "admin"


async def update_user(
    db: AsyncSession,
    settings: Settings,
    user: User,
    *,
    actor: Actor = audit.SYSTEM,
    role: Role | None = None,
    disabled: bool | None = None,
    display_name: str | None = None,
    email: str | None = None,
    clear_email: bool = False,
    by_user: bool = False,
) -> User:
    """``by_user``: the user changes their own account, so an address they give is not
    vouched for (it does not name them as an experiment's member)."""
    changes: dict[str, object] = {}
    if role is not None and role.value != user.role:
        if role is not Role.ADMIN:
            await _keep_an_admin(db, user, leaving="demoted")
        changes["role"] = role.value
        user.role = role.value
    if disabled is not None and disabled != user.disabled:
        if disabled:
            await _keep_an_admin(db, user, leaving="disabled")
            await revoke_user_sessions(db, user.id)
        changes["disabled"] = disabled
        user.disabled = disabled
        # An administrator's word, either way: a disabling only they lift, or an
        # enabling that overrides a provider's refusal until the next re-check.
        user.disabled_reason = ADMIN_DISABLED if disabled else None
    elif disabled and user.disabled_reason != ADMIN_DISABLED:
        # Disabled by the provider already; now by an administrator too.
        changes["disabled"] = True
        user.disabled_reason = ADMIN_DISABLED
    if display_name is not None and display_name != user.display_name:
        changes["display_name"] = display_name
        user.display_name = display_name
    if clear_email or (email is not None and email != user.email):
        changes["email"] = None if clear_email else email
        user.email = None if clear_email else email
        user.email_verified = user.email is not None and not by_user
        if user.email_verified:
            await match_user(db, user)
    if changes:
        user.updated_at = utcnow()
        audit.record(db, "user_updated", actor=actor, target=user.username, changes=changes)
    return user


async def set_password(
    db: AsyncSession,
    settings: Settings,
    user: User,
    password: str,
    *,
    actor: Actor = audit.SYSTEM,
    keep_session_id: int | None = None,
    field: str = "password",
    one_time: bool = False,
    password_hash: str | None = None,
) -> None:
    """Change the password and end every other login session of the user. A ``one_time``
    password must be replaced by the user at their next login. ``password_hash``: the
    password hashed already (see :func:`create_user`)."""
    check_password(password, settings, field=field)
    await store_password_hash(
        db,
        user,
        password_hash or await hash_password(password),
        actor=actor,
        keep_session_id=keep_session_id,
        one_time=one_time,
    )


async def store_password_hash(
    db: AsyncSession,
    user: User,
    password_hash: str,
    *,
    actor: Actor = audit.SYSTEM,
    keep_session_id: int | None = None,
    one_time: bool = False,
) -> None:
    """:func:`set_password` with the password already checked and hashed, for callers
    that hash before opening their transaction (hashing is slow; nobody should wait)."""
    user.password_hash = password_hash
    user.password_changed_at = user.updated_at = utcnow()
    user.must_change_password = one_time
    await revoke_user_sessions(db, user.id, keep_session_id=keep_session_id)
    audit.record(db, "password_changed", actor=actor, target=user.username)


async def begin_deletion(db: AsyncSession, user: User, *, actor: Actor = audit.SYSTEM) -> None:
    """The first step of deleting ``user`` (labgate.accounts.removal): refused for the
    last administrator; the account is disabled and logged out, so that nothing new
    starts while its work is ended."""
    await _keep_an_admin(db, user, leaving="deleted")
    if not user.disabled:
        user.disabled = True
        user.updated_at = utcnow()
        await revoke_user_sessions(db, user.id)
        audit.record(
            db, "user_updated", actor=actor, target=user.username, changes={"disabled": True}
        )


async def delete_user(
    db: AsyncSession, user: User, *, actor: Actor = audit.SYSTEM, **outcome: Any
) -> None:
    """Delete the account's row and everything in the database that is its. Its work on
    resources is labgate.accounts.removal's to end first; ``outcome`` (what that did) goes
    into the audit event."""
    await _keep_an_admin(db, user, leaving="deleted")
    forgotten = await _forget_exceptions_of(db, user.username)
    await db.delete(user)
    await db.flush()
    if forgotten:
        outcome = {**outcome, "exceptions_removed": forgotten}
    audit.record(db, "user_deleted", actor=actor, target=user.username, **outcome)


async def _forget_exceptions_of(db: AsyncSession, username: str) -> list[str]:
    """Remove ``username`` from every shared resource's account exceptions (by name,
    as they are kept), so that a later user given the same name does not inherit the
    account, which may be root's; the names of the resources changed."""
    changed = []
    shared = await db.scalars(select(Resource).where(Resource.owner_id.is_(None)))
    for resource in shared:
        if username in resource.account_overrides:
            resource.account_overrides = {
                user: account
                for user, account in resource.account_overrides.items()
                if user != username
            }
            changed.append(resource.name)
    return sorted(changed)
