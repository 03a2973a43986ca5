"""The end of guests' accounts: every ``EXPIRY_SECONDS`` each replica removes the accounts
whose ``expires_at`` has passed, through the ordinary removal (labgate.accounts.removal:
their logins end, their app sessions, processes and terminals are stopped, then the row
goes with everything of theirs in the database), and then, as
``guest_files_on_expiry`` says, the OS account they had of their own on ``local`` with
its files (labgate.accounts.guest_files). Every step is audited.

Their logins stop working at ``expires_at`` already (the login lookups ask), so the pass
only tidies up. Replicas may run it at once: a guest another replica removed meanwhile
is passed over, and removing an OS account that is gone already is no error.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from labgate import audit
from labgate.accounts.guest_files import GuestFiles, guest_files, remove_guest_files
from labgate.accounts.removal import RemovalNeeds, remove_user
from labgate.audit import Actor
from labgate.db.models import User
from labgate.db.types import utcnow
from labgate.errors import NotFound
from labgate.transport.os_accounts import AccountRemovalFailed

log = logging.getLogger(__name__)

EXPIRY_SECONDS = 60
# Guests removed at once (each removal reaches every resource they could use).
AT_ONCE = 4
#: Who removes expired guests, in the audit log.
EXPIRY = Actor(None, "guest-expiry")


async def expire_guests(state: RemovalNeeds) -> list[str]:
    """Remove every account whose end has passed; the names of those removed here."""
    async with state.database.read() as db:
        due = list(
            await db.scalars(
                select(User.username).where(User.expires_at <= utcnow()).order_by(User.expires_at)
            )
        )
    return await remove_guests(state, due, actor=EXPIRY)


async def remove_guests(state: RemovalNeeds, usernames: list[str], *, actor: Actor) -> list[str]:
    """:func:`remove_guest` for each of ``usernames``, ``AT_ONCE`` at a time; the names
    of those removed here (a failure is logged and the others go on)."""
    removed: list[str] = []
    limit = asyncio.Semaphore(AT_ONCE)

    async def one(username: str) -> None:
        async with limit:
            try:
                if await remove_guest(state, username, actor=actor):
                    removed.append(username)
            except Exception:  # one guest's failure must not keep the others
                log.exception("removing the guest account %s failed", username)

    await asyncio.gather(*(one(username) for username in usernames))
    return sorted(removed)


async def remove_guest(state: RemovalNeeds, username: str, *, actor: Actor = EXPIRY) -> bool:
    """Remove the (expired or ended) guest ``username`` and, as the setting says, their OS
    account on ``local``; False when they were gone already."""
    async with state.database.read() as db:
        # Decided while the account still exists: the mapping reads its name.
        files = await guest_files(db, state.settings, username)
    try:
        await remove_user(state, username, actor=actor)
    except NotFound:
        return False
    if files is not None:
        await _settle_files(state, username, files, actor)
    return True


async def _settle_files(
    state: RemovalNeeds, username: str, files: GuestFiles, actor: Actor
) -> None:
    kept_because = files.kept_because
    if files.removed:
        try:
            await remove_guest_files(files)
        except AccountRemovalFailed as exc:
            kept_because = f"removing it failed: {exc}"
    event = "guest_files_removed" if not kept_because else "guest_files_kept"
    detail = {"resource": "local", "account": files.account.name, "home": files.account.home}
    if kept_because:
        detail["reason"] = kept_because
        log.info("the files of expired guest %s stay: %s", username, kept_because)
    async with state.database.session() as db:
        audit.record(db, event, actor=actor, target=username, **detail)


async def run_periodically(state: RemovalNeeds, interval: float = EXPIRY_SECONDS) -> None:
    """Remove expired guests every ``interval`` seconds until cancelled (not at once:
    their logins ended at their end already, and starting is busy enough)."""
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await expire_guests(state)
            if removed:
                log.info("expired guest accounts removed: %s", ", ".join(removed))
        except Exception:  # a failed round must not stop the next one
            log.exception("removing expired guests failed; trying again later")
