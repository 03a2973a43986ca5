"""Support staff in a user's session: the members of the ``support_group`` (a setting)
may join a session whose owner allows it, or asked for help, which also allows it and
tells every member (in the workspace: a ``help_asked`` event on their events socket,
through :mod:`labgate.fanout` to every replica; and by e-mail where they have an
address)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.auth.principal import Principal
from labgate.db.models import AppSession, User
from labgate.db.types import utcnow
from labgate.errors import Conflict
from labgate.sessions.mail import send_mail
from labgate.sessions.sharing import support_members
from labgate.settings import Settings

log = logging.getLogger(__name__)

# The message as a workspace notice quotes it (the Sessions list and the e-mail have it
# all); also keeps the notice well within what the fan-out carries.
NOTICE_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class HelpAsked:
    """An owner asked the support staff for help with a session: news for each member."""

    session_id: str
    title: str
    owner_username: str
    owner_display_name: str
    message: str

    @classmethod
    def of(cls, row: AppSession, owner: User | None, principal: Principal) -> HelpAsked:
        message = row.help_message or ""
        if len(message) > NOTICE_MESSAGE_CHARS:
            message = message[: NOTICE_MESSAGE_CHARS - 1].rstrip() + "…"
        return cls(
            row.id,
            row.title,
            principal.username,
            owner.display_name if owner is not None else "",
            message,
        )

    def event(self) -> dict[str, object]:
        return {
            "type": "help_asked",
            "session_id": self.session_id,
            "title": self.title,
            "owner": {"username": self.owner_username, "display_name": self.owner_display_name},
            "message": self.message,
        }


def check_available(settings: Settings) -> None:
    if not settings.support_group:
        raise Conflict(
            "This labgate has no support staff: an administrator names their group in the "
            "support_group setting."
        )


def allow_support(
    db: AsyncSession, settings: Settings, principal: Principal, row: AppSession, allowed: bool
) -> None:
    """The owner lets support staff in, or no longer (those connected are cut off)."""
    if allowed:
        check_available(settings)
    if row.support_allowed == allowed:
        return
    row.support_allowed = allowed
    if not allowed:
        row.help_requested_at = None
        row.help_message = ""
    audit.record(
        db, "session_support_changed", actor=principal.actor, target=row.id, allowed=allowed
    )


async def ask_for_help(
    db: AsyncSession, settings: Settings, principal: Principal, row: AppSession, message: str
) -> list[User]:
    """Allow support and ask for help; the members to tell (returned)."""
    check_available(settings)
    row.support_allowed = True
    row.help_requested_at = utcnow()
    row.help_message = message
    audit.record(
        db, "session_help_requested", actor=principal.actor, target=row.id, message=message[:200]
    )
    return await support_members(db, settings)


async def mail_support(
    settings: Settings, members: list[User], owner: Principal, row: AppSession, link: str
) -> None:
    """Tell the support staff by e-mail (those with an address), side by side."""
    subject = f"{owner.username} asks for help with {row.title}"
    text = (
        f"{owner.username} asks for help with their session {row.title!r}:\n\n"
        f"{row.help_message or '(no message)'}\n\n"
        f"It is in your sessions list in labgate: {link}\n"
    )
    sends = [send_mail(settings, m.email, subject, text) for m in members if m.email]
    if sends:
        await asyncio.gather(*sends)
