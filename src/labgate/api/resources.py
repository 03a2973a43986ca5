"""Resources: the computers a user works on, their jump hosts, host keys and keys, and
their system information. Files there are in :mod:`labgate.api.files`, processes in
:mod:`labgate.api.processes`. The rules for saving and removing one are
:mod:`labgate.resources.editing`'s, its rows :mod:`labgate.resources.catalog`'s."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.agent.typed import RemoteSystem, SystemInfo
from labgate.api.deps import CurrentPrincipal, Db, State, after_commit
from labgate.api.schemas import Body, Id
from labgate.auth.policy import Action, authorize
from labgate.auth.principal import Principal
from labgate.credentials import store
from labgate.db.models import AuthMethod, Resource
from labgate.errors import BadRequest, LabgateError
from labgate.resources import catalog, editing
from labgate.resources.catalog import HopFields
from labgate.resources.plan import plan_for
from labgate.resources.status import Problem, Status
from labgate.state import AppState
from labgate.transport.ssh import fingerprint

router = APIRouter(prefix="/resources", tags=["resources"])

# -- what a request may say ---------------------------------------------------------------

_HOST = re.compile(r"^(?!-)[A-Za-z0-9_.:%-]{1,255}$")
_PYTHON = re.compile(r"^(?!-)[A-Za-z0-9_./+-]{1,255}$")
_REMOTE_USER = re.compile(r"^(?!-)[A-Za-z0-9_.@+-]{1,64}$")


def _host(value: str) -> str:
    if not _HOST.match(value):
        raise ValueError("a host name or IP address (letters, digits, '.', '-', ':')")
    return value


def _remote_user(value: str) -> str:
    if value and not _REMOTE_USER.match(value):
        raise ValueError("an account name: letters, digits, '.', '_', '@', '+', '-'")
    return value


def _account_rule(value: str) -> str:
    if not _REMOTE_USER.match(value.replace("{username}", "u")):
        raise ValueError("an account name in which {username} stands for the labgate user")
    return value


def _python(value: str) -> str:
    if not _PYTHON.match(value):
        raise ValueError("a command name or path such as python3 or /opt/conda/bin/python")
    return value


def _setup_line(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError("one line per entry, without line breaks or NUL")
    return value


ResourceName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w][\w .+-]*$"
    ),
]
Host = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_host)]
Port = Annotated[int, Field(ge=1, le=65535)]
RemoteUser = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_remote_user)]
Python = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_python)]
SetupLine = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_setup_line)]
AccountRule = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_account_rule)
]


class HopIn(Body):
    host: Host
    port: Port = 22
    username: RemoteUser = ""
    auth_method: AuthMethod = AuthMethod.PASSWORD
    id: int | None = None

    def fields(self) -> HopFields:
        return HopFields(self.host, self.port, self.username, self.auth_method.value, self.id)


class ResourceChange(Body):
    """Fields of PATCH; POST requires some of them (see ResourceCreate)."""

    name: ResourceName | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    host: Host | None = None
    port: Port | None = None
    username: RemoteUser | None = None
    auth_method: AuthMethod | None = None
    hops: Annotated[list[HopIn], Field(max_length=catalog.MAX_HOPS)] | None = None
    python: Python | None = None
    setup_lines: Annotated[list[SetupLine], Field(max_length=50)] | None = None
    groups: Annotated[list[str], Field(max_length=200)] | None = None
    account_rule: AccountRule | None = None
    account_overrides: Annotated[dict[str, RemoteUser], Field(max_length=5000)] | None = None

    def column_values(self) -> dict[str, Any]:
        values = self.model_dump(
            exclude_unset=True, exclude={"hops", "groups", "shared"}, mode="json"
        )
        for name, value in values.items():
            if value is None:
                raise BadRequest(f"{name} cannot be null.")
        return values

    def hop_fields(self) -> list[HopFields] | None:
        return None if self.hops is None else [hop.fields() for hop in self.hops]


class ResourceCreate(ResourceChange):
    name: ResourceName
    host: Host
    username: RemoteUser = ""
    shared: bool = False


class HopOut(BaseModel):
    id: int
    host: str
    port: int
    username: str
    auth_method: AuthMethod


class HostKeyOut(BaseModel):
    id: int
    host: str
    port: int
    fingerprint: str
    confirmed_at: datetime


class RememberedKeyOut(BaseModel):
    hop_id: int | None
    fingerprint: str


class ProblemOut(BaseModel):
    code: str
    message: str
    hop: int | None
    hop_label: str | None

    @classmethod
    def of(cls, problem: Problem) -> ProblemOut:
        return cls(
            code=problem.code, message=problem.message, hop=problem.hop, hop_label=problem.hop_label
        )


class StatusOut(BaseModel):
    state: str
    message: str
    error: ProblemOut | None
    since: datetime

    @classmethod
    def of(cls, status: Status) -> StatusOut:
        return cls(
            state=status.state.value,
            message=status.message,
            error=ProblemOut.of(status.error) if status.error else None,
            since=status.since,
        )


class ResourceOut(BaseModel):
    id: int
    name: str
    kind: str
    shared: bool
    owner: str | None
    description: str
    host: str
    port: int
    username: str
    auth_method: AuthMethod
    hops: list[HopOut]
    python: str
    setup_lines: list[str]
    groups: list[str]
    account_rule: str
    account_overrides: dict[str, str]
    remote_username: str
    # Whether the caller's commands there run as root (the UI shows a warning badge).
    runs_as_root: bool
    remembered_keys: list[RememberedKeyOut]
    host_keys: list[HostKeyOut]
    can_edit: bool
    status: StatusOut
    created_at: datetime
    updated_at: datetime


class ResourceList(BaseModel):
    resources: list[ResourceOut]


async def describe_all(
    db: AsyncSession, state: AppState, principal: Principal, resources: Sequence[Resource]
) -> list[ResourceOut]:
    """The API's view of ``resources`` for the caller; three queries whatever their number."""
    ids = [r.id for r in resources]
    groups = await catalog.group_names_by_resource(db, resources)
    host_keys = await catalog.host_keys_by_resource(db, ids)
    remembered = await store.remembered_keys(db, principal.user_id, ids)
    described = []
    for resource in resources:
        editable = catalog.can_edit(principal, resource)
        described.append(
            ResourceOut(
                id=resource.id,
                name=resource.name,
                kind=resource.kind,
                shared=resource.shared,
                # Only the owner sees an own resource (catalog.can_see).
                owner=None if resource.shared else principal.username,
                description=resource.description,
                host=resource.host,
                port=resource.port,
                username=resource.username,
                auth_method=AuthMethod(resource.auth_method),
                hops=[
                    HopOut(
                        id=hop.id,
                        host=hop.host,
                        port=hop.port,
                        username=hop.username,
                        auth_method=AuthMethod(hop.auth_method),
                    )
                    for hop in resource.hops
                ],
                python=resource.python,
                setup_lines=list(resource.setup_lines),
                groups=groups[resource.id],
                account_rule=resource.account_rule,
                # Other users' account names are for those who manage the resource.
                account_overrides=dict(resource.account_overrides) if editable else {},
                remote_username=catalog.remote_username(resource, principal.username),
                runs_as_root=catalog.runs_as_root(resource, principal.username),
                remembered_keys=[
                    RememberedKeyOut(hop_id=key.hop_id, fingerprint=key.fingerprint)
                    for key in remembered[resource.id]
                ],
                host_keys=[
                    HostKeyOut(
                        id=key.id,
                        host=key.host,
                        port=key.port,
                        fingerprint=key.fingerprint,
                        confirmed_at=key.confirmed_at,
                    )
                    for key in host_keys[resource.id]
                ],
                can_edit=editable,
                status=StatusOut.of(state.connections.status(principal.user_id, resource.id)),
                created_at=resource.created_at,
                updated_at=resource.updated_at,
            )
        )
    return described


async def describe(
    db: AsyncSession, state: AppState, principal: Principal, resource: Resource
) -> ResourceOut:
    return (await describe_all(db, state, principal, [resource]))[0]


# -- the resources themselves ----------------------------------------------------------


@router.get("", summary="The resources the caller may use")
async def list_resources(principal: CurrentPrincipal, state: State, db: Db) -> ResourceList:
    authorize(principal, Action.LIST_RESOURCES)
    resources = await catalog.visible_resources(db, principal, state.settings)
    return ResourceList(resources=await describe_all(db, state, principal, resources))


@router.post("", status_code=201, summary="Add a resource")
async def create_resource(
    body: ResourceCreate, principal: CurrentPrincipal, state: State, db: Db
) -> ResourceOut:
    authorize(principal, Action.MANAGE_SHARED_RESOURCES if body.shared else Action.MANAGE_RESOURCES)
    if not body.shared:
        editing.check_own(body.model_fields_set, body.username)
    await editing.check_hosts(
        state.settings, principal.role, body.host, body.port, body.hop_fields()
    )
    resource = await catalog.create_resource(
        db,
        owner_id=None if body.shared else principal.user_id,
        fields=body.column_values(),
        hops=body.hop_fields() or [],
        groups=body.groups or [],
        actor=principal.actor,
    )
    return await describe(db, state, principal, resource)


@router.get("/{resource_id}", summary="One resource")
async def get_resource(
    resource_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> ResourceOut:
    authorize(principal, Action.LIST_RESOURCES)
    resource = await catalog.get_visible(db, principal, state.settings, resource_id)
    return await describe(db, state, principal, resource)


@router.patch("/{resource_id}", summary="Change a resource")
async def update_resource(
    request: Request,
    resource_id: Id,
    body: ResourceChange,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> ResourceOut:
    authorize(principal, Action.MANAGE_RESOURCES)
    await editing.check_hosts(
        state.settings, principal.role, body.host, body.port, body.hop_fields()
    )
    resource = await catalog.get_editable(db, principal, state.settings, resource_id)
    resource = await catalog.update_resource(
        db,
        resource,
        fields=body.column_values(),
        hops=body.hop_fields(),
        groups=body.groups,
        actor=principal.actor,
    )
    # Connections follow the old settings: close them, the next use connects anew.
    await state.connections.disconnect_resource(resource.id)
    # Users its groups no longer include: their sessions there stop.
    after_commit(request, lambda: state.revocation.soon(resource_id=resource_id))
    return await describe(db, state, principal, resource)


@router.delete("/{resource_id}", status_code=204, summary="Remove a resource")
async def delete_resource(
    resource_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> Response:
    """Refused (409) while sessions run there: they are stopped first (deleting the row
    would leave their apps running with nobody to stop them)."""
    authorize(principal, Action.MANAGE_RESOURCES)
    resource = await catalog.get_editable(db, principal, state.settings, resource_id)
    await editing.remove(db, resource, actor=principal.actor, sessions=state.lifecycle)
    await state.connections.disconnect_resource(resource_id)
    return Response(status_code=204)


# -- host keys -------------------------------------------------------------------------


class HostKeyIn(Body):
    host: Host
    port: Port = 22
    public_key: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16384)]


@router.post("/{resource_id}/host-keys", status_code=201, summary="Trust a server's host key")
async def confirm_host_key(
    resource_id: Id, body: HostKeyIn, principal: CurrentPrincipal, state: State, db: Db
) -> HostKeyOut:
    authorize(principal, Action.MANAGE_RESOURCES)
    resource = await catalog.get_editable(db, principal, state.settings, resource_id)
    try:
        shown = fingerprint(body.public_key)
    except (ValueError, LabgateError, Exception) as exc:
        raise BadRequest(f"That is not an SSH public key: {exc}") from None
    key = await catalog.confirm_host_key(
        db,
        resource,
        host=body.host,
        port=body.port,
        public_key=body.public_key,
        fingerprint=shown,
        actor=principal.actor,
        user_id=principal.user_id,
    )
    return HostKeyOut(
        id=key.id,
        host=key.host,
        port=key.port,
        fingerprint=key.fingerprint,
        confirmed_at=key.confirmed_at,
    )


@router.delete(
    "/{resource_id}/host-keys/{key_id}", status_code=204, summary="Forget a trusted host key"
)
async def forget_host_key(
    resource_id: Id, key_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> Response:
    authorize(principal, Action.MANAGE_RESOURCES)
    resource = await catalog.get_editable(db, principal, state.settings, resource_id)
    await catalog.forget_host_key(db, resource, key_id, actor=principal.actor)
    await state.connections.disconnect_resource(resource_id)
    return Response(status_code=204)


# -- the connection and what runs there ---------------------------------------------------


@router.post("/{resource_id}/disconnect", status_code=204, summary="Close the connection")
async def disconnect(
    resource_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> Response:
    authorize(principal, Action.USE_RESOURCE)
    await catalog.get_visible(db, principal, state.settings, resource_id)
    await state.connections.disconnect(principal.user_id, resource_id)
    return Response(status_code=204)


@router.get("/{resource_id}/system", summary="CPU, load, memory, disk and GPUs")
async def system_info(
    resource_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> SystemInfo:
    authorize(principal, Action.READ_RESOURCE)
    resource = await catalog.get_visible(db, principal, state.settings, resource_id)
    plan = await plan_for(db, resource, principal)
    return await RemoteSystem(await state.connections.agent(plan)).info()
