"""SSH keys: the caller's labgate-generated key pair, keys remembered for servers of a
resource, and the public key of labgate's SSH certificate authority."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, StringConstraints

from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.api.schemas import Body, Id
from labgate.auth.policy import Action, authorize
from labgate.credentials import store
from labgate.credentials.authority import SSHD_CONFIG_HINT
from labgate.db.models import ResourceKind
from labgate.errors import BadRequest, NotFound
from labgate.resources import catalog

router = APIRouter(tags=["ssh keys"])


class UserKeyOut(BaseModel):
    public_key: str
    fingerprint: str
    created_at: datetime

    @classmethod
    def of(cls, key: store.UserKey) -> UserKeyOut:
        return cls(
            public_key=key.public_key, fingerprint=key.fingerprint, created_at=key.created_at
        )


@router.get("/users/me/ssh-key", summary="Your labgate SSH public key")
async def get_user_key(principal: CurrentPrincipal, db: Db) -> UserKeyOut:
    authorize(principal, Action.READ_OWN_ACCOUNT)
    key = await store.user_key(db, principal.user_id)
    if key is None:
        raise NotFound("You have no labgate SSH key yet.")
    return UserKeyOut.of(key)


@router.post("/users/me/ssh-key", status_code=201, summary="Generate a new SSH key pair")
async def create_user_key(principal: CurrentPrincipal, state: State, db: Db) -> UserKeyOut:
    """A new ed25519 key pair; the private half never leaves the server, sealed with the
    server secret. An earlier key stops working where it was authorised."""
    authorize(principal, Action.MANAGE_OWN_KEYS)
    key = await store.create_user_key(
        db,
        state.vault,
        user_id=principal.user_id,
        username=principal.username,
        actor=principal.actor,
    )
    return UserKeyOut.of(key)


@router.delete("/users/me/ssh-key", status_code=204, summary="Delete your SSH key pair")
async def delete_user_key(principal: CurrentPrincipal, db: Db) -> Response:
    authorize(principal, Action.MANAGE_OWN_KEYS)
    deleted = await store.delete_user_key(
        db, user_id=principal.user_id, username=principal.username, actor=principal.actor
    )
    if not deleted:
        raise NotFound("You have no labgate SSH key.")
    return Response(status_code=204)


class CertificateAuthorityOut(BaseModel):
    public_key: str
    fingerprint: str
    sshd_config: str
    certificate_hours: int


@router.get("/ssh-ca", summary="The public key of labgate's SSH certificate authority")
async def get_certificate_authority(
    principal: CurrentPrincipal, state: State, db: Db
) -> CertificateAuthorityOut:
    authorize(principal, Action.READ_OWN_ACCOUNT)
    # A GET that may create the CA on first use: in a transaction of its own that writes.
    async with state.database.session() as writer:
        authority = await store.certificate_authority(writer, state.vault, actor=principal.actor)
    return CertificateAuthorityOut(
        public_key=authority.public_key,
        fingerprint=authority.fingerprint,
        sshd_config=SSHD_CONFIG_HINT,
        certificate_hours=state.settings.ssh_certificate_hours,
    )


class RememberKeyIn(Body):
    private_key: Annotated[str, StringConstraints(min_length=1, max_length=65536)]
    passphrase: Annotated[str, StringConstraints(max_length=1024)] | None = None


class RememberedKeyOut(BaseModel):
    hop_id: int | None
    fingerprint: str
    created_at: datetime


async def _server(
    db: Db, principal: CurrentPrincipal, state: State, resource_id: Id, hop: str
) -> int | None:
    """The hop id that ``hop`` (``target`` or a hop id) names on a visible resource."""
    resource = await catalog.get_visible(db, principal, state.settings, resource_id)
    if resource.kind == ResourceKind.LOCAL.value:
        raise BadRequest("The local resource needs no keys.")
    if hop == "target":
        return None
    for candidate in resource.hops:
        if str(candidate.id) == hop:
            return candidate.id
    raise NotFound(f"This resource has no jump host {hop!r}; use 'target' or a hop id.")


@router.put(
    "/resources/{resource_id}/remembered-keys/{hop}",
    summary="Remember a private key for a server of a resource",
)
async def remember_key(
    resource_id: Id,
    hop: str,
    body: RememberKeyIn,
    principal: CurrentPrincipal,
    state: State,
    db: Db,
) -> RememberedKeyOut:
    """Stored without its passphrase, sealed with the server secret; the key is checked
    (and its passphrase tried) first."""
    authorize(principal, Action.USE_RESOURCE)
    hop_id = await _server(db, principal, state, resource_id, hop)
    remembered, _credential = await store.remember_key(
        db,
        state.vault,
        principal.user_id,
        resource_id,
        hop_id,
        body.private_key,
        body.passphrase or None,
        actor=principal.actor,
    )
    return RememberedKeyOut(
        hop_id=remembered.hop_id,
        fingerprint=remembered.fingerprint,
        created_at=remembered.created_at,
    )


@router.delete(
    "/resources/{resource_id}/remembered-keys/{hop}",
    status_code=204,
    summary="Forget a remembered key",
)
async def forget_key(
    resource_id: Id, hop: str, principal: CurrentPrincipal, state: State, db: Db
) -> Response:
    authorize(principal, Action.USE_RESOURCE)
    hop_id = await _server(db, principal, state, resource_id, hop)
    if not await store.forget_key(
        db, principal.user_id, resource_id, hop_id, actor=principal.actor
    ):
        raise NotFound("No key is remembered for that server.")
    return Response(status_code=204)
