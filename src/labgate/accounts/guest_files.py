"""What an expired guest leaves on ``local``, the server's own machine, and when it goes.

With ``guest_files_on_expiry = "remove"``, the OS account a guest worked as on ``local``
is removed with its home directory (``userdel --remove``, after its processes are
killed) when the guest's labgate account is, but only when every one of these holds, so
that nobody else's files are ever touched:

- the server runs as root (otherwise everyone on ``local`` is the server's own account);
- the account is the one ``local``'s account rule derives from the guest's name (not one
  an administrator named in an exception, nor one a rule gives everybody);
- labgate created it for this guest: its comment is ``labgate user <name>``, which
  labgate writes when it creates an account (labgate.resources.local_accounts);
- it is an ordinary person's account (uid from ``UID_MIN`` to ``UID_MAX``, not the
  server's, in no group with powers over the machine: os_accounts.powers_of);
- its home is a directory of its own: an absolute path other than ``/``, not a symbolic
  link, owned by the account, and no other account's home is that directory or inside it.

Otherwise, and always with ``keep``, the account and its files stay, and the audit log
says why (``guest_files_kept``). Files a guest left elsewhere (``/tmp``, other resources)
are not looked for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import Resource, ResourceKind
from labgate.resources.catalog import account_mapping
from labgate.resources.local_accounts import creation_comment
from labgate.settings import Settings
from labgate.transport.local import RUNTIME_ROOT
from labgate.transport.os_accounts import (
    OsAccount,
    all_accounts,
    find_account,
    powers_of,
    remove_account,
    server_runs_as_root,
)


@dataclass(frozen=True)
class GuestFiles:
    """The OS account a guest worked as on ``local``, and whether it goes with them."""

    account: OsAccount
    #: Why it stays (empty: it is removed).
    kept_because: str

    @property
    def removed(self) -> bool:
        return not self.kept_because


async def guest_files(db: AsyncSession, settings: Settings, username: str) -> GuestFiles | None:
    """What becomes of ``username``'s OS account on ``local``; None when they had none of
    their own there (the server is not root, they were mapped to someone's account by
    name, or the account does not exist)."""
    if not server_runs_as_root():
        return None
    local = await db.scalar(select(Resource).where(Resource.kind == ResourceKind.LOCAL.value))
    if local is None:
        return None
    mapping = account_mapping(local, username)
    account = find_account(mapping.name)
    if mapping.explicit or account is None:
        return None
    return GuestFiles(account, _why_kept(account, username, settings))


def _why_kept(account: OsAccount, username: str, settings: Settings) -> str:
    if settings.guest_files_on_expiry == "keep":
        return "guest_files_on_expiry is keep"
    if account.comment != creation_comment(username):
        return f"labgate did not create the OS account {account.name} for {username}"
    powers = powers_of(account)
    if powers:
        return f"the OS account {account.name} is not an ordinary one: {'; '.join(powers)}"
    return _home_problem(account)


def _home_problem(account: OsAccount) -> str:
    """Why ``account``'s home is not a directory of its own to remove (empty: it is)."""
    home = os.path.normpath(account.home)
    if not os.path.isabs(home) or home == "/":
        return f"the home of {account.name} is {account.home!r}"
    try:
        info = os.lstat(home)
    except FileNotFoundError:
        return ""  # nothing there: the account alone goes
    except OSError as exc:
        return f"the home {home} cannot be examined: {exc.strerror}"
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return f"the home {home} is not a directory"
    if info.st_uid != account.uid:
        return f"the home {home} belongs to uid {info.st_uid}, not to {account.name}"
    real = os.path.realpath(home)
    for other in all_accounts():
        if other.name == account.name:
            continue
        theirs = os.path.realpath(other.home) if os.path.isabs(other.home) else other.home
        if theirs == real or theirs.startswith(real + os.sep):
            return f"the home {home} holds the home of {other.name} too"
    return ""


async def remove_guest_files(files: GuestFiles) -> None:
    """Remove the account with its home (``files.removed`` must hold), and the runtime
    directories the server or its agent made for its uid. Raises
    os_accounts.AccountRemovalFailed."""
    assert files.removed, files.kept_because
    account = files.account
    await remove_account(account)
    # Made for the uid by the server (/run/labgate/UID) or, without one, by the agent
    # (/tmp/labgate-UID): each only if it is a directory of that uid's.
    for path in (os.path.join(RUNTIME_ROOT, str(account.uid)), f"/tmp/labgate-{account.uid}"):  # noqa: S108
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode) and info.st_uid == account.uid:
                shutil.rmtree(path)
