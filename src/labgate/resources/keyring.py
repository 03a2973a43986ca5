"""The credentials labgate keeps, as the connection code needs them: remembered keys,
users' generated key pairs, certificates from the SSH CA, and trusted host keys.

Each method opens its own short transaction: connecting can take minutes (a person
typing a one-time code) and must not hold a database connection meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from labgate.audit import Actor
from labgate.credentials import keys, store
from labgate.credentials.kinds import Credential, KeyCredential
from labgate.credentials.vault import Vault
from labgate.db.engine import Database
from labgate.db.models import Resource
from labgate.errors import Conflict
from labgate.resources import catalog
from labgate.resources.login import KeyRejected
from labgate.resources.plan import ConnectionPlan, HopPlan
from labgate.settings import Settings


class Keyring:
    def __init__(self, database: Database, vault: Callable[[], Vault], settings: Settings) -> None:
        self.database = database
        self._vault = vault
        self.settings = settings

    @property
    def vault(self) -> Vault:
        return self._vault()

    async def remembered_key(
        self, user_id: int, resource_id: int, hop_id: int | None
    ) -> Credential | None:
        async with self.database.read() as db:
            return await store.remembered_key(db, self.vault, user_id, resource_id, hop_id)

    def import_key(self, private_key: bytes, passphrase: str | None) -> Credential:
        try:
            key = keys.import_private_key(private_key, passphrase)
        except keys.KeyImportError as exc:
            raise KeyRejected(exc.message) from None
        return KeyCredential(keys.export_private_key(key))

    async def remember_key(
        self, plan: ConnectionPlan, hop_id: int | None, private_key: bytes, passphrase: str | None
    ) -> None:
        async with self.database.session() as db:
            await store.remember_key(
                db,
                self.vault,
                plan.user_id,
                plan.resource_id,
                hop_id,
                private_key,
                passphrase,
                actor=Actor(plan.user_id, plan.username),
            )

    async def generated_key(self, user_id: int) -> Credential | None:
        async with self.database.read() as db:
            return await store.user_key_credential(db, self.vault, user_id)

    async def certificate(self, principal: str, key_id: str) -> Credential:
        async with self.database.session() as db:
            authority = await store.certificate_authority(db, self.vault)
        return authority.session_credential(
            principal, hours=self.settings.ssh_certificate_hours, key_id=key_id
        )

    async def trust_host_key(
        self, plan: ConnectionPlan, hop: HopPlan, public_key: str, fingerprint: str
    ) -> bool:
        async with self.database.session() as db:
            resource = await db.get(Resource, plan.resource_id)
            if resource is None:
                return False
            try:
                await catalog.confirm_host_key(
                    db,
                    resource,
                    host=hop.host,
                    port=hop.port,
                    public_key=public_key,
                    fingerprint=fingerprint,
                    actor=Actor(plan.user_id, plan.username),
                    user_id=plan.user_id,
                )
            except Conflict:
                return False  # someone trusted another key meanwhile: never replace it here
        return True
