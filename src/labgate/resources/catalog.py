"""Which resources exist and who may see, use and change them (the database side).

A resource with an owner is that user's; a shared one (no owner) is managed by
administrators and visible to the members of its groups; ``local``, the server's own
machine, is visible as the ``local_resource`` setting says. Everything that decides
visibility is here, so the API, the connection manager and later the launchers agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.audit import Actor
from labgate.auth.policy import effective_local_resource, may_use_resource
from labgate.auth.principal import Principal
from labgate.db.engine import Database, lock_across_replicas
from labgate.db.models import (
    AuthMethod,
    Favourite,
    FavouriteKind,
    Group,
    HostKey,
    Membership,
    Resource,
    ResourceGroup,
    ResourceHop,
    ResourceKind,
)
from labgate.errors import BadRequest, Conflict, FieldProblem, Forbidden, NotFound
from labgate.settings import Settings
from labgate.transport.os_accounts import find_account, server_account, server_runs_as_root

MAX_HOPS = 8


@dataclass(frozen=True)
class HopFields:
    """A jump host as a request describes it; ``id`` keeps an existing hop (and the keys
    remembered for it)."""

    host: str
    port: int = 22
    username: str = ""
    auth_method: str = AuthMethod.PASSWORD.value
    id: int | None = None


# -- who sees what --------------------------------------------------------------------


def local_resource_rule(settings: Settings) -> str:
    """Who may use ``local`` now: the setting, with ``auto`` decided by whether the
    server runs as root (then each user is an account of their own)."""
    return effective_local_resource(settings.local_resource, server_is_root=server_runs_as_root())


def local_allowed(principal: Principal, settings: Settings) -> bool:
    return may_use_resource(
        principal,
        owner_id=None,
        local=True,
        local_resource=local_resource_rule(settings),
        in_its_groups=False,
    )


async def visible_resources(
    db: AsyncSession, principal: Principal, settings: Settings
) -> list[Resource]:
    """The caller's own resources, the shared ones their groups (or, for administrators,
    their role) give them, and ``local`` when allowed; by name (the query form of
    :func:`labgate.auth.policy.may_use_resource`)."""
    my_groups = select(Membership.group_id).where(Membership.user_id == principal.user_id)
    shared_to_me = select(ResourceGroup.resource_id).where(ResourceGroup.group_id.in_(my_groups))
    shared_ssh = (Resource.owner_id.is_(None)) & (Resource.kind == ResourceKind.SSH.value)
    conditions = [Resource.owner_id == principal.user_id]
    conditions.append(
        shared_ssh if principal.is_admin else shared_ssh & Resource.id.in_(shared_to_me)
    )
    if local_allowed(principal, settings):
        conditions.append(Resource.kind == ResourceKind.LOCAL.value)
    rows = await db.scalars(select(Resource).where(or_(*conditions)).order_by(Resource.name))
    return list(rows.all())


async def can_see(
    db: AsyncSession, principal: Principal, settings: Settings, resource: Resource
) -> bool:
    """Whether ``principal`` may see and use ``resource`` (the policy's rule, with the
    facts read here; group membership is asked only when it matters)."""
    local = resource.kind == ResourceKind.LOCAL.value
    in_its_groups = False
    if not local and resource.owner_id is None and not principal.is_admin:
        in_its_groups = await _in_groups(
            db, principal.user_id, [link.group_id for link in resource.group_links]
        )
    return may_use_resource(
        principal,
        owner_id=resource.owner_id,
        local=local,
        local_resource=local_resource_rule(settings),
        in_its_groups=in_its_groups,
    )


async def _in_groups(db: AsyncSession, user_id: int, group_ids: Sequence[int]) -> bool:
    if not group_ids:
        return False
    member = await db.scalar(
        select(Membership.user_id).where(
            Membership.user_id == user_id, Membership.group_id.in_(group_ids)
        )
    )
    return member is not None


def can_edit(principal: Principal, resource: Resource) -> bool:
    if resource.owner_id is None:
        return principal.is_admin
    return resource.owner_id == principal.user_id


async def get_visible(
    db: AsyncSession, principal: Principal, settings: Settings, resource_id: int
) -> Resource:
    """The resource, if the caller may see it; otherwise "not found" (another user's
    resources are not confirmed to exist)."""
    resource = await db.get(Resource, resource_id)
    if resource is None or not await can_see(db, principal, settings, resource):
        raise NotFound(f"There is no resource {resource_id}.")
    return resource


async def get_editable(
    db: AsyncSession, principal: Principal, settings: Settings, resource_id: int
) -> Resource:
    resource = await get_visible(db, principal, settings, resource_id)
    if not can_edit(principal, resource):
        raise Forbidden("Only administrators may change a shared resource.")
    return resource


@dataclass(frozen=True)
class AccountMapping:
    """The account a labgate user is given on a resource, and whether a person named
    it (``explicit``: a user's own resource, an override, or a rule without
    ``{username}``) rather than the rule deriving it from the user's name."""

    name: str
    explicit: bool
    # The accounts the resource's exceptions give to other users: a rule-derived name
    # that is one of them would share that user's account.
    claimed_by_exceptions: frozenset[str] = frozenset()


def account_mapping(resource: Resource, username: str) -> AccountMapping:
    """The account ``username`` (a labgate user) is mapped to on ``resource``."""
    if resource.owner_id is not None:
        return AccountMapping(resource.username, explicit=True)
    override = resource.account_overrides.get(username)
    if isinstance(override, str) and override:
        return AccountMapping(override, explicit=True)
    rule = resource.account_rule
    claimed = frozenset(
        account
        for user, account in resource.account_overrides.items()
        if user != username and isinstance(account, str)
    )
    return AccountMapping(rule.replace("{username}", username), "{username}" not in rule, claimed)


def remote_username(resource: Resource, username: str) -> str:
    """The account ``username`` (a labgate user) logs in as on ``resource``: on
    ``local`` the server's own unless the server runs as root (see
    :mod:`labgate.resources.local_accounts`)."""
    if resource.kind == ResourceKind.LOCAL.value and not server_runs_as_root():
        return server_account().name
    return account_mapping(resource, username).name


def runs_as_root(resource: Resource, username: str) -> bool:
    """Whether ``username``'s commands on ``resource`` run as root (the UI warns)."""
    name = remote_username(resource, username)
    if resource.kind == ResourceKind.LOCAL.value:
        account = find_account(name)
        return account is not None and account.is_root
    return name == "root"


async def group_names_by_resource(
    db: AsyncSession, resources: Sequence[Resource]
) -> dict[int, list[str]]:
    """The names of the groups each of ``resources`` is shared with, in one query."""
    wanted = {link.group_id for r in resources for link in r.group_links}
    names: dict[int, str] = {}
    if wanted:
        rows = await db.execute(select(Group.id, Group.name).where(Group.id.in_(wanted)))
        names = {group_id: name for group_id, name in rows.all()}
    return {
        r.id: sorted(names[link.group_id] for link in r.group_links if link.group_id in names)
        for r in resources
    }


async def host_keys_by_resource(
    db: AsyncSession, resource_ids: Sequence[int]
) -> dict[int, list[HostKey]]:
    """The trusted host keys of each resource, in one query."""
    found: dict[int, list[HostKey]] = {rid: [] for rid in resource_ids}
    if resource_ids:
        rows = await db.scalars(
            select(HostKey).where(HostKey.resource_id.in_(resource_ids)).order_by(HostKey.id)
        )
        for key in rows:
            found[key.resource_id].append(key)
    return found


async def host_keys_of(db: AsyncSession, resource_id: int) -> list[HostKey]:
    return (await host_keys_by_resource(db, [resource_id]))[resource_id]


# Replicas starting together create one ``local`` resource, not two.
_LOCAL_LOCK = 0x6C616269


async def ensure_local_resource(database: Database) -> None:
    """Create ``local``, the server's own machine, unless it exists (run at every start;
    the ``local_resource`` setting decides who may use it)."""
    async with database.session() as db:
        await lock_across_replicas(db, _LOCAL_LOCK)
        found = await db.scalar(
            select(Resource.id).where(Resource.kind == ResourceKind.LOCAL.value)
        )
        if found is None:
            db.add(
                Resource(
                    name="local",
                    kind=ResourceKind.LOCAL.value,
                    description="The machine the labgate server runs on.",
                    hops=[],
                    group_links=[],
                )
            )


# -- changes ------------------------------------------------------------------------------


def _check_methods(shared: bool, auth_method: str, hops: Sequence[HopFields]) -> None:
    problems = []
    if not shared and auth_method == AuthMethod.CERTIFICATE.value:
        problems.append(FieldProblem("body.auth_method", "Certificates are for shared resources."))
    for index, hop in enumerate(hops):
        if not shared and hop.auth_method == AuthMethod.CERTIFICATE.value:
            problems.append(
                FieldProblem(
                    f"body.hops.{index}.auth_method", "Certificates are for shared resources."
                )
            )
    if problems:
        raise BadRequest(
            "labgate's certificate authority signs only for shared resources, where an "
            "administrator decides the account names.",
            details=problems,
        )


async def _check_name_free(
    db: AsyncSession, name: str, owner_id: int | None, except_id: int | None = None
) -> None:
    query = select(Resource.id).where(Resource.name == name)
    query = query.where(
        Resource.owner_id.is_(None) if owner_id is None else Resource.owner_id == owner_id
    )
    if except_id is not None:
        query = query.where(Resource.id != except_id)
    if await db.scalar(query) is not None:
        whose = "A shared resource" if owner_id is None else "You already have a resource"
        raise Conflict(f"{whose} named '{name}' exists.")


async def _group_ids(db: AsyncSession, names: Sequence[str]) -> list[int]:
    if not names:
        return []
    rows = (await db.execute(select(Group.name, Group.id).where(Group.name.in_(names)))).all()
    found = {name: group_id for name, group_id in rows}
    missing = [name for name in names if name not in found]
    if missing:
        raise BadRequest(
            f"There is no group {', '.join(repr(m) for m in missing)}.",
            details=[FieldProblem("body.groups", "unknown group")],
        )
    return [found[name] for name in dict.fromkeys(names)]


async def _replace_hops(db: AsyncSession, resource: Resource, hops: Sequence[HopFields]) -> None:
    """Make ``hops`` the resource's chain; hops named by id are updated, not replaced."""
    if len(hops) > MAX_HOPS:
        raise BadRequest(f"At most {MAX_HOPS} jump hosts.")
    existing = {hop.id: hop for hop in resource.hops}
    unknown = [hop.id for hop in hops if hop.id is not None and hop.id not in existing]
    if unknown:
        raise BadRequest(
            f"Hop {unknown[0]} is not one of this resource's jump hosts.",
            details=[FieldProblem("body.hops", "unknown hop id")],
        )
    chain: list[ResourceHop] = []
    for offset, fields in enumerate(hops):
        hop = existing.get(fields.id) if fields.id is not None else None
        hop = hop or ResourceHop()
        hop.host, hop.port = fields.host, fields.port
        hop.username, hop.auth_method = fields.username, fields.auth_method
        # (resource, position) is unique: park every hop on a free position first.
        hop.position = 1000 + offset
        chain.append(hop)
    resource.hops = chain
    await db.flush()
    for position, hop in enumerate(chain):
        hop.position = position
    await db.flush()


async def create_resource(
    db: AsyncSession,
    *,
    owner_id: int | None,
    fields: dict[str, Any],
    hops: Sequence[HopFields],
    groups: Sequence[str],
    actor: Actor,
) -> Resource:
    shared = owner_id is None
    _check_methods(shared, str(fields.get("auth_method", AuthMethod.PASSWORD.value)), hops)
    await _check_name_free(db, fields["name"], owner_id)
    resource = Resource(owner_id=owner_id, kind=ResourceKind.SSH.value, hops=[], group_links=[])
    for name, value in fields.items():
        setattr(resource, name, value)
    resource.group_links = [ResourceGroup(group_id=g) for g in await _group_ids(db, groups)]
    db.add(resource)
    await _replace_hops(db, resource, hops)
    audit.record(
        db,
        "resource_created",
        actor=actor,
        target=resource.name,
        resource_id=resource.id,
        shared=shared,
    )
    return resource


async def update_resource(
    db: AsyncSession,
    resource: Resource,
    *,
    fields: dict[str, Any],
    hops: Sequence[HopFields] | None,
    groups: Sequence[str] | None,
    actor: Actor,
) -> Resource:
    if resource.kind == ResourceKind.LOCAL.value:
        allowed = {"description", "python", "setup_lines", "account_rule", "account_overrides"}
        # A field sent as it is (the dialog sends every field it shows, the name too)
        # changes nothing.
        unchanged = {name for name, value in fields.items() if getattr(resource, name) == value}
        refused = sorted(set(fields) - allowed - unchanged) + (["hops"] if hops is not None else [])
        if refused or groups is not None:
            raise BadRequest(
                "Only the description, python, set-up lines and the account rule and "
                "exceptions of 'local' can change.",
                details=[FieldProblem(f"body.{name}", "not changeable") for name in refused],
            )
    shared = resource.owner_id is None
    new_hops = (
        hops
        if hops is not None
        else [HopFields(h.host, h.port, h.username, h.auth_method, h.id) for h in resource.hops]
    )
    _check_methods(shared, str(fields.get("auth_method", resource.auth_method)), new_hops)
    if "name" in fields and fields["name"] != resource.name:
        await _check_name_free(db, fields["name"], resource.owner_id, except_id=resource.id)
    for name, value in fields.items():
        setattr(resource, name, value)
    if hops is not None:
        await _replace_hops(db, resource, hops)
    if groups is not None:
        if not shared:
            raise BadRequest(
                "Only shared resources have groups.",
                details=[FieldProblem("body.groups", "not a shared resource")],
            )
        resource.group_links = [ResourceGroup(group_id=g) for g in await _group_ids(db, groups)]
    await db.flush()
    audit.record(
        db,
        "resource_updated",
        actor=actor,
        target=resource.name,
        resource_id=resource.id,
        fields=sorted(fields) + (["hops"] if hops is not None else []),
    )
    return resource


async def delete_resource(db: AsyncSession, resource: Resource, *, actor: Actor) -> None:
    if resource.kind == ResourceKind.LOCAL.value:
        raise BadRequest(
            "The 'local' resource cannot be deleted; the local_resource setting "
            "decides who may use it."
        )
    await db.delete(resource)
    # Its stars and starred folders go with it (a later resource may get its id); a
    # preset on it stays, to tell its user why it cannot be launched any more.
    await db.execute(
        delete(Favourite).where(
            or_(
                (Favourite.kind == FavouriteKind.RESOURCE.value)
                & (Favourite.target == str(resource.id)),
                (Favourite.kind == FavouriteKind.FOLDER.value)
                & Favourite.target.startswith(f"{resource.id}:"),
            )
        )
    )
    await db.flush()
    audit.record(db, "resource_deleted", actor=actor, target=resource.name, resource_id=resource.id)


# -- host keys --------------------------------------------------------------------------


def chain_servers(resource: Resource) -> list[tuple[str, int]]:
    """(host, port) of every SSH server on the way, the resource itself last."""
    return [(hop.host, hop.port) for hop in resource.hops] + [(resource.host, resource.port)]


async def confirm_host_key(
    db: AsyncSession,
    resource: Resource,
    *,
    host: str,
    port: int,
    public_key: str,
    fingerprint: str,
    actor: Actor,
    user_id: int | None,
) -> HostKey:
    """Trust ``public_key`` for (host, port) of ``resource``'s chain. A key already known
    for that server is never replaced silently: forget it first."""
    if (host, port) not in chain_servers(resource):
        raise BadRequest(
            f"{host}:{port} is not a server of this resource's chain.",
            details=[FieldProblem("body.host", "not in the chain")],
        )
    existing = await db.scalar(
        select(HostKey).where(
            HostKey.resource_id == resource.id, HostKey.host == host, HostKey.port == port
        )
    )
    if existing is not None:
        if existing.public_key.split()[:2] == public_key.split()[:2]:
            return existing
        raise Conflict(
            f"A different host key is already trusted for {host}:{port} "
            f"({existing.fingerprint}). Forget it first if the server was really reinstalled."
        )
    key = HostKey(
        resource_id=resource.id,
        host=host,
        port=port,
        public_key=public_key,
        fingerprint=fingerprint,
        confirmed_by_id=user_id,
    )
    db.add(key)
    await db.flush()
    audit.record(
        db,
        "host_key_confirmed",
        actor=actor,
        target=resource.name,
        resource_id=resource.id,
        server=f"{host}:{port}",
        fingerprint=fingerprint,
    )
    return key


async def forget_host_key(
    db: AsyncSession, resource: Resource, key_id: int, *, actor: Actor
) -> None:
    key = await db.get(HostKey, key_id)
    if key is None or key.resource_id != resource.id:
        raise NotFound(f"There is no host key {key_id} for this resource.")
    await db.delete(key)
    await db.flush()
    audit.record(
        db,
        "host_key_forgotten",
        actor=actor,
        target=resource.name,
        resource_id=resource.id,
        server=f"{key.host}:{key.port}",
        fingerprint=key.fingerprint,
    )
