"""Which OS account a labgate user runs as on ``local``, the server's own machine.

When the server does not run as root, everyone on ``local`` is the server's own account
(and ``local_resource`` keeps it to administrators by default). When it runs as root,
each user is mapped by ``local``'s account rule and overrides, as on a shared resource,
and their agent is started as that account. The mapping is held to one rule of safety:
an account the rule derives from a user's name must be an ordinary person's (uid from
``UID_MIN`` to ``UID_MAX``, not the server's, in no group with powers over the machine,
and not given to another user by an exception); root, the system's accounts and
privileged ones only when an administrator names them (an exception, or a rule without
``{username}``).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from labgate.db.engine import Database
from labgate.db.models import Resource, ResourceKind
from labgate.errors import LabgateError
from labgate.resources.catalog import AccountMapping, account_mapping, local_resource_rule
from labgate.settings import Settings
from labgate.transport.os_accounts import (
    AccountCreationFailed,
    OsAccount,
    creatable_name,
    create_account,
    find_account,
    powers_of,
    server_account,
    server_runs_as_root,
)

log = logging.getLogger(__name__)

# Where an administrator changes the mapping, in the words of ``local``'s dialog.
_WHERE = "the account rule or the exceptions of 'local' (Resources, Edit on 'local')"


class LocalAccountMissing(LabgateError):
    """The OS account a user is mapped to on ``local`` does not exist."""

    code = "local_account_missing"
    status = 409


class LocalAccountRefused(LabgateError):
    """The account the rule derives is root, a system account or a privileged one (or
    another user's by an exception), which only an explicit mapping may give."""

    code = "local_account_refused"
    status = 409


async def local_account(
    mapping: AccountMapping, username: str, settings: Settings
) -> OsAccount | None:
    """The account ``username`` (a labgate user) runs as on ``local``; None: the server's
    own (it does not run as root). Creates a missing rule-derived account when
    ``local_create_accounts`` allows it; otherwise raises a message naming the account,
    the user and the setting to change."""
    if not server_runs_as_root():
        return None
    account = find_account(mapping.name)
    if account is None:
        account = await _create(mapping, username, settings)
    _check_derived(mapping, account, username)
    return account


def creation_comment(username: str) -> str:
    """What labgate writes in the comment (GECOS) of an account it creates for
    ``username``: how it knows later that the account is that user's own
    (labgate.accounts.guest_files)."""
    return f"labgate user {username}"


def refusal_reasons(mapping: AccountMapping, account: OsAccount) -> list[str]:
    """Why the rule may not give ``account`` (empty: it may, or an administrator named
    it explicitly)."""
    if mapping.explicit:
        return []
    reasons = powers_of(account)
    if mapping.name in mapping.claimed_by_exceptions:
        reasons.append("an exception of 'local' gives it to another labgate user")
    return reasons


def _check_derived(mapping: AccountMapping, account: OsAccount, username: str) -> None:
    """Refuse an account the rule derived from the user's name unless it is an ordinary
    person's (no powers over the machine, :func:`powers_of`) and no exception gives it
    to another user: a name does not make anyone root, a sudoer, or someone else."""
    reasons = refusal_reasons(mapping, account)
    if reasons:
        raise LocalAccountRefused(
            f"labgate user {username!r} is mapped to the OS account {mapping.name!r} on "
            f"'local' by the account rule, but that is root, a system account or one with "
            f"powers over the machine ({'; '.join(reasons)}), and labgate gives such an "
            "account only when an administrator names it. Ask an administrator to map "
            f"{username!r} to an ordinary account by name, as an exception of 'local' "
            "(Resources, Edit on 'local')."
        )


async def _create(mapping: AccountMapping, username: str, settings: Settings) -> OsAccount:
    missing = (
        f"labgate user {username!r} is mapped to the OS account {mapping.name!r} on "
        "'local', which does not exist on this machine."
    )
    if mapping.explicit:
        raise LocalAccountMissing(
            f"{missing} Ask an administrator to create it or to change {_WHERE}."
        )
    if not settings.local_create_accounts:
        raise LocalAccountMissing(
            f"{missing} Ask an administrator to create it, to change {_WHERE}, or to turn "
            "on the local_create_accounts setting."
        )
    if not creatable_name(mapping.name):
        raise LocalAccountMissing(
            f"{missing} labgate does not create accounts of that name (lower-case letters, "
            f"digits, '_', '.', '-', at most 32). Ask an administrator to change {_WHERE}."
        )
    try:
        account = await create_account(mapping.name, creation_comment(username))
    except AccountCreationFailed as exc:
        raise LocalAccountMissing(
            f"{missing} Creating it failed: {exc}. Ask an administrator to create it or "
            f"to change {_WHERE}."
        ) from None
    log.info("created the OS account %s for labgate user %s", account.name, username)
    return account


def account_summary(mapping: AccountMapping, username: str, settings: Settings) -> str:
    """One line saying which OS account ``username`` works as on ``local`` (the
    first-start banner tells the administrator)."""
    if not server_runs_as_root():
        return (
            f"On 'local', {username} works as this server's own OS account "
            f"{server_account().name!r}."
        )
    account = find_account(mapping.name)
    if account is None:
        if mapping.explicit or not settings.local_create_accounts:
            return (
                f"On 'local', {username} is mapped to the OS account {mapping.name!r}, which "
                "does not exist yet: create it, or set local_create_accounts."
            )
        return (
            f"On 'local', {username} works as the OS account {mapping.name!r} "
            "(created at the first connection)."
        )
    if refusal_reasons(mapping, account):
        return (
            f"On 'local', {username} is mapped to {mapping.name!r}, a system account labgate "
            "refuses: change local's account rule or exceptions."
        )
    root = " (root: the machine's administrator account)" if account.is_root else ""
    return f"On 'local', {username} works as the OS account {mapping.name!r}{root}."


async def local_summary(database: Database, settings: Settings, username: str) -> str | None:
    """:func:`account_summary` for ``username`` as ``local`` is set up in the database;
    None when ``local`` is not theirs to use (``local_resource`` is ``off``)."""
    if local_resource_rule(settings) == "off":
        return None
    async with database.session() as db:
        resource = await db.scalar(
            select(Resource).where(Resource.kind == ResourceKind.LOCAL.value)
        )
    if resource is None:
        return None
    return account_summary(account_mapping(resource, username), username, settings)
