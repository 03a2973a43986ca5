"""Logging in to each server of a chain: where each credential comes from.

Credentials are looked for only when a hop is about to be connected, so the browser is
asked for the second hop's password only once the first hop is up. Whatever a person
types (passwords, uploaded keys) stays in memory, in the connection's cache, for
reconnecting; keyboard-interactive answers (one-time codes) are never reused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from labgate.credentials.kinds import Credential, KeyboardInteractiveCredential, PasswordCredential
from labgate.db.models import AuthMethod
from labgate.errors import LabgateError
from labgate.resources.plan import ConnectionPlan, HopPlan
from labgate.transport.ssh import (
    Hop,
)

# Hop index -> what was typed in for it.
CredentialCache = dict[int, Credential]

# How often a wrong passphrase may be retried before the attempt ends.
KEY_ATTEMPTS = 3


class LoginRequired(LabgateError):
    """The connection needs something typed in, and nobody is there to ask."""

    code = "login_required"
    status = 409


class KeyRejected(LabgateError):
    """An uploaded private key could not be used (not a key, wrong passphrase)."""

    code = "key_rejected"
    status = 400


@dataclass(frozen=True, repr=False)
class UploadedKey:
    private_key: bytes
    passphrase: str | None
    remember: bool


class Asker(Protocol):
    """Whoever can answer questions while connecting: the browser, through the connect
    WebSocket; :class:`NoAsker` when nobody is there."""

    async def progress(self, message: str) -> None: ...

    async def password(self, hop: HopPlan) -> str: ...

    async def keyboard_interactive(
        self, hop: HopPlan, name: str, instructions: str, prompts: list[tuple[str, bool]]
    ) -> list[str]: ...

    async def private_key(self, hop: HopPlan, error: str | None) -> UploadedKey: ...

    async def confirm_host_key(
        self, hop: HopPlan, fingerprint: str, public_key: str, can_confirm: bool
    ) -> bool:
        """Show an unknown host key; True if the user trusts it (``can_confirm`` False:
        only shown, an administrator must confirm it)."""
        ...


class NoAsker:
    """For connections made without the user at hand (automatic reconnects, API calls)."""

    async def progress(self, message: str) -> None:
        return None

    async def password(self, hop: HopPlan) -> str:
        raise LoginRequired(f"{hop.label} needs a password: connect from the Resources view.")

    async def keyboard_interactive(
        self, hop: HopPlan, name: str, instructions: str, prompts: list[tuple[str, bool]]
    ) -> list[str]:
        raise LoginRequired(
            f"{hop.label} asks questions at login (such as a one-time code): connect from "
            "the Resources view."
        )

    async def private_key(self, hop: HopPlan, error: str | None) -> UploadedKey:
        raise LoginRequired(
            f"{hop.label} needs your private key: connect from the Resources view, or let "
            "labgate remember the key."
        )

    async def confirm_host_key(
        self, hop: HopPlan, fingerprint: str, public_key: str, can_confirm: bool
    ) -> bool:
        return False


class CredentialStore(Protocol):
    """Credentials kept by labgate (see :mod:`labgate.resources.keyring`)."""

    async def remembered_key(
        self, user_id: int, resource_id: int, hop_id: int | None
    ) -> Credential | None: ...

    def import_key(self, private_key: bytes, passphrase: str | None) -> Credential: ...

    async def remember_key(
        self, plan: ConnectionPlan, hop_id: int | None, private_key: bytes, passphrase: str | None
    ) -> None: ...

    async def generated_key(self, user_id: int) -> Credential | None: ...

    async def certificate(self, principal: str, key_id: str) -> Credential: ...

    async def trust_host_key(
        self, plan: ConnectionPlan, hop: HopPlan, public_key: str, fingerprint: str
    ) -> bool: ...


class Login:
    """Credentials for one connection attempt of ``plan``."""

    def __init__(
        self,
        plan: ConnectionPlan,
        asker: Asker,
        cache: CredentialCache,
        store: CredentialStore,
    ) -> None:
        self.plan = plan
        self.asker = asker
        self.cache = cache
        self.store = store

    def credential_for(self, hop: HopPlan) -> Callable[[], Awaitable[Credential]]:
        async def resolve() -> Credential:
            count = len(self.plan.hops)
            where = f" (hop {hop.index + 1} of {count})" if count > 1 else ""
            await self.asker.progress(f"Connecting to {hop.host}:{hop.port}{where}…")
            return await self._credential(hop)

        return resolve

    async def _credential(self, hop: HopPlan) -> Credential:
        cached = self.cache.get(hop.index)
        if cached is not None:
            return cached
        method = AuthMethod(hop.auth_method)
        if method is AuthMethod.PASSWORD:
            credential: Credential = PasswordCredential(await self.asker.password(hop))
            self.cache[hop.index] = credential
            return credential
        if method is AuthMethod.KEYBOARD_INTERACTIVE:

            async def respond(
                name: str, instructions: str, prompts: list[tuple[str, bool]]
            ) -> list[str]:
                return await self.asker.keyboard_interactive(hop, name, instructions, prompts)

            return KeyboardInteractiveCredential(respond)
        if method is AuthMethod.KEY:
            return await self._key(hop)
        if method is AuthMethod.GENERATED_KEY:
            generated = await self.store.generated_key(self.plan.user_id)
            if generated is None:
                raise LoginRequired(
                    "You have no labgate key yet: generate one under “My SSH key” in the "
                    "Resources view and add it to ~/.ssh/authorized_keys on the host."
                )
            return generated
        if not self.plan.shared:  # AuthMethod.CERTIFICATE
            raise LoginRequired("Certificates are issued for shared resources only.")
        return await self.store.certificate(
            hop.username, f"labgate:{self.plan.username}:{self.plan.resource_name}"
        )

    async def _key(self, hop: HopPlan) -> Credential:
        remembered = await self.store.remembered_key(
            self.plan.user_id, self.plan.resource_id, hop.hop_id
        )
        if remembered is not None:
            return remembered
        error: str | None = None
        for _attempt in range(KEY_ATTEMPTS):
            uploaded = await self.asker.private_key(hop, error)
            try:
                credential = self.store.import_key(uploaded.private_key, uploaded.passphrase)
            except LabgateError as exc:
                error = exc.message
                continue
            if uploaded.remember:
                await self.store.remember_key(
                    self.plan, hop.hop_id, uploaded.private_key, uploaded.passphrase
                )
            self.cache[hop.index] = credential
            return credential
        raise KeyRejected(error or "The key was not accepted.")

    async def confirm_host_key(
        self, index: int, hop: Hop, fingerprint: str, public_key: str
    ) -> bool:
        """Asked by the transport when a server shows a key labgate does not know: the
        user decides, and a confirmed key is stored for the resource."""
        plan_hop = self.plan.hops[index]
        can_confirm = self.plan.may_trust_host_keys
        if not await self.asker.confirm_host_key(plan_hop, fingerprint, public_key, can_confirm):
            return False
        if not can_confirm:
            return False
        return await self.store.trust_host_key(self.plan, plan_hop, public_key, fingerprint)
