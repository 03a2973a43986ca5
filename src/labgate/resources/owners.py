"""Whose work a process on a resource is: its owner tag.

Every process, terminal and app labgate starts in a user's daemon carries a tag naming
this installation and the user, ``lg:<installation tag>:<user's work tag>``, both random
and kept in the database (``Installation``, ``User.work_tag``). Several labgate users
may share one remote account (one daemon), and several installations may too: each
sees only the processes that carry its own tag. A numeric user id would not do: SQLite
hands a deleted user's id to the next user created, who would then find the deleted
user's terminals.

Users who existed before work tags were introduced (migration 0007) keep their old tag,
``user:<id>``, as an alias, for processes started before that migration ran: later ones
with such a tag are another (older) installation's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import Installation, User
from labgate.errors import ConfigurationError, NotFound


class Tagged(Protocol):
    """A process as far as its owner goes (``labgate.agent.typed.ProcessInfo``)."""

    @property
    def owner(self) -> str: ...

    @property
    def started_at(self) -> float: ...


@dataclass(frozen=True)
class WorkOwner:
    """A user's work on resources, as this installation tags it."""

    tag: str
    legacy_tag: str | None = None
    # Epoch seconds; a legacy-tagged process started later is not this user's.
    legacy_before: float = -math.inf

    @property
    def user_tag(self) -> str:
        """The user's own part of the tag (``User.work_tag``)."""
        return self.tag.rsplit(":", 1)[-1]

    def owns(self, process: Tagged) -> bool:
        """Whether ``process`` (as the agent lists it: ``ProcessInfo``) is this user's."""
        if process.owner == self.tag:
            return True
        if self.legacy_tag is None or process.owner != self.legacy_tag:
            return False
        return process.started_at < self.legacy_before


async def work_owner(db: AsyncSession, user_id: int) -> WorkOwner:
    """How the work of user ``user_id`` is tagged (one query)."""
    found = (
        await db.execute(
            select(User.work_tag, User.legacy_work_tag, Installation.tag, Installation.created_at)
            .select_from(User)
            .join(Installation, true())
            .where(User.id == user_id)
        )
    ).first()
    if found is None:
        if await db.scalar(select(Installation.id)) is None:
            raise ConfigurationError(
                "The database has no installation row: run `labgate db upgrade`."
            )
        raise NotFound(f"There is no user {user_id}.")
    work_tag, legacy_tag, installation_tag, since = found
    return WorkOwner(
        tag=f"lg:{installation_tag}:{work_tag}",
        legacy_tag=legacy_tag,
        legacy_before=since.timestamp() if legacy_tag else -math.inf,
    )
