"""Asking the sign-in providers again whether the people signed in through them still
hold: an LDAP entry locked or gone, a PAM account expired, an OpenID provider refusing
to refresh. Disabling an account at the provider then ends its access to labgate too,
within ``identity_recheck_minutes`` (0: never asked).

Every :data:`TICK_SECONDS` each replica looks for the identities that are due: their
provider can re-check (:class:`~labgate.auth.providers.Rechecking`), a live login session
began with them, and neither a check nor a sign-in happened within the interval. Each is
*claimed* before it is asked, by a conditional UPDATE of ``checked_at`` (when it was last
asked): of two replicas that find it due at once, one asks. The provider is asked with no
transaction open (a directory may take seconds), at most :data:`CONCURRENT` at a time,
each within :data:`ASK_TIMEOUT_SECONDS`; its answer is written in a short transaction.

- It holds: nothing more; a new secret it gives (a rotated refresh token) is kept, sealed.
- It is refused: ``refused_at`` is set and the sessions begun with it end at once (with
  their open WebSockets, on every replica). An account left with no other way in (no
  identity that is not refused, no labgate password) is disabled with
  ``disabled_reason = "provider"``, so its API tokens stop as well; its next sign-in
  that a provider vouches for enables it again (labgate.accounts.identities).
- It could not be asked (``None``, an error, too slow): nothing changes, and it is asked
  again an interval later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.accounts.identities import REFUSED_BY_PROVIDER, secret_purpose
from labgate.accounts.users import count_admins
from labgate.auth.providers import AuthProvider, Recheck, Rechecking
from labgate.auth.sessions import (
    LOCAL_PROVIDER,
    live_now,
    revoke_identity_sessions,
    revoke_user_sessions,
)
from labgate.auth.tokens import unexpired
from labgate.credentials.vault import Vault
from labgate.db.engine import Database
from labgate.db.models import ApiToken, LoginSession, Role, User, UserIdentity
from labgate.db.types import utcnow
from labgate.errors import LabgateError
from labgate.settings import Settings

log = logging.getLogger(__name__)

#: How often a replica looks for identities that are due (at most; shorter intervals
#: are looked at as often as they are).
TICK_SECONDS = 60.0
#: Providers asked at once, so that a slow directory never holds up the server.
CONCURRENT = 8
#: A provider that has not answered by then "could not be asked".
ASK_TIMEOUT_SECONDS = 30.0
#: Identities looked at per round; more wait for the next.
BATCH = 500


@dataclass(frozen=True)
class _Due:
    id: int
    provider: str
    subject: str
    secret: bytes | None


@dataclass
class Round:
    """What one round did (for the log and the tests)."""

    asked: int = 0
    held: int = 0
    refused: int = 0
    unanswered: int = 0


class IdentityRecheck:
    """This replica's re-checking of identities (see the module's doc). ``ended(user_id)``
    is called once a refusal is committed: the app checks that user's open sockets and
    forgets the callers its proxy remembered."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        providers: Sequence[AuthProvider],
        vault: Callable[[], Vault],
        ended: Callable[[int], None],
    ) -> None:
        self.database = database
        self.settings = settings
        self.vault = vault
        self.ended = ended
        self.providers: dict[str, Rechecking] = {
            p.name: p for p in providers if isinstance(p, Rechecking)
        }

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.settings.identity_recheck_minutes)

    async def run_forever(self) -> None:
        """A round now and every :data:`TICK_SECONDS` (or the interval, if shorter), until
        cancelled; returns at once when re-checking is off or no provider re-checks."""
        if self.settings.identity_recheck_minutes == 0 or not self.providers:
            return
        pause = min(TICK_SECONDS, self.interval.total_seconds())
        while True:
            try:
                done = await self.run_once()
                if done.refused or done.unanswered:
                    log.info("identity re-check: %s", done)
            except Exception:  # the next round tries again
                log.exception("re-checking identities failed")
            await asyncio.sleep(pause)

    async def run_once(self) -> Round:
        """Ask the providers about every identity due now."""
        done = Round()
        if not self.providers:
            return done
        now = utcnow()
        async with self.database.read() as db:
            rows = (
                await db.execute(
                    select(
                        UserIdentity.id,
                        UserIdentity.provider,
                        UserIdentity.subject,
                        UserIdentity.recheck_secret,
                    )
                    .where(
                        UserIdentity.provider.in_(self.providers),
                        self._due(now - self.interval),
                        # In use: a live session begun with it, or a live API token
                        # of its account (a token outlives the browser session).
                        or_(
                            exists().where(
                                LoginSession.identity_id == UserIdentity.id,
                                live_now(self.settings),
                            ),
                            exists().where(
                                ApiToken.user_id == UserIdentity.user_id, unexpired(now)
                            ),
                        ),
                    )
                    .order_by(UserIdentity.id)
                    .limit(BATCH)
                )
            ).all()
        bound = asyncio.Semaphore(CONCURRENT)

        async def one(due: _Due) -> None:
            async with bound:
                await self._recheck(due, done)

        await asyncio.gather(*(one(_Due(*row)) for row in rows))
        return done

    @staticmethod
    def _due(cutoff: datetime) -> ColumnElement[bool]:
        """Neither asked nor signed in with since ``cutoff``."""
        return and_(
            or_(UserIdentity.checked_at.is_(None), UserIdentity.checked_at <= cutoff),
            or_(UserIdentity.last_login_at.is_(None), UserIdentity.last_login_at <= cutoff),
        )

    async def _claim(self, identity_id: int) -> bool:
        """Mark the identity asked now, unless another replica just did."""
        now = utcnow()
        async with self.database.session() as db:
            result = await db.execute(
                update(UserIdentity)
                .where(UserIdentity.id == identity_id, self._due(now - self.interval))
                .values(checked_at=now)
            )
            return cast(CursorResult[Any], result).rowcount == 1

    async def _recheck(self, due: _Due, done: Round) -> None:
        if not await self._claim(due.id):
            return
        done.asked += 1
        answer = await self._ask(due)
        if answer.holds is None:
            done.unanswered += 1
        elif answer.holds:
            done.held += 1
            await self._held(due, answer)
        else:
            done.refused += 1
            user_id = await self._refused(due)
            if user_id is not None:
                self.ended(user_id)

    async def _ask(self, due: _Due) -> Recheck:
        secret: bytes | None = None
        if due.secret is not None:
            try:
                secret = self.vault().open(due.secret, secret_purpose(due.id))
            except LabgateError:
                # Sealed with another server secret: the provider is asked without it.
                log.warning("the re-check secret of identity %d cannot be opened", due.id)
        try:
            async with asyncio.timeout(ASK_TIMEOUT_SECONDS):
                return await self.providers[due.provider].recheck(due.subject, secret)
        except Exception:
            log.warning(
                "asking %s whether identity %d still holds failed",
                due.provider,
                due.id,
                exc_info=True,
            )
            return Recheck(holds=None)

    async def _held(self, due: _Due, answer: Recheck) -> None:
        values: dict[str, Any] = {"checked_at": utcnow()}
        if answer.secret is not None:
            values["recheck_secret"] = self.vault().seal(answer.secret, secret_purpose(due.id))
        async with self.database.session() as db:
            await db.execute(update(UserIdentity).where(UserIdentity.id == due.id).values(values))

    async def _refused(self, due: _Due) -> int | None:
        """Record the refusal and end what it ends; the account's id (None: the identity
        was unlinked meanwhile)."""
        async with self.database.session() as db:
            identity = await db.get(UserIdentity, due.id)
            if identity is None:
                return None
            user = await db.get(User, identity.user_id)
            assert user is not None  # the identity goes with its account
            identity.refused_at = utcnow()
            await revoke_identity_sessions(db, identity.id)
            audit.record(
                db,
                "identity_refused",
                target=user.username,
                provider=identity.provider,
                subject=identity.subject,
            )
            if not user.disabled and not await _other_way_in(
                db, user, identity.id, local_active=LOCAL_PROVIDER in self.settings.auth_providers
            ):
                if user.role == Role.ADMIN.value and await count_admins(db) <= 1:
                    # Never lock everybody out of the console: the sessions ended, and
                    # the provider refuses the next sign-in there anyway.
                    log.warning(
                        "%s refused %s, the last enabled administrator: left enabled",
                        identity.provider,
                        user.username,
                    )
                else:
                    user.disabled = True
                    user.disabled_reason = REFUSED_BY_PROVIDER
                    user.updated_at = utcnow()
                    await revoke_user_sessions(db, user.id)
                    audit.record(
                        db,
                        "user_updated",
                        target=user.username,
                        changes={"disabled": True},
                        by=f"re-check at {identity.provider}",
                    )
            return user.id


async def _other_way_in(
    db: AsyncSession, user: User, identity_id: int, *, local_active: bool
) -> bool:
    """Whether ``user`` can still sign in otherwise: a labgate password (when the form
    asks labgate's own accounts), or another identity its provider has not refused."""
    if user.password_hash is not None and local_active:
        return True
    others = await db.scalar(
        select(func.count())
        .select_from(UserIdentity)
        .where(
            UserIdentity.user_id == user.id,
            UserIdentity.id != identity_id,
            UserIdentity.refused_at.is_(None),
        )
    )
    return bool(others)
