"""Open WebSockets end with the credential they were opened with.

A WebSocket is authenticated once, at its handshake, and may then stay open for days (a
terminal, an app's kernel, the events socket). So each replica keeps a registry of its
open sockets: the login session or API token each was opened with, its user, the policy
:class:`~labgate.auth.policy.Action` it was accepted for and the resource it works on.
Every :data:`CHECK_INTERVAL_SECONDS` the registry looks the distinct credentials up again
(one query for login sessions, one for tokens) and asks the policy whether each socket's
action is still allowed:

- the credential ended (logged out, ended by a password change, the user disabled or
  deleted, the token revoked, expired, the login idle or too old): the socket closes with
  :data:`LOGIN_ENDED` (4401), reason ``login_ended`` or ``token_ended``;
- it is no longer allowed (the role, a token's scopes, a one-time password to replace,
  the resource no longer visible to the user, a share of the session revoked or made
  less, the user out of the group it was shared with, support no longer let in):
  :data:`NOT_ALLOWED` (4403), reason ``access_withdrawn``.

Every replica asks the database itself, so a change made anywhere (another replica, the
command line) ends the sockets on all of them within about a second, with no messages
between replicas. The replica that made a change checks that user's sockets at once
(:meth:`LiveSockets.recheck`, called once the change is committed).

What a person sends through a socket counts as use of their login, as an HTTP request
does: typing in a terminal for hours does not end the login as idle, while an events
socket in a forgotten tab does not keep it alive.

Closing is done by the socket's own task (:mod:`labgate.http.socket_watch` runs each
WebSocket connection in a :class:`Watch`): :meth:`Watch.end` cancels the handler, which
unwinds through its own clean-up, and the close frame carries the code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.policy import Action, SessionRole, allowed, still_allows
from labgate.auth.principal import Principal
from labgate.auth.sessions import find_live_sessions, touch_session
from labgate.auth.tokens import find_live_tokens
from labgate.db.engine import Database
from labgate.settings import Settings

log = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 1.0
# Close codes (like the handshake's refusals: labgate.api.deps.accept_websocket).
LOGIN_ENDED = 4401
NOT_ALLOWED = 4403

# May this user still use this resource? (labgate.resources.catalog.can_see, given by the
# app: the auth layer does not know resources.)
ResourceCheck = Callable[[AsyncSession, Principal, int], Awaitable[bool]]
# The caller's role on a session now (labgate.sessions.sharing.session_access, given by
# the app), for sockets to a session someone else owns.
SessionCheck = Callable[[AsyncSession, Principal, str], Awaitable[SessionRole | None]]


async def _no_sessions(_db: AsyncSession, _principal: Principal, _session_id: str) -> None:
    return None


@dataclass(frozen=True)
class Accepted:
    """What a socket was accepted for."""

    principal: Principal
    action: Action
    resource_id: int | None = None
    owner_id: int | None = None
    #: A session's socket, and the caller's role there when it was accepted (one not
    #: the owner's is closed once the role ends or becomes less).
    session_id: str | None = None
    session_role: SessionRole | None = None

    @property
    def credential(self) -> tuple[str, int]:
        if self.principal.session_id is not None:
            return ("session", self.principal.session_id)
        assert self.principal.token_id is not None  # a principal has one or the other
        return ("token", self.principal.token_id)


class Watch:
    """One open WebSocket connection, served by ``task``."""

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.accepted: Accepted | None = None
        # Something came from the browser since the last check (see the module's doc).
        self.used = False
        # (code, reason) once the socket must close.
        self.ending: tuple[int, str] | None = None

    def end(self, code: int, reason: str) -> bool:
        """Close the socket: its task is cancelled and the close frame says why. False
        when it is closing already."""
        if self.ending is not None or self.task.done():
            return False
        self.ending = (code, reason)
        self.task.cancel(f"websocket closed: {reason}")
        return True


_current: ContextVar[Watch | None] = ContextVar("labgate_websocket_watch", default=None)


def note_use() -> None:
    """The browser sent something on the current WebSocket (its login is in use)."""
    watch = _current.get()
    if watch is not None:
        watch.used = True


class LiveSockets:
    """This replica's open WebSockets, checked against the database every second."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        may_use: ResourceCheck,
        session_role: SessionCheck = _no_sessions,
    ) -> None:
        self.database = database
        self.settings = settings
        self.may_use = may_use
        self.session_role = session_role
        self._open: set[Watch] = set()
        self._rechecks: set[asyncio.Task[None]] = set()

    @contextlib.contextmanager
    def connection(self) -> Iterator[Watch]:
        """The watch of the WebSocket connection served by the current task, for its
        lifetime (labgate.http.socket_watch)."""
        task = asyncio.current_task()
        assert task is not None
        watch = Watch(task)
        reset = _current.set(watch)
        try:
            yield watch
        finally:
            _current.reset(reset)
            self._open.discard(watch)

    def register(
        self,
        principal: Principal,
        action: Action,
        *,
        resource_id: int | None = None,
        owner_id: int | None = None,
        session_id: str | None = None,
        session_role: SessionRole | None = None,
    ) -> None:
        """The current WebSocket was accepted for ``principal`` to do ``action`` (on
        ``resource_id``, on what ``owner_id`` owns, in ``session_id`` as
        ``session_role``): from now on it ends when that is no longer true."""
        watch = _current.get()
        if watch is None:  # not behind labgate.http.socket_watch: nothing to end it with
            log.warning("a WebSocket for %s is not watched", action.name)
            return
        watch.accepted = Accepted(
            principal, action, resource_id, owner_id, session_id, session_role
        )
        self._open.add(watch)

    def register_session_use(
        self,
        principal: Principal,
        role: SessionRole,
        *,
        session_id: str,
        owner_id: int,
        resource_id: int,
    ) -> None:
        """The current WebSocket was accepted into a session (an app's, a desktop, a
        shared terminal) for ``principal`` in ``role``: it ends when their login or their
        share does; the owner's also when they lose the session's resource."""
        owner = role is SessionRole.OWNER
        self.register(
            principal,
            Action.USE_SESSION,
            resource_id=resource_id if owner else None,
            owner_id=owner_id if owner else None,
            session_id=session_id,
            session_role=role,
        )

    def count(self) -> int:
        return len(self._open)

    def recheck(self, user_id: int) -> None:
        """Check ``user_id``'s sockets now: this replica just changed their credentials
        (call it once the change is committed)."""
        watches = [w for w in self._open if w.accepted and w.accepted.principal.user_id == user_id]
        self._recheck(watches)

    def recheck_session(self, session_id: str) -> None:
        """Check the sockets to ``session_id`` now: its sharing changed here."""
        self._recheck([w for w in self._open if w.accepted and w.accepted.session_id == session_id])

    def _recheck(self, watches: list[Watch]) -> None:
        if not watches:
            return
        task = asyncio.create_task(self._check_logged(watches))
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL_SECONDS)
            await self._check_logged(list(self._open))

    async def close(self) -> None:
        for task in list(self._rechecks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _check_logged(self, watches: list[Watch]) -> None:
        try:
            await self.check(watches)
        except Exception:  # the next round tries again
            log.exception("checking the open WebSockets failed")

    async def check(self, watches: Iterable[Watch]) -> None:
        """Look the sockets' credentials up again and end those no longer allowed."""
        live = [w for w in watches if w.accepted is not None and w.ending is None]
        if not live:
            return
        accepted = [(w, w.accepted) for w in live if w.accepted is not None]
        session_ids = {a.credential[1] for _, a in accepted if a.credential[0] == "session"}
        token_ids = {a.credential[1] for _, a in accepted if a.credential[0] == "token"}
        async with self.database.read() as db:
            sessions = await find_live_sessions(db, session_ids, self.settings)
            tokens = await find_live_tokens(db, token_ids)
            now: dict[tuple[str, int], Principal] = {
                **{("session", i): s.principal() for i, s in sessions.items()},
                **{("token", i): t.principal() for i, t in tokens.items()},
            }
            visible: dict[tuple[Principal, int], bool] = {}
            roles: dict[tuple[Principal, str], SessionRole | None] = {}
            for watch, was in accepted:
                principal = now.get(was.credential)
                if principal is None:
                    reason = "login_ended" if was.credential[0] == "session" else "token_ended"
                    self._end(watch, was, LOGIN_ENDED, reason)
                elif not allowed(principal, was.action, owner_id=was.owner_id):
                    self._end(watch, was, NOT_ALLOWED, "access_withdrawn")
                elif was.resource_id is not None:
                    key = (principal, was.resource_id)
                    if key not in visible:
                        visible[key] = await self.may_use(db, principal, was.resource_id)
                    if not visible[key]:
                        self._end(watch, was, NOT_ALLOWED, "access_withdrawn")
                if (
                    watch.ending is None
                    and principal is not None
                    and was.session_id is not None
                    and was.session_role is not None
                    and was.session_role is not SessionRole.OWNER
                ):
                    shared = (principal, was.session_id)
                    if shared not in roles:
                        roles[shared] = await self.session_role(db, principal, was.session_id)
                    if not still_allows(was.session_role, roles[shared]):
                        self._end(watch, was, NOT_ALLOWED, "access_withdrawn")
        # A login in use through its sockets is not idle: refreshed like an HTTP request's.
        used = {a.credential[1] for w, a in accepted if w.used and a.credential[0] == "session"}
        for watch in live:
            watch.used = False
        stale = [i for i in used if i in sessions and sessions[i].stale]
        if stale:
            async with self.database.session() as writer:
                for session_id in stale:
                    await touch_session(writer, session_id)

    @staticmethod
    def _end(watch: Watch, accepted: Accepted, code: int, reason: str) -> None:
        if watch.end(code, reason):
            log.info("closed a WebSocket of %s: %s", accepted.principal.username, reason)
