"""Notifications delivered once the transaction that added them has committed: told to
the user's tabs at once (``tell``, the events socket's hub, which the fan-out carries to
the other replicas), and e-mailed to users who want that kind by e-mail (``mail``).

A rolled-back transaction's notifications are never delivered: ``notify`` notes each new
id on the database session, and only the session's ``after_commit`` takes them from
there (a rollback drops them). The rows are read again before an e-mail is sent, so one
undone within a savepoint is not mailed either."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable

from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from labgate import preferences
from labgate.db.engine import Database
from labgate.db.models import Notification, User
from labgate.notifications.centre import PENDING
from labgate.notifications.kinds import email_preference

log = logging.getLogger(__name__)

#: (user id, notification id), to the user's tabs.
Tell = Callable[[int, int], None]
#: (to, subject, text): whether the mail server took it.
Mail = Callable[[str, str, str], Awaitable[bool]]

# Each engine's receivers of committed notification ids (one per running app on it).
_receivers: weakref.WeakKeyDictionary[Engine, list[Callable[[list[int]], None]]] = (
    weakref.WeakKeyDictionary()
)


def _committed(session: Session) -> None:
    ids: list[int] | None = session.info.pop(PENDING, None)
    if not ids or not isinstance(session.bind, Engine):
        return
    for receive in _receivers.get(session.bind, ()):
        receive(list(ids))


def _rolled_back(session: Session) -> None:
    session.info.pop(PENDING, None)


event.listen(Session, "after_commit", _committed)
event.listen(Session, "after_rollback", _rolled_back)

MAIL_FOOTER = "\n\nYou find this in labgate's notifications (the bell in the top bar).\n"


class Delivery:
    """This replica's delivery of the notifications committed through ``database``."""

    def __init__(self, database: Database, tell: Tell, mail: Mail) -> None:
        self.database = database
        self.tell = tell
        self.mail = mail
        self._tasks: set[asyncio.Task[None]] = set()
        self._engine = database.engine.sync_engine

    def start(self) -> None:
        _receivers.setdefault(self._engine, []).append(self._receive)

    def _receive(self, ids: list[int]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a commit outside the server's loop (a command): no tabs to tell
        task = loop.create_task(self._deliver(ids))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, ids: list[int]) -> None:
        try:
            async with self.database.read() as db:
                found = (
                    await db.execute(
                        select(Notification, User.email)
                        .join(User, User.id == Notification.user_id)
                        .where(Notification.id.in_(ids))
                    )
                ).all()
                wanted = []
                for row, email in found:
                    self.tell(row.user_id, row.id)
                    key = email_preference(row.kind)
                    if key is None or not email:
                        continue
                    if (await preferences.load(db, row.user_id)).get(key):
                        wanted.append((email, row.title, row.body))
            for email, title, body in wanted:
                await self.mail(email, title, body + MAIL_FOOTER)
        except Exception:  # news, never a reason to fail anything
            log.exception("delivering notifications %s failed", ids)

    async def close(self) -> None:
        found = _receivers.get(self._engine, [])
        with contextlib.suppress(ValueError):
            found.remove(self._receive)
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
