"""Signing in with a directory (LDAP): the ``ldap`` provider.

It checks the login form's name and password by binding as the person: either straight
at the DN ``user_dn_template`` makes of the name, or at the entry a service account
(``bind_dn``) finds with ``user_filter`` under ``user_base``. The entry's
``subject_attribute`` (``entryUUID``; Active Directory's ``objectGUID``) is the identity's
subject, so a renamed entry is still the same person, and a new entry at an old DN (a
new hire named like someone who left) is not. An entry without it is refused, never
named by its DN. The person's groups (``group_filter`` under ``group_base``) decide the
role (``roles``), the labgate groups (``groups``) and whether they may sign in at all
(``allowed_groups``).

What the directory says is vouched for only as far as its settings say: its ``mail`` is
an administrator-given address only with ``trust_email`` (people often may edit their
own), and its user names are the machine's OS account names only with
``names_are_os_accounts``.

The password policy control goes with every bind, so that an account the directory
refuses for a reason (locked, its password expired or reset) is told so, not told
"wrong password" (:mod:`labgate.auth.ldap.ppolicy`). A name the directory does not know
costs a bind as with a known one (a bind as nobody), so the answer's timing does not say
which names exist.

ldap3 blocks: every question runs in a thread of the provider's own pool of
``max_concurrent``, so a slow directory holds at most that many threads and never the
event loop; every socket operation has ``timeout_seconds``.

Re-checking (:meth:`LdapProvider.recheck`) needs the service account: in search-then-bind
mode the entry is looked up again; binding as the person, there is nothing to ask
without their password, so the answer is always "cannot tell".
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Literal, TypeVar

from labgate.auth.ldap.config import LdapConfig
from labgate.auth.ldap.directory import (
    Directory,
    DirectoryError,
    Person,
    PolicyRefused,
    Unreachable,
    matching,
)
from labgate.auth.ldap.ppolicy import PolicyError
from labgate.auth.providers import (
    ProviderUnavailable,
    Recheck,
    SignInRefused,
    Vouched,
    mapped_role,
)
from labgate.db.engine import Database
from labgate.plugins import hookimpl
from labgate.settings import Settings

__all__ = ["LdapConfig", "LdapProvider"]

log = logging.getLogger("labgate.auth.ldap")

_T = TypeVar("_T")


class LdapProvider:
    kind: ClassVar[Literal["password"]] = "password"
    name = "ldap"
    label = "Directory"
    Config = LdapConfig

    def __init__(self, settings: Settings, config: LdapConfig) -> None:
        self.settings = settings
        self.config = config
        self.label = config.label
        self.directory = Directory(config)
        self._threads = ThreadPoolExecutor(config.max_concurrent, thread_name_prefix="ldap")
        # Its idle threads end with the provider (a server stopped, a test's app gone).
        weakref.finalize(self, self._threads.shutdown, wait=False, cancel_futures=True)
        if not config.tls_verify:
            log.warning("auth.%s: tls_verify is off: any server can read the passwords", self.name)
        elif not config.encrypted:
            log.warning(
                "auth.%s: passwords go to %s without TLS (use ldaps:// or start_tls)",
                self.name,
                ", ".join(config.url),
            )

    async def authenticate(
        self, database: Database, username: str, password: str
    ) -> Vouched | None:
        # An empty password is an unauthenticated bind, which directories accept.
        if not password or not username:
            return None
        person = await self._ask(self.directory.check_password, username, password)
        if person is None:
            return None
        if person.subject is None:
            attribute = self.config.subject_attribute
            log.error(
                "auth.%s: %s has no %s (subject_attribute): it cannot sign in. Is the "
                "attribute right for this directory, and may the %s read it?",
                self.name,
                person.dn,
                attribute,
                "service account" if self.config.searches else "person",
            )
            raise SignInRefused(
                f"Your entry in the directory ({self.label}) has no {attribute}, which "
                "labgate needs to recognise you at every sign-in. Ask an administrator to "
                "look into it (labgate's log names your entry)."
            )
        if not self.directory.allowed(person.groups):
            raise SignInRefused(
                f"Your account in the directory ({self.label}) is not in a group allowed to "
                "use labgate. Ask an administrator to add you to one."
            )
        return self._vouched(person)

    async def recheck(self, subject: str, secret: bytes | None) -> Recheck:
        """Whether the entry still holds: there, found by ``user_filter``, not locked by
        an administrator, in ``allowed_groups``. A lockout after failed passwords does
        not count (someone guessing a password must not throw its owner out); None
        when the directory cannot be asked or there is no service account to ask with."""
        if not self.config.searches:
            return Recheck(None)
        try:
            holds = await self._ask(self.directory.still_holds, subject)
        except ProviderUnavailable:
            return Recheck(None)
        return Recheck(holds)

    def _vouched(self, person: Person) -> Vouched:
        assert person.subject is not None
        config = self.config
        roles = [config.roles[key] for key in matching(person.groups, list(config.roles))]
        role = mapped_role(bool(config.roles), roles)
        groups = matching(person.groups, list(config.groups))
        email = person.email if person.email and _looks_like_address(person.email) else None
        return Vouched(
            provider=self.name,
            subject=person.subject,
            username=person.username.lower(),
            label=person.username,
            display_name=person.display_name,
            email=email,
            email_verified=config.trust_email,
            name_is_os_account=config.names_are_os_accounts,
            groups=frozenset(config.groups[key] for key in groups),
            managed_groups=frozenset(config.groups.values()),
            role=role,
        )

    async def _ask(self, question: Callable[..., _T], *args: str) -> _T:
        """``question(*args)`` in the provider's threads, its failures in words."""
        loop = asyncio.get_running_loop()
        try:
            # Cancelled while waiting for a thread, it never runs; once running, it ends
            # by its timeouts, holding its thread till then.
            return await loop.run_in_executor(self._threads, functools.partial(question, *args))
        except Unreachable as exc:
            if exc.tls:
                log.error("auth.%s: TLS with the directory failed: %s", self.name, exc)
                raise ProviderUnavailable(
                    f"The directory ({self.label}) cannot be reached securely: TLS with it "
                    "failed (its certificate is not trusted, or it does not offer TLS). Tell "
                    "an administrator, and sign in another way meanwhile if you have one."
                ) from None
            log.warning("auth.%s: no directory server answered: %s", self.name, exc)
            raise ProviderUnavailable(
                f"The directory ({self.label}) cannot be reached: try again later, or sign "
                "in another way if you have one."
            ) from None
        except DirectoryError as exc:
            log.error("auth.%s: %s", self.name, exc)
            raise ProviderUnavailable(
                f"The directory ({self.label}) cannot check sign-ins now. Tell an "
                "administrator (labgate's log says why)."
            ) from None
        except PolicyRefused as exc:
            raise SignInRefused(self._refusal(exc.error)) from None

    def _refusal(self, error: PolicyError) -> str:
        where = f"the directory ({self.label})"
        if error is PolicyError.ACCOUNT_LOCKED:
            return (
                f"This account is locked in {where}. Ask the directory's administrators "
                "to unlock it."
            )
        if error is PolicyError.PASSWORD_EXPIRED:
            return (
                f"The password of this account has expired in {where}. Change it where "
                "you change your directory password, then sign in again."
            )
        return (
            f"The password of this account was reset in {where} and must be changed "
            "before it is used. Change it where you change your directory password, then "
            "sign in again."
        )


def _looks_like_address(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(local and at and "." in domain) and not any(c.isspace() for c in value)


@hookimpl
def register_auth_providers() -> list[type[LdapProvider]]:
    return [LdapProvider]
