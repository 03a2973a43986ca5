"""A connection plan: everything needed to reach a resource for one user, read from the
database once, so that connecting (and reconnecting) never holds a database session."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.policy import hosts_restricted
from labgate.auth.principal import Principal
from labgate.db.models import Resource, ResourceKind, Role, User
from labgate.resources.access import check_still_allowed
from labgate.resources.catalog import AccountMapping, account_mapping, can_edit, host_keys_of
from labgate.resources.owners import WorkOwner, work_owner
from labgate.settings import Settings


@dataclass(frozen=True)
class HopPlan:
    """One SSH server of the chain: a jump host, or the resource itself (the last)."""

    index: int
    host: str
    port: int
    username: str
    auth_method: str
    # The resource_hops row; None for the resource itself.
    hop_id: int | None
    known_host_key: str | None

    @property
    def label(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


@dataclass(frozen=True)
class ConnectionPlan:
    user_id: int
    username: str
    resource_id: int
    resource_name: str
    kind: str
    shared: bool
    python: str
    setup_lines: tuple[str, ...]
    hops: tuple[HopPlan, ...]
    # Whether this user may trust a new host key for the resource (who may edit it).
    may_trust_host_keys: bool
    # How this user's processes there are tagged, and told from others'.
    owner: WorkOwner
    # The account the user is mapped to (on ``local``: when the server runs as root).
    account: AccountMapping
    # Whether the hosts are held to resource_hosts_allowed/denied (see auth.policy).
    hosts_restricted: bool = True

    @property
    def key(self) -> tuple[int, int]:
        return (self.user_id, self.resource_id)

    @property
    def is_local(self) -> bool:
        return self.kind == ResourceKind.LOCAL.value


async def plan_for(db: AsyncSession, resource: Resource, principal: Principal) -> ConnectionPlan:
    return await _plan(
        db, resource, principal.user_id, principal.username, can_edit(principal, resource)
    )


async def plan_for_owner(
    db: AsyncSession, resource: Resource, user_id: int, username: str
) -> ConnectionPlan:
    """The plan of a user for work that runs without them at the keyboard (a session's
    app, reached by the proxy and the lifecycle): it never trusts a new host key."""
    return await _plan(db, resource, user_id, username, False)


async def refreshed(
    db: AsyncSession, plan: ConnectionPlan, settings: Settings
) -> ConnectionPlan | None:
    """``plan`` as the database says now (host keys confirmed since, a changed chain), for
    connecting again; None when the resource is gone. Raises
    :class:`~labgate.resources.access.AccessLost` when its user may no longer use it, so
    nothing is signed or sent for them."""
    resource = await db.get(Resource, plan.resource_id)
    if resource is None:
        return None
    await check_still_allowed(db, settings, plan.user_id, resource)
    return await _plan(db, resource, plan.user_id, plan.username, plan.may_trust_host_keys)


async def _plan(
    db: AsyncSession, resource: Resource, user_id: int, username: str, may_trust: bool
) -> ConnectionPlan:
    mapping = account_mapping(resource, username)
    account = mapping.name
    owner_role = None
    if resource.owner_id is not None:
        role = await db.scalar(select(User.role).where(User.id == resource.owner_id))
        owner_role = Role(role) if role is not None else Role.USER
    known = {(k.host, k.port): k.public_key for k in await host_keys_of(db, resource.id)}
    servers: list[tuple[str, int, str, str, int | None]] = [
        (hop.host, hop.port, hop.username or account, hop.auth_method, hop.id)
        for hop in resource.hops
    ]
    servers.append((resource.host, resource.port, account, resource.auth_method, None))
    hops = tuple(
        HopPlan(
            index=index,
            host=host,
            port=port,
            username=username,
            auth_method=method,
            hop_id=hop_id,
            known_host_key=known.get((host, port)),
        )
        for index, (host, port, username, method, hop_id) in enumerate(servers)
    )
    return ConnectionPlan(
        user_id=user_id,
        username=username,
        resource_id=resource.id,
        resource_name=resource.name,
        kind=resource.kind,
        shared=resource.owner_id is None,
        python=resource.python,
        setup_lines=tuple(resource.setup_lines),
        hops=() if resource.kind == ResourceKind.LOCAL.value else hops,
        may_trust_host_keys=may_trust,
        hosts_restricted=hosts_restricted(owner_role),
        owner=await work_owner(db, user_id),
        account=mapping,
    )
