"""The credentials labgate keeps in the database, sealed with the server secret.

- labgate's SSH CA: the newest row not retired signs; made on first use.
- Each user's generated key pair (one per user; making a new one replaces it).
- Private keys a user asked labgate to remember for one server of a resource (``hop_id``
  None: the resource itself), stored without their passphrase.

Everything comes back as a transport credential, ready to connect with. The functions
work in the caller's transaction (``db``) and do not commit; the ones that write need a
writing transaction (``Database.session()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.audit import Actor
from labgate.credentials import keys
from labgate.credentials.authority import CertificateAuthority
from labgate.credentials.kinds import KeyCredential
from labgate.credentials.vault import SealedDataUnreadable, Vault
from labgate.db.engine import lock_across_replicas
from labgate.db.models import (
    AuthMethod,
    Resource,
    ResourceHop,
    SshCertificateAuthority,
    StoredCredential,
    UserSshKey,
)
from labgate.db.types import utcnow
from labgate.errors import ConfigurationError, NotFound

# Replicas that find no CA at the same moment create one between them, not two.
_CA_LOCK = 0x6C616263


def _user_key_purpose(user_id: int) -> str:
    return f"user-ssh-key:{user_id}"


def _remembered_purpose(user_id: int, resource_id: int, hop_id: int | None) -> str:
    # Bound to its row: a sealed key copied to another user or server does not open.
    return f"remembered-key:{user_id}:{resource_id}:{'target' if hop_id is None else hop_id}"


# -- the certificate authority -------------------------------------------------------------


async def certificate_authority(
    db: AsyncSession, vault: Vault, *, actor: Actor = audit.SYSTEM
) -> CertificateAuthority:
    """The CA that signs now; created (and recorded in the audit log) when there is none,
    which needs a writing transaction."""
    row = await _current_authority_row(db)
    if row is None:
        await lock_across_replicas(db, _CA_LOCK)
        row = await _current_authority_row(db)  # another replica may have been first
    if row is None:
        authority = CertificateAuthority.create()
        db.add(
            SshCertificateAuthority(
                public_key=authority.public_key,
                sealed_private_key=authority.seal(vault),
                created_at=utcnow(),
            )
        )
        audit.record(
            db, "ssh_ca_created", actor=actor, target="ssh-ca", fingerprint=authority.fingerprint
        )
        await db.flush()
        return authority
    try:
        authority = CertificateAuthority.load(row.sealed_private_key, vault)
    except SealedDataUnreadable:
        raise ConfigurationError(
            "labgate's SSH certificate authority key cannot be decrypted: the server secret "
            "is not the one it was stored with. Restore the old secret (`secret_key`, or "
            "<data_dir>/secret.key) on every replica."
        ) from None
    if authority.public_key.split()[:2] != row.public_key.split()[:2]:
        raise ConfigurationError(
            f"The SSH certificate authority in the database (row {row.id}) does not match "
            "its public key: the table was altered."
        )
    return authority


async def _current_authority_row(db: AsyncSession) -> SshCertificateAuthority | None:
    return await db.scalar(
        select(SshCertificateAuthority)
        .where(SshCertificateAuthority.retired_at.is_(None))
        .order_by(SshCertificateAuthority.id.desc())
        .limit(1)
    )


# -- a user's generated key pair -------------------------------------------------------------


@dataclass(frozen=True)
class UserKey:
    """The public half of a user's generated key, to show and copy into authorized_keys."""

    public_key: str
    fingerprint: str
    created_at: datetime


async def user_key(db: AsyncSession, user_id: int) -> UserKey | None:
    row = await db.get(UserSshKey, user_id)
    return None if row is None else _user_key_info(row)


async def create_user_key(
    db: AsyncSession,
    vault: Vault,
    *,
    user_id: int,
    username: str,
    actor: Actor = audit.SYSTEM,
) -> UserKey:
    """Generate a new ed25519 key pair for the user, replacing the old one if any."""
    pair = keys.generate_key_pair(keys.user_key_comment(username))
    sealed = vault.seal(keys.export_private_key(pair), _user_key_purpose(user_id))
    row = await db.get(UserSshKey, user_id)
    if row is None:
        row = UserSshKey(user_id=user_id)
        db.add(row)
    row.public_key = pair.public_key
    row.sealed_private_key = sealed
    row.created_at = utcnow()
    audit.record(
        db, "ssh_key_generated", actor=actor, target=username, fingerprint=pair.fingerprint
    )
    await db.flush()
    return _user_key_info(row)


async def delete_user_key(
    db: AsyncSession, *, user_id: int, username: str, actor: Actor = audit.SYSTEM
) -> bool:
    """Forget the user's generated key pair; False if there was none."""
    row = await db.get(UserSshKey, user_id)
    if row is None:
        return False
    audit.record(
        db,
        "ssh_key_deleted",
        actor=actor,
        target=username,
        fingerprint=keys.public_key_fingerprint(row.public_key),
    )
    await db.delete(row)
    await db.flush()
    return True


async def user_key_credential(db: AsyncSession, vault: Vault, user_id: int) -> KeyCredential | None:
    """The user's generated private key, to log in with; None if they have none."""
    row = await db.get(UserSshKey, user_id)
    if row is None:
        return None
    try:
        private_key = vault.open(row.sealed_private_key, _user_key_purpose(user_id))
    except SealedDataUnreadable:
        raise SealedDataUnreadable(
            "Your labgate SSH key can no longer be decrypted (the server secret changed). "
            "Generate a new one and add it to authorized_keys again."
        ) from None
    return KeyCredential(private_key)


def _user_key_info(row: UserSshKey) -> UserKey:
    return UserKey(
        public_key=row.public_key,
        fingerprint=keys.public_key_fingerprint(row.public_key),
        created_at=row.created_at,
    )


# -- keys remembered for one server of a resource --------------------------------------------


@dataclass(frozen=True)
class RememberedKey:
    """Which key is remembered for a server of a resource (never the key itself)."""

    hop_id: int | None
    fingerprint: str
    created_at: datetime


async def remember_key(
    db: AsyncSession,
    vault: Vault,
    user_id: int,
    resource_id: int,
    hop_id: int | None,
    private_key: bytes | str,
    passphrase: str | None = None,
    *,
    actor: Actor = audit.SYSTEM,
) -> tuple[RememberedKey, KeyCredential]:
    """Store the user's key for the resource (``hop_id`` None) or one of its jump hosts,
    replacing any key remembered there before. The key is opened with ``passphrase``
    first (:class:`keys.KeyImportError` if it cannot be) and stored without it."""
    resource = await _check_server(db, resource_id, hop_id)
    key = keys.import_private_key(private_key, passphrase)
    opened = keys.export_private_key(key)
    await db.execute(delete(StoredCredential).where(*_same_server(user_id, resource_id, hop_id)))
    row = StoredCredential(
        user_id=user_id,
        resource_id=resource_id,
        hop_id=hop_id,
        kind=AuthMethod.KEY.value,
        sealed=vault.seal(opened, _remembered_purpose(user_id, resource_id, hop_id)),
        public_fingerprint=key.fingerprint,
        created_at=utcnow(),
    )
    db.add(row)
    audit.record(
        db,
        "key_remembered",
        actor=actor,
        target=resource.name,
        resource_id=resource_id,
        hop_id=hop_id,
        fingerprint=key.fingerprint,
    )
    await db.flush()
    return RememberedKey(hop_id, key.fingerprint, row.created_at), KeyCredential(opened)


async def forget_key(
    db: AsyncSession,
    user_id: int,
    resource_id: int,
    hop_id: int | None,
    *,
    actor: Actor = audit.SYSTEM,
) -> bool:
    """Forget the key remembered for that server; False if there was none."""
    statement = delete(StoredCredential).where(*_same_server(user_id, resource_id, hop_id))
    result = cast(CursorResult[Any], await db.execute(statement))
    if not result.rowcount:
        return False
    resource = await db.get(Resource, resource_id)
    audit.record(
        db,
        "key_forgotten",
        actor=actor,
        target=resource.name if resource is not None else "",
        resource_id=resource_id,
        hop_id=hop_id,
    )
    return True


async def remembered_key(
    db: AsyncSession, vault: Vault, user_id: int, resource_id: int, hop_id: int | None
) -> KeyCredential | None:
    """The key remembered for that server, to log in with; None if there is none."""
    row = await db.scalar(
        select(StoredCredential)
        .where(*_same_server(user_id, resource_id, hop_id))
        .order_by(StoredCredential.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    try:
        return KeyCredential(
            vault.open(row.sealed, _remembered_purpose(user_id, resource_id, hop_id))
        )
    except SealedDataUnreadable:
        raise SealedDataUnreadable(
            "The key labgate remembered for this server can no longer be decrypted (the "
            "server secret changed). Forget it and give the key again."
        ) from None


async def remembered_keys(
    db: AsyncSession, user_id: int, resource_ids: Sequence[int]
) -> dict[int, list[RememberedKey]]:
    """The user's remembered keys for each resource and its jump hosts, in one query."""
    rows = await db.scalars(
        select(StoredCredential)
        .where(
            StoredCredential.user_id == user_id,
            StoredCredential.resource_id.in_(resource_ids),
        )
        .order_by(StoredCredential.id)
    )
    # The newest per server, should there ever be two.
    latest: dict[int, dict[int | None, StoredCredential]] = {rid: {} for rid in resource_ids}
    for row in rows:
        latest[row.resource_id][row.hop_id] = row
    return {
        rid: [RememberedKey(r.hop_id, r.public_fingerprint, r.created_at) for r in by_hop.values()]
        for rid, by_hop in latest.items()
    }


async def _check_server(db: AsyncSession, resource_id: int, hop_id: int | None) -> Resource:
    resource = await db.get(Resource, resource_id)
    if resource is None:
        raise NotFound(f"There is no resource {resource_id}.")
    if hop_id is not None:
        hop = await db.get(ResourceHop, hop_id)
        if hop is None or hop.resource_id != resource_id:
            raise NotFound(f"Resource {resource_id} has no jump host {hop_id}.")
    return resource


def _same_server(user_id: int, resource_id: int, hop_id: int | None) -> list[ColumnElement[bool]]:
    return [
        StoredCredential.user_id == user_id,
        StoredCredential.resource_id == resource_id,
        StoredCredential.hop_id.is_(None) if hop_id is None else StoredCredential.hop_id == hop_id,
    ]
