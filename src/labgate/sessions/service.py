"""The rules of a user's sessions: launching (template, launcher, form, the resource,
the user's limit, when it ends), the list, stopping, forgetting, the app's log, asking
for more time and an administrator's decision on it.

The API (``api/sessions.py``) calls these after it has authorised the caller, and keeps
HTTP to itself: the request's shape, the answer, and the work that begins once the
request's transaction is committed (the launch, the stop, telling the tabs). A refusal
is a ``LabgateError`` (``errors.py``), which the API answers as it is.

Limits counted in the database (quotas, ``labgate.quotas``; extensions granted without
an administrator) are counted and acted on in one turn per user: concurrent requests of
one user take turns (:func:`one_at_a_time`), so they cannot all pass one check together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from labgate.accounts.users import group_names
from labgate.auth.principal import Principal
from labgate.db.engine import lock_per_user
from labgate.db.models import (
    ENDED_SESSION_STATES,
    LIVE_SESSION_STATES,
    AppSession,
    ExtensionState,
    Resource,
    SessionExtension,
    SessionState,
    User,
)
from labgate.db.types import utcnow
from labgate.errors import Conflict, FieldProblem, LimitReached, NotFound, ValidationFailed
from labgate.experiments import access as experiment_access
from labgate.experiments.membership import member_of
from labgate.launching.launcher import Launcher, launchable
from labgate.launching.template import AppTemplate, validate_form
from labgate.notifications.centre import notify
from labgate.notifications.kinds import EXTENSION
from labgate.quotas import accounting, check
from labgate.quotas.requested import requested
from labgate.resources import catalog
from labgate.resources.access import check_still_allowed
from labgate.sessions import switches
from labgate.sessions.lifecycle import Lifecycle, Parts
from labgate.sessions.policy import policy_for
from labgate.sessions.tokens import SessionTokens, new_session_id
from labgate.settings import Settings

# The most sessions or extension requests one list holds, newest first.
LISTED = 200


class SessionRulesNeeds(Protocol):
    """What the rules use of the running server (the app's state has it all)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def templates(self) -> Mapping[str, AppTemplate]: ...

    @property
    def session_tokens(self) -> SessionTokens: ...

    @property
    def plugins(self) -> Parts: ...


_SESSIONS_LOCK = 0x73657373


async def one_at_a_time(db: AsyncSession, user_id: int) -> None:
    """Until the transaction ends, other transactions that count or change this user's
    sessions wait here (:func:`labgate.db.engine.lock_per_user`, as uploads and
    transfers do for theirs)."""
    await lock_per_user(db, _SESSIONS_LOCK, user_id)


# -- finding and listing -------------------------------------------------------------------


async def find(db: AsyncSession, principal: Principal, session_id: str) -> AppSession:
    """The session, if the caller may know of it (its owner, an administrator); any other
    caller is told there is none (404)."""
    row = await db.get(AppSession, session_id)
    if row is None or (row.user_id != principal.user_id and not principal.is_admin):
        raise NotFound(f"There is no session {session_id!r}.")
    return row


@dataclass(frozen=True)
class SessionFilter:
    """What a list of sessions is narrowed to (None: any)."""

    username: str | None = None
    resource_id: int | None = None
    experiment_id: int | None = None
    state: SessionState | None = None
    #: Only those not ended.
    live: bool = False

    @property
    def narrows(self) -> bool:
        """Whether it names a user, resource, experiment or state (``live`` aside)."""
        given = (self.username, self.resource_id, self.experiment_id, self.state)
        return any(value is not None for value in given)


async def listed(
    db: AsyncSession, *, user_id: int | None, narrowed: SessionFilter
) -> list[AppSession]:
    """Newest first: ``user_id``'s sessions, everybody's when None, as ``narrowed``."""
    query = select(AppSession).order_by(AppSession.created_at.desc()).limit(LISTED)
    if user_id is not None:
        query = query.where(AppSession.user_id == user_id)
    if narrowed.live:
        query = query.where(AppSession.state.in_(LIVE_SESSION_STATES))
    if narrowed.username is not None:
        query = query.join(User, User.id == AppSession.user_id).where(
            User.username == narrowed.username
        )
    if narrowed.resource_id is not None:
        query = query.where(AppSession.resource_id == narrowed.resource_id)
    if narrowed.experiment_id is not None:
        query = query.where(AppSession.experiment_id == narrowed.experiment_id)
    if narrowed.state is not None:
        query = query.where(AppSession.state == narrowed.state.value)
    return list(await db.scalars(query))


async def of_my_experiments(db: AsyncSession, user_id: int) -> list[AppSession]:
    """Newest first: the live sessions other members of ``user_id``'s experiments launched
    for those experiments. Listed only, so that members see each other's work: being
    listed gives no access (the owner shares a session for that)."""
    query = (
        select(AppSession)
        .where(
            AppSession.user_id != user_id,
            AppSession.state.in_(LIVE_SESSION_STATES),
            AppSession.experiment_id.in_(member_of(user_id)),
        )
        .order_by(AppSession.created_at.desc())
        .limit(LISTED)
    )
    return list(await db.scalars(query))


async def latest_extensions(db: AsyncSession, ids: list[str]) -> dict[str, SessionExtension]:
    """Each session's newest request for more time (sessions without one are left out)."""
    if not ids:
        return {}
    rows = await db.scalars(
        select(SessionExtension)
        .where(SessionExtension.session_id.in_(ids))
        .order_by(SessionExtension.requested_at)
    )
    return {row.session_id: row for row in rows}  # the newest wins


@dataclass(frozen=True)
class ExtensionRequest:
    """A request for more time with what an administrator deciding it wants to know:
    whose, for which session on which resource, and who decided it."""

    extension: SessionExtension
    session: AppSession
    username: str
    display_name: str
    resource_name: str
    decided_by: str | None


#: How long an administrator's decisions stay listed (``extension_requests(decided=True)``).
DECIDED_LISTED_FOR = timedelta(days=7)


async def extension_requests(
    db: AsyncSession, state: str | None, *, decided: bool = False
) -> list[ExtensionRequest]:
    """Requests for more time, newest first; only those in ``state`` when given. With
    ``decided``: those an administrator decided in the last :data:`DECIDED_LISTED_FOR`,
    the latest decision first (those granted at once within the policy are left out: an
    automatic grant is decided the moment it is asked)."""
    decider = aliased(User)
    query = (
        select(SessionExtension, AppSession, User.username, User.display_name, Resource.name)
        .add_columns(decider.username)
        .join(AppSession, AppSession.id == SessionExtension.session_id)
        .join(User, User.id == AppSession.user_id)
        .join(Resource, Resource.id == AppSession.resource_id)
        .outerjoin(decider, decider.id == SessionExtension.decided_by)
        .limit(LISTED)
    )
    if state is not None:
        query = query.where(SessionExtension.state == state)
    if decided:
        query = query.where(
            SessionExtension.state != ExtensionState.PENDING.value,
            SessionExtension.decided_at > SessionExtension.requested_at,
            SessionExtension.decided_at >= utcnow() - DECIDED_LISTED_FOR,
        ).order_by(SessionExtension.decided_at.desc())
    else:
        query = query.order_by(SessionExtension.requested_at.desc())
    return [ExtensionRequest(*row) for row in (await db.execute(query)).all()]


# -- launching, stopping, forgetting --------------------------------------------------------


async def _default_title(
    db: AsyncSession, user_id: int, template: AppTemplate, resource: Resource
) -> str:
    """ "Desktop on box", numbered ("Desktop on box (2)") while the user has a live session
    of that title already, so that two open at once are two tabs of different names
    (asked in the user's turn: :func:`one_at_a_time`)."""
    base = f"{template.title} on {resource.name}"
    taken = set(
        await db.scalars(
            select(AppSession.title).where(
                AppSession.user_id == user_id,
                AppSession.state.in_(LIVE_SESSION_STATES),
                AppSession.title.startswith(base, autoescape=True),
            )
        )
    )
    if base not in taken:
        return base
    number = 2
    while f"{base} ({number})" in taken:
        number += 1
    return f"{base} ({number})"


async def launch(
    db: AsyncSession,
    needs: SessionRulesNeeds,
    principal: Principal,
    *,
    template: str,
    launcher: str,
    resource_id: int,
    title: str,
    form: Mapping[str, Any],
    experiment_id: int | None = None,
) -> AppSession:
    """A new session in ``pending``, added to ``db`` (it is launched once committed),
    with its usage row (``quotas.accounting``). Refused: an unknown template or launcher,
    a template an administrator switched off, or a form it does not accept (422); a
    resource the caller may not use (404); beyond a quota (409 ``quota_exceeded``,
    ``quotas.check``); an ``experiment_id`` the caller is no member of (404) or outside
    its dates (409)."""
    chosen = needs.templates.get(template)
    if chosen is None or not chosen.launchable:
        known = ", ".join(sorted(t.id for t in needs.templates.values() if t.launchable))
        raise ValidationFailed(
            f"There is no app template {template!r}. Known: {known}.",
            details=[FieldProblem("body.template", f"unknown template (known: {known})")],
        )
    await switches.refuse_disabled(db, chosen.id, chosen.title)
    launchers = needs.plugins.launchers()
    runs_with = launchers.get(launcher)
    if runs_with is None or not launchable(runs_with):
        offered = ", ".join(sorted(n for n, x in launchers.items() if launchable(x)))
        raise ValidationFailed(
            f"There is no launcher {launcher!r}.",
            details=[FieldProblem("body.launcher", f"one of {offered}")],
        )
    values = validate_form(chosen, form, batch=runs_with.batch)
    resource: Resource = await catalog.get_visible(db, principal, needs.settings, resource_id)
    # Before any limit is counted: the experiment's own quota is no business of others.
    experiment = (
        await experiment_access.for_launch(db, needs.settings, principal, experiment_id)
        if experiment_id is not None
        else None
    )
    policy = policy_for(principal.role, needs.settings)
    await one_at_a_time(db, principal.user_id)
    # Every limit on what is in use (sessions at once included) and used this month.
    asked = requested(values, batch=runs_with.batch, settings=needs.settings)
    await check.check_launch(db, needs.settings, principal, asked, experiment_id=experiment_id)
    now = utcnow()
    session_id = new_session_id()
    token = needs.session_tokens.new()
    row = AppSession(
        id=session_id,
        user_id=principal.user_id,
        resource_id=resource.id,
        template=chosen.id,
        launcher=runs_with.name,
        title=title or await _default_title(db, principal.user_id, chosen, resource),
        form=values,
        state=SessionState.PENDING.value,
        message="",
        launcher_state={},
        sealed_token=needs.session_tokens.seal(token, session_id),
        progress=[],
        log_tail="",
        created_at=now,
        last_activity_at=now,
        idle_minutes=policy.idle_minutes,
        ends_at=ends_at(now, policy.max_hours, values if runs_with.batch else None),
        lease_owner="",
        updated_at=now,
        experiment_id=experiment_id,
    )
    if experiment is not None:  # its data is attached at launch; it ends by its dates
        row.ends_at = experiment_access.capped(row.ends_at, experiment, needs.settings)
    db.add(row)
    await db.flush()
    await accounting.opened(
        db,
        row,
        username=principal.username,
        role=principal.role,
        groups=(await group_names(db, [principal.user_id]))[principal.user_id],
        asked=asked,
    )
    return row


def ends_at(now: datetime, max_hours: int, batch_form: dict[str, Any] | None) -> datetime | None:
    """The end of a session's life: the policy's lifetime, or a batch job's time limit
    when that comes first (the scheduler ends the job then)."""
    ends = [now + timedelta(hours=max_hours)] if max_hours else []
    if batch_form is not None:
        ends.append(now + timedelta(minutes=int(batch_form.get("walltime_minutes", 60))))
    return min(ends) if ends else None


def stop(principal: Principal, row: AppSession) -> str | None:
    """Mark a live session ``stopping``; the reason to stop its app with once that is
    committed (None: it has ended already, nothing changes)."""
    if row.state not in LIVE_SESSION_STATES:
        return None
    who = "you" if row.user_id == principal.user_id else f"administrator {principal.username}"
    row.state = SessionState.STOPPING.value
    row.message = f"stopped by {who}"
    return row.message


async def forget(db: AsyncSession, row: AppSession) -> None:
    """Delete an ended session; a live one is refused (409)."""
    if row.state in LIVE_SESSION_STATES:
        raise Conflict("The session is still live; stop it first.")
    await db.delete(row)


async def log_of(lifecycle: Lifecycle, row: AppSession) -> str:
    """What the app printed: asked of its launcher while it may still be there, else the
    tail kept when it ended."""
    if row.state in ENDED_SESSION_STATES or not row.launcher_state:
        return row.log_tail
    return await lifecycle.read_log(row.id) or row.log_tail


# -- more time -------------------------------------------------------------------------------


async def extend(
    db: AsyncSession,
    settings: Settings,
    principal: Principal,
    row: AppSession,
    *,
    hours: int,
    reason: str,
    launchers: Mapping[str, Launcher],
) -> SessionExtension:
    """A request for ``hours`` more: within the policy (``app_extension_hours``,
    ``app_auto_extensions``) granted at once (:func:`grant`), otherwise left waiting
    for an administrator. Refused (409) for a session no longer live or beyond the
    waiting room, (403 ``access_lost``) once the owner may no longer use its resource."""
    await one_at_a_time(db, row.user_id)
    await db.refresh(row)  # as the transaction before this one in turn left it
    if row.state not in (
        SessionState.RUNNING.value,
        SessionState.STARTING.value,
        SessionState.PENDING.value,
    ):
        raise Conflict("Only a live session can be extended.")
    await check_owner_access(db, settings, row)
    policy = policy_for(principal.role, settings)
    granted_before = await db.scalar(
        select(func.count())
        .select_from(SessionExtension)
        .where(
            SessionExtension.session_id == row.id,
            SessionExtension.state == ExtensionState.GRANTED.value,
        )
    )
    automatic = (
        hours <= policy.auto_extension_hours and (granted_before or 0) < policy.auto_extensions
    )
    if not automatic:
        await check_waiting_room(db, settings, principal.user_id)
    now = utcnow()
    extension = SessionExtension(
        session_id=row.id,
        hours=hours,
        reason=reason,
        state=ExtensionState.GRANTED.value if automatic else ExtensionState.PENDING.value,
        requested_at=now,
        decided_at=now if automatic else None,
    )
    db.add(extension)
    if automatic:
        extension.granted_hours = hours
        grant(row, hours, now, launchers)
        await experiment_access.keep_within_dates(db, settings, row)
    await db.flush()
    return extension


async def check_waiting_room(db: AsyncSession, settings: Settings, user_id: int) -> None:
    """Refuse (409) a request that would wait for an administrator beyond the user's
    ``app_max_pending_extensions`` (counted in the user's turn: :func:`one_at_a_time`)."""
    waiting = await db.scalar(
        select(func.count())
        .select_from(SessionExtension)
        .join(AppSession, AppSession.id == SessionExtension.session_id)
        .where(
            AppSession.user_id == user_id,
            SessionExtension.state == ExtensionState.PENDING.value,
        )
    )
    if (waiting or 0) >= settings.app_max_pending_extensions:
        raise LimitReached(
            "too_many_extension_requests",
            f"You have {waiting} requests for more time waiting for an administrator, the "
            "most labgate keeps for one person. Wait for an answer before asking again.",
        )


async def check_owner_access(db: AsyncSession, settings: Settings, row: AppSession) -> None:
    """More time only for a session whose owner may still use its resource."""
    resource = await db.get(Resource, row.resource_id)
    if resource is not None:
        await check_still_allowed(db, settings, row.user_id, resource)


def grant(row: AppSession, hours: int, now: datetime, launchers: Mapping[str, Launcher]) -> None:
    """More time: the idle clock starts again, and the end moves, except for a batch job,
    whose time limit only the scheduler's administrators can raise (``launchers``: the
    loaded plug-ins', which say which the session's is)."""
    row.last_activity_at = now
    row.warned_at = None
    row.warnings_sent = 0
    launcher = launchers.get(row.launcher)
    if row.ends_at is not None and launcher is not None and not launcher.batch:
        row.ends_at = max(row.ends_at, now) + timedelta(hours=hours)


@dataclass(frozen=True)
class Decision:
    """A request for more time, decided, and its session (None: it was forgotten)."""

    extension: SessionExtension
    session: AppSession | None


async def decide(
    db: AsyncSession,
    settings: Settings,
    principal: Principal,
    extension_id: int,
    *,
    granted: bool,
    launchers: Mapping[str, Launcher],
    hours: int | None = None,
    answer: str = "",
) -> Decision:
    """An administrator grants or refuses a waiting request, once: a second decision,
    even at the same time, is refused (409). A grant gives ``hours`` (those asked when
    None) and moves a live session's end (:func:`grant`), unless its owner may no
    longer use its resource (403). ``answer`` is shown to the user with the decision."""
    if hours is not None and not granted:
        message = "Hours are given only with a grant."
        raise ValidationFailed(message, details=[FieldProblem("body.hours", message)])
    # Locked (PostgreSQL) so that two administrators deciding at once take turns: the
    # second finds it decided.
    extension = await db.get(
        SessionExtension, extension_id, with_for_update=True, populate_existing=True
    )
    if extension is None:
        raise NotFound(f"There is no extension request {extension_id}.")
    if extension.state != ExtensionState.PENDING.value:
        raise Conflict(f"This request was {extension.state} already.")
    now = utcnow()
    extension.state = (ExtensionState.GRANTED if granted else ExtensionState.REFUSED).value
    extension.decided_at = now
    extension.decided_by = principal.user_id
    extension.answer = answer
    if granted:
        extension.granted_hours = extension.hours if hours is None else hours
    row = await db.get(AppSession, extension.session_id)
    if row is not None:
        await one_at_a_time(db, row.user_id)  # with the owner's own extensions
        await db.refresh(row)
    if row is not None and granted and row.state in LIVE_SESSION_STATES:
        await check_owner_access(db, settings, row)
        grant(row, extension.granted_hours or extension.hours, now, launchers)
        await experiment_access.keep_within_dates(db, settings, row)
    if row is not None:
        if granted:
            given = extension.granted_hours or extension.hours
            title = f"You got {given} more hours for {row.title}"
        else:
            title = f"Your request for more time for {row.title} was refused"
        body = f"An administrator decided on your request for {extension.hours} more hours."
        if answer:
            body += f" Their answer: {answer}"
        await notify(db, row.user_id, EXTENSION, title, body, {"session": row.id})
    return Decision(extension, row)
