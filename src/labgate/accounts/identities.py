"""From "a provider vouches for this person" to the labgate account they sign in as.

An identity (``identities``: provider and the provider's subject) belongs to one
account; an account may have several (an administrator links them, :func:`link`).
At a sign-in, :func:`account_for` finds the account by the identity, or creates it on
the first sign-in with the name, role and groups the provider's mapping gives. A name
already taken refuses the sign-in with a sentence saying so: an identity never takes over
an account it is not linked to, whatever the names (an LDAP ``alice`` is not labgate's
``alice`` until an administrator says so).

At every sign-in the provider's word is applied again: the display name, the e-mail it
vouches for, the role its mapping gives, and the memberships of the groups its mapping
decides. An account that a re-check had disabled (``disabled_reason = "provider"``) is
enabled again by a sign-in its provider vouches for; one an administrator disabled
stays disabled.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.accounts.guest_codes import GUEST_PREFIX
from labgate.accounts.names import valid_name
from labgate.accounts.users import count_admins, create_user
from labgate.audit import Actor
from labgate.auth.providers import SignInRefused, Vouched
from labgate.credentials.vault import Vault
from labgate.db.models import ExperimentMember, Group, Membership, Role, User, UserIdentity
from labgate.db.types import utcnow
from labgate.errors import Conflict, NotFound
from labgate.settings import Settings
from labgate.transport.os_accounts import find_account

#: ``users.disabled_reason`` of an account its identity provider refused at a re-check.
REFUSED_BY_PROVIDER = "provider"


def secret_purpose(identity_id: int) -> str:
    """The vault purpose an identity's re-check secret is sealed for."""
    return f"identity:{identity_id}"


async def account_for(
    db: AsyncSession, vouched: Vouched, settings: Settings, vault: Vault, *, label: str
) -> tuple[User, UserIdentity | None]:
    """The account ``vouched`` signs in as (created on first sign-in) and its identity
    (None for a provider that names labgate accounts itself, such as ``local``). The
    caller still checks ``user.disabled``. ``label`` is the provider's name on the login
    page, for the sentences people read."""
    if vouched.user_id is not None:
        user = await db.get(User, vouched.user_id)
        if user is None:
            raise SignInRefused("This account no longer exists.")
        return user, None
    identity = await db.scalar(
        select(UserIdentity).where(
            UserIdentity.provider == vouched.provider, UserIdentity.subject == vouched.subject
        )
    )
    if identity is None:
        user = await _new_account(db, vouched, settings, label=label)
        identity = UserIdentity(
            user_id=user.id,
            provider=vouched.provider,
            subject=vouched.subject,
            label=vouched.label[:255],
            created_at=utcnow(),
        )
        db.add(identity)
        await db.flush()
        audit.record(
            db,
            "identity_linked",
            actor=Actor(user.id, user.username),
            target=user.username,
            provider=vouched.provider,
            subject=vouched.subject,
            by="first sign-in",
        )
    else:
        found = await db.get(User, identity.user_id)
        assert found is not None  # the identity goes with its account
        user = found
        await _apply_mapping(db, user, vouched)
    identity.label = (vouched.label or identity.label)[:255]
    identity.last_login_at = utcnow()
    identity.refused_at = None
    if vouched.recheck_secret is not None:
        identity.recheck_secret = vault.seal(vouched.recheck_secret, secret_purpose(identity.id))
    if user.disabled and user.disabled_reason == REFUSED_BY_PROVIDER:
        user.disabled = False
        user.disabled_reason = None
        audit.record(db, "user_enabled", target=user.username, by=f"sign-in at {vouched.provider}")
    await db.flush()
    return user, identity


async def _new_account(
    db: AsyncSession, vouched: Vouched, settings: Settings, *, label: str
) -> User:
    await _check_new_name(db, vouched, label=label)
    name = vouched.username.lower()
    try:
        user = await create_user(
            db,
            settings,
            username=name,
            password=None,
            role=vouched.role or Role.USER,
            display_name=vouched.display_name[:200],
            # Only an address the provider vouches for names them as experiments' members.
            email=vouched.email if vouched.email_verified else None,
            actor=audit.SYSTEM,
        )
    except Conflict as exc:  # created by a sign-in on another replica meanwhile
        raise SignInRefused("Your account is being created: sign in again.") from exc
    user.auth_provider = vouched.provider[:32]
    if vouched.email and not vouched.email_verified:
        user.email = vouched.email
        user.email_verified = False
    await _sync_groups(db, user, vouched)
    return user


async def _check_new_name(db: AsyncSession, vouched: Vouched, *, label: str) -> None:
    """Refuse a first sign-in whose name is not free for this person: taken in labgate, a
    guest's, or (unless the provider is the authority over the facility's names) an OS
    account of this machine, whose files on ``local`` would be theirs, or a name that
    experiments list as a member who has not come yet, whose experiments would be theirs."""
    link = "Ask an administrator to create your account and link your sign-in to it."
    if not vouched.username.isascii() or not valid_name(vouched.username.lower()):
        raise SignInRefused(
            f"{label} names you '{vouched.username}', which cannot be a labgate user name "
            f"(1-32 characters: lower-case letters, digits, '_', '.' or '-'). {link}"
        )
    name = vouched.username.lower()
    if await db.scalar(select(User.id).where(User.username == name)) is not None:
        raise SignInRefused(
            f"A labgate account named '{name}' already exists and is not linked to your "
            f"sign-in with {label}. Ask an administrator to link them."
        )
    if name.startswith(GUEST_PREFIX):
        raise SignInRefused(f"Names beginning with '{GUEST_PREFIX}' are kept for guests. {link}")
    if vouched.name_is_os_account:
        return
    if find_account(name) is not None:
        raise SignInRefused(
            f"The server has an account named '{name}' that {label} does not vouch for. {link}"
        )
    waiting = await db.scalar(
        select(ExperimentMember.id)
        .where(func.lower(ExperimentMember.username) == name, ExperimentMember.user_id.is_(None))
        .limit(1)
    )
    if waiting is not None:
        raise SignInRefused(
            f"An experiment names a member '{name}' whom {label} does not vouch for. {link}"
        )


async def _apply_mapping(db: AsyncSession, user: User, vouched: Vouched) -> None:
    """What the provider says now: name, e-mail, role and the groups it decides."""
    if vouched.display_name and vouched.display_name != user.display_name:
        user.display_name = vouched.display_name[:200]
    if vouched.email and vouched.email_verified:
        if vouched.email != user.email or not user.email_verified:
            user.email = vouched.email
            user.email_verified = True
    elif vouched.email and vouched.email != user.email:
        user.email = vouched.email
        user.email_verified = False
    if vouched.role is not None and vouched.role.value != user.role:
        if user.role == Role.ADMIN.value and await count_admins(db) <= 1:
            # The mapping never leaves labgate without an administrator (a typo in
            # `roles` would otherwise lock everyone out of the console).
            audit.record(
                db,
                "role_mapping_skipped",
                target=user.username,
                role=vouched.role.value,
                reason="last administrator",
                by=f"mapping of {vouched.provider}",
            )
        else:
            audit.record(
                db,
                "user_updated",
                target=user.username,
                role=vouched.role.value,
                by=f"mapping of {vouched.provider}",
            )
            user.role = vouched.role.value
    await _sync_groups(db, user, vouched)


async def _sync_groups(db: AsyncSession, user: User, vouched: Vouched) -> None:
    """Memberships of the groups the mapping decides follow ``vouched.groups``; groups
    it names that do not exist in labgate are created."""
    if not vouched.managed_groups and not vouched.groups:
        return
    decided = vouched.managed_groups | vouched.groups
    rows = (await db.execute(select(Group.id, Group.name).where(Group.name.in_(decided)))).all()
    ids = {row.name: row.id for row in rows}
    for name in sorted(vouched.groups - set(ids)):
        if not valid_name(name):
            continue
        group = Group(name=name, description=f"From sign-in at {vouched.provider}")
        db.add(group)
        await db.flush()
        ids[name] = group.id
        audit.record(db, "group_created", target=name, by=f"mapping of {vouched.provider}")
    current = set(
        (
            await db.scalars(
                select(Membership.group_id).where(
                    Membership.user_id == user.id, Membership.group_id.in_(ids.values())
                )
            )
        ).all()
    )
    wanted = {ids[name] for name in vouched.groups if name in ids}
    for group_id in sorted(wanted - current):
        db.add(Membership(group_id=group_id, user_id=user.id))
    gone = current - wanted
    if gone:
        await db.execute(
            delete(Membership).where(Membership.user_id == user.id, Membership.group_id.in_(gone))
        )
    if wanted != current:
        names = {group_id: name for name, group_id in ids.items()}
        audit.record(
            db,
            "group_memberships_synced",
            target=user.username,
            added=sorted(names[g] for g in wanted - current),
            removed=sorted(names[g] for g in gone),
            by=f"mapping of {vouched.provider}",
        )
    await db.flush()


async def identities_of(db: AsyncSession, user_id: int) -> list[UserIdentity]:
    return list(
        (
            await db.scalars(
                select(UserIdentity)
                .where(UserIdentity.user_id == user_id)
                .order_by(UserIdentity.provider, UserIdentity.id)
            )
        ).all()
    )


async def link(
    db: AsyncSession,
    user: User,
    *,
    provider: str,
    subject: str,
    label: str = "",
    actor: Actor = audit.SYSTEM,
) -> UserIdentity:
    """Let ``subject`` at ``provider`` sign in as ``user`` (an administrator's act).
    An identity linked to another account is refused: unlink it there first."""
    taken = await db.scalar(
        select(UserIdentity).where(
            UserIdentity.provider == provider, UserIdentity.subject == subject
        )
    )
    if taken is not None:
        owner = await db.scalar(select(User.username).where(User.id == taken.user_id))
        if taken.user_id == user.id:
            return taken
        raise Conflict(f"That identity at {provider} signs in as '{owner}': unlink it there first.")
    identity = UserIdentity(
        user_id=user.id, provider=provider, subject=subject, label=label[:255], created_at=utcnow()
    )
    db.add(identity)
    await db.flush()
    audit.record(
        db,
        "identity_linked",
        actor=actor,
        target=user.username,
        provider=provider,
        subject=subject,
        by="administrator",
    )
    return identity


async def unlink(
    db: AsyncSession, user: User, identity_id: int, *, actor: Actor = audit.SYSTEM
) -> None:
    """Take an identity from ``user``: the login sessions begun with it end (the
    database deletes them with it)."""
    identity = await db.scalar(
        select(UserIdentity).where(UserIdentity.id == identity_id, UserIdentity.user_id == user.id)
    )
    if identity is None:
        raise NotFound(f"'{user.username}' has no identity {identity_id}.")
    await db.delete(identity)
    await db.flush()
    audit.record(
        db,
        "identity_unlinked",
        actor=actor,
        target=user.username,
        provider=identity.provider,
        subject=identity.subject,
    )
