"""The ``pam`` provider: people sign in with their accounts on the server's machine.

PAM checks the password (and whatever else the service's stack asks: a second factor's
prompts are relayed to the login page, labgate.auth.pam_conversation), then the account
(pam_acct_mgmt: expired, or refused by pam_access and the like). The labgate account is
named as the OS account is; its display name is the passwd entry's (GECOS) and its role
and groups come from the OS groups through the mapping in ``auth.pam``.

The identity's subject is the OS name with its uid, ``alice:1001``: a name deleted and
given again to someone else (another uid) is another person, whose first sign-in meets
the account of the first one's name and is refused until an administrator links it. PAM
vouches that the name IS the machine's OS account of that name (on ``local`` the
person works as it).

What PAM is never asked about: the accounts of the system (uid under ``min_uid``, root
among them) unless ``allow_users`` names them, so labgate is no way to guess root's
password. Such a name is told "Wrong user name or password" like any wrong password.

A password locked with ``passwd -l`` makes pam_unix fail as a wrong password does, with
no other sign: the login page cannot tell the person that their account is locked, only
that the password was not accepted. A re-check sees the lock (the shadow entry's ``!``)
and ends the sessions of someone already signed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from labgate.auth.providers import (
    MoreNeeded,
    ProviderConfig,
    ProviderUnavailable,
    Recheck,
    SignInRefused,
    Vouched,
    mapped_role,
)
from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.errors import ConfigurationError
from labgate.plugins import hookimpl
from labgate.settings import Settings

if TYPE_CHECKING:
    from labgate.auth.pam_conversation import Asked, Ended, Transaction

log = logging.getLogger(__name__)

#: PAM transactions working at once (each in a thread; one waiting for a person's
#: answer does not count).
CONCURRENT_TRANSACTIONS = 8
#: A transaction waits this much longer for answers than the login step is held, so that
#: labgate's cancel, not the thread's own deadline, normally ends it.
GRACE_SECONDS = 5.0
#: Where Linux-PAM looks for a service's stack.
PAM_DIRECTORIES = (Path("/etc/pam.d"), Path("/usr/lib/pam.d"))
SHADOW = Path("/etc/shadow")

EXPIRED = (
    "Your account on this machine has expired, so it cannot sign in. Ask the machine's "
    "administrator to extend it."
)
MUST_CHANGE = (
    "Your password on this machine has expired. Change it (log in to the machine with "
    "ssh, or ask its administrator), then sign in again."
)
WRONG_ANSWER = (
    "The verification code (or the password before it) was not accepted. Sign in again "
    "with your password and a new code."
)


class PamConfig(ProviderConfig):
    """``[auth.pam]``."""

    #: The PAM service: its stack is /etc/pam.d/<service>.
    service: str = Field("login", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    #: OS group -> labgate role; the highest of a person's groups wins, and a person in
    #: none of them is a user (empty: PAM decides no role; an account keeps its own).
    roles: dict[str, Role] = {}
    #: OS group -> labgate group: memberships of these labgate groups follow the OS
    #: groups at every sign-in.
    groups: dict[str, str] = {}
    #: When set, only members of one of these OS groups may sign in.
    allowed_groups: list[str] = []
    #: Accounts with a lower uid (system accounts, root) never sign in ...
    min_uid: int = Field(1000, ge=0)
    #: ... unless named here.
    allow_users: list[str] = []


class PamProvider:
    """Signs in the accounts of the server's machine through PAM."""

    kind: ClassVar[Literal["password"]] = "password"
    name = "pam"
    label = "Account on this machine"
    Config = PamConfig

    def __init__(self, settings: Settings, config: PamConfig) -> None:
        try:
            from labgate.auth import pam_conversation
        except (OSError, ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"auth.pam: PAM cannot be used on this machine ({exc}). Install libpam "
                "(Debian: libpam0g) and the Python package pamela."
            ) from exc
        if not any((folder / config.service).is_file() for folder in PAM_DIRECTORIES):
            raise ConfigurationError(
                f"auth.pam.service: there is no PAM service '{config.service}' "
                f"(/etc/pam.d/{config.service}). Write its stack, or name another one."
            )
        self.config = config
        self._pam = pam_conversation
        self._wait_seconds = settings.login_step_seconds + GRACE_SECONDS
        self._slots = asyncio.Semaphore(CONCURRENT_TRANSACTIONS)

    async def authenticate(
        self, database: Database, username: str, password: str
    ) -> Vouched | MoreNeeded | None:
        if "\0" in username or "\0" in password:
            return None
        entry = await asyncio.to_thread(_passwd_entry, username)
        if entry is not None and not self._may_ask(entry):
            return None
        async with self._slots:
            transaction = self._pam.Transaction(
                self.config.service, username, password, wait_seconds=self._wait_seconds
            )
            transaction.start()
            event = await _next(transaction)
        return await self._outcome(transaction, username, event)

    async def _outcome(
        self, transaction: Transaction, username: str, event: Asked | Ended
    ) -> Vouched | MoreNeeded | None:
        if isinstance(event, self._pam.Asked):
            return MoreNeeded(
                prompts=event.prompts,
                messages=event.messages,
                answer=self._answerer(transaction, username),
                cancel=self._canceller(transaction),
            )
        assert isinstance(event, self._pam.Ended)
        if event.code != self._pam.PAM_SUCCESS:
            self._failed(username, event, cancelled=transaction.cancelled)
            return None
        return await asyncio.to_thread(self._vouched, username)

    def _answerer(
        self, transaction: Transaction, username: str
    ) -> Callable[[list[str]], Awaitable[Vouched | MoreNeeded | None]]:
        async def answer(answers: list[str]) -> Vouched | MoreNeeded | None:
            async with self._slots:
                transaction.answer(answers)
                event = await _next(transaction)
            return await self._outcome(transaction, username, event)

        return answer

    def _canceller(self, transaction: Transaction) -> Callable[[], Awaitable[None]]:
        async def cancel() -> None:
            if transaction.ended is not None:
                return
            transaction.cancel()
            # The conversation fails at once; the thread ends when PAM has given up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wait_seconds):
                    while not isinstance(await transaction.next_event(), self._pam.Ended):
                        pass

        return cancel

    def _failed(self, username: str, ended: Ended, *, cancelled: bool) -> None:
        """Raises the refusals people should read; returns for credentials PAM did not
        accept (told as a wrong password)."""
        pam = self._pam
        if ended.stage == "account":
            if ended.code == pam.PAM_ACCT_EXPIRED:
                raise SignInRefused(EXPIRED)
            if ended.code in (pam.PAM_NEW_AUTHTOK_REQD, pam.PAM_AUTHTOK_EXPIRED):
                raise SignInRefused(MUST_CHANGE)
            raise SignInRefused(
                f"This machine does not let your account sign in now (PAM says: "
                f"{ended.reason}). Ask the machine's administrator."
            )
        not_accepted = (
            pam.PAM_AUTH_ERR,
            pam.PAM_USER_UNKNOWN,
            pam.PAM_CRED_INSUFFICIENT,
            pam.PAM_MAXTRIES,
        )
        if cancelled or ended.code in not_accepted:
            if ended.relayed and not cancelled:
                raise SignInRefused(WRONG_ANSWER)
            return
        log.error(
            "PAM service %s failed for %s at %s: %s (%d)",
            self.config.service,
            username,
            ended.stage,
            ended.reason,
            ended.code,
        )
        if ended.code == pam.PAM_AUTHINFO_UNAVAIL:
            raise ProviderUnavailable(
                "The accounts of this machine cannot be checked now. Try again in a few "
                "minutes, or sign in another way."
            )
        raise ProviderUnavailable(
            f"Signing in with an account of this machine failed (PAM says: {ended.reason}). "
            "Ask an administrator to look at the server's log."
        )

    def _may_ask(self, entry: pwd.struct_passwd) -> bool:
        """Whether PAM may be asked about this account at all (not a system account)."""
        return entry.pw_uid >= self.config.min_uid or entry.pw_name in self.config.allow_users

    def _vouched(self, username: str) -> Vouched:
        """Who PAM has just accepted, by the mapping (blocking: reads NSS)."""
        entry = _passwd_entry(username)
        if entry is None or not self._may_ask(entry):  # gone or changed meanwhile
            raise SignInRefused("Your account on this machine cannot sign in here.")
        groups = _os_groups(entry)
        allowed = self.config.allowed_groups
        if allowed and not groups & set(allowed):
            raise SignInRefused(
                "Your account on this machine is in none of the groups allowed to sign in "
                f"to labgate ({', '.join(allowed)}). Ask an administrator to add you to one."
            )
        roles = [role for group, role in self.config.roles.items() if group in groups]
        return Vouched(
            provider=self.name,
            subject=subject_of(entry),
            username=username,
            label=username,
            # PAM's names are this machine's accounts.
            name_is_os_account=True,
            display_name=entry.pw_gecos.split(",")[0].strip(),
            groups=frozenset(name for group, name in self.config.groups.items() if group in groups),
            managed_groups=frozenset(self.config.groups.values()),
            role=mapped_role(bool(self.config.roles), roles),
        )

    async def recheck(self, subject: str, secret: bytes | None) -> Recheck:
        async with self._slots:
            return await asyncio.to_thread(self._recheck, subject)

    def _recheck(self, subject: str) -> Recheck:
        """Whether the account still exists with the subject's uid, may sign in, is not
        locked and passes pam_acct_mgmt (blocking)."""
        username, uid = _parse_subject(subject)
        if uid is None:
            log.warning(
                "The PAM identity %r names no uid: it does not hold (link the account's "
                "identity as name:uid, such as alice:1001)",
                subject,
            )
            return Recheck(False)
        entry = _passwd_entry(username)
        if entry is None or entry.pw_uid != uid or not self._may_ask(entry):
            return Recheck(False)  # gone, or the name given to another uid
        allowed = self.config.allowed_groups
        if allowed and not _os_groups(entry) & set(allowed):
            return Recheck(False)
        try:
            if _password_locked(username):
                return Recheck(False)
        except OSError as exc:
            log.warning("Cannot tell whether %s is locked: %s", username, exc)
            return Recheck(None)
        ended = self._pam.check_account(self.config.service, username)
        pam = self._pam
        if ended.code in (pam.PAM_SUCCESS, pam.PAM_NEW_AUTHTOK_REQD):
            # An aged password is changed at the next login; the account holds.
            return Recheck(True)
        if ended.code in (
            pam.PAM_ACCT_EXPIRED,
            pam.PAM_PERM_DENIED,
            pam.PAM_USER_UNKNOWN,
            pam.PAM_AUTH_ERR,
        ):
            return Recheck(False)
        log.warning("Re-checking %s with PAM failed: %s (%d)", username, ended.reason, ended.code)
        return Recheck(None)


async def _next(transaction: Transaction) -> Asked | Ended:
    """The transaction's next event; when the awaiting request is cancelled (its client
    went), the transaction is too, so that its thread ends."""
    try:
        return await transaction.next_event()
    except BaseException:
        transaction.cancel()
        raise


def subject_of(entry: pwd.struct_passwd) -> str:
    """The identity's subject for an OS account: its name and uid (``alice:1001``)."""
    return f"{entry.pw_name}:{entry.pw_uid}"


def _parse_subject(subject: str) -> tuple[str, int | None]:
    """The name and uid a subject holds (None: no uid, a subject made otherwise)."""
    # OS names hold no ':' (it separates passwd's fields); the uid is after the last.
    name, _colon, uid = subject.rpartition(":")
    return (name, int(uid)) if name and uid.isdigit() else (subject, None)


def _passwd_entry(username: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(username)
    except KeyError:
        return None


def _os_groups(entry: pwd.struct_passwd) -> set[str]:
    """The names of the account's OS groups, its primary group among them."""
    names = set()
    for gid in os.getgrouplist(entry.pw_name, entry.pw_gid):
        with contextlib.suppress(KeyError):
            names.add(grp.getgrgid(gid).gr_name)
    return names


def _password_locked(username: str) -> bool:
    """Whether the shadow entry's password is locked (``passwd -l``: a leading ``!``);
    an account not in /etc/shadow (from a directory) is not. Raises OSError when the
    file cannot be read (labgate does not run as root or in group shadow)."""
    for line in SHADOW.read_text().splitlines():
        name, _sep, rest = line.partition(":")
        if name == username:
            return rest.startswith("!")
    return False


@hookimpl
def register_auth_providers() -> list[type[PamProvider]]:
    return [PamProvider]
