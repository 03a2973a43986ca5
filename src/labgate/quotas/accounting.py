"""The accounting of what sessions use: one ``SessionUsage`` row per launched session,
written in the launch's transaction (:func:`opened`), marked when the session first runs
(:func:`became_ready`) and when it ends (:func:`ended`, from every path that ends one;
a second call changes nothing). From these rows and the live sessions: what a quota's
scope has in use now and has used this month (:func:`usage_of`).

Core-hours are cores x the hours from ``started_at`` to ``ended_at`` (or now), clipped
to the calendar month (UTC); GPU-hours the same with GPUs. Everything is in the
database, so a restart of the server (or another replica) loses nothing: a session live
across it keeps accruing, an ended one keeps its hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import (
    ENDED_SESSION_STATES,
    LIVE_SESSION_STATES,
    AppSession,
    Membership,
    QuotaScope,
    SessionUsage,
)
from labgate.launchers.terminal import NAME as TERMINAL_LAUNCHER
from labgate.quotas.limits import Scoped
from labgate.quotas.requested import Requested

#: Taken (across replicas) by launches that count against a group's or an experiment's
#: quota, and by the periodic pass of quota warnings.
QUOTAS_LOCK = 0x71756F74

# -- the rows ----------------------------------------------------------------------------


async def opened(
    db: AsyncSession,
    row: AppSession,
    *,
    username: str,
    role: str,
    groups: Sequence[str],
    asked: Requested,
) -> SessionUsage:
    """The usage row of a session just launched (``row``, flushed), in the launch's
    transaction: refused launches leave none."""
    usage = SessionUsage(
        session_id=row.id,
        user_id=row.user_id,
        username=username,
        role=role,
        groups=list(groups),
        experiment_id=row.experiment_id,
        resource_id=row.resource_id,
        template=row.template,
        launcher=row.launcher,
        cores=asked.cores,
        memory_gb=asked.memory_gb,
        gpus=asked.gpus,
        started_at=row.created_at,
    )
    db.add(usage)
    await db.flush()
    return usage


async def became_ready(db: AsyncSession, session_id: str, at: datetime) -> None:
    """The session runs: the first time is kept."""
    await db.execute(
        update(SessionUsage)
        .where(SessionUsage.session_id == session_id, SessionUsage.ready_at.is_(None))
        .values(ready_at=at)
    )


async def ended(
    db: AsyncSession, session_id: str, outcome: str, at: datetime, failure_reason: str = ""
) -> None:
    """The session ended (``stopped``, ``failed``, ``expired``; for a failure a short
    reason: ``timeout``, ``app_exited``, ``scheduler``, ``start_failed``, ``other``): the
    first end is kept."""
    await db.execute(
        update(SessionUsage)
        .where(SessionUsage.session_id == session_id, SessionUsage.ended_at.is_(None))
        .values(
            ended_at=at,
            outcome=outcome,
            failure_reason=failure_reason if outcome == "failed" else "",
        )
    )


async def close_orphans(db: AsyncSession, now: datetime) -> int:
    """End the rows still open whose session ended without saying so, or was deleted
    with its owner or resource (at the session's end when it is known, else now); how
    many."""
    ended_sessions = select(AppSession.id, AppSession.state, AppSession.ended_at).where(
        AppSession.state.in_(ENDED_SESSION_STATES)
    )
    count = 0
    for session_id, state, at in (
        await db.execute(
            ended_sessions.join(
                SessionUsage,
                (SessionUsage.session_id == AppSession.id) & SessionUsage.ended_at.is_(None),
            )
        )
    ).all():
        await ended(db, session_id, state, at or now, "other" if state == "failed" else "")
        count += 1
    gone = select(AppSession.id).where(AppSession.id == SessionUsage.session_id).exists()
    result = cast(
        CursorResult[Any],
        await db.execute(
            update(SessionUsage)
            .where(SessionUsage.ended_at.is_(None), ~gone)
            .values(ended_at=now, outcome="stopped")
        ),
    )
    return count + result.rowcount


# -- months ------------------------------------------------------------------------------


def month_of(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) ``now`` is in: its first moment and the next month's."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, following


def month_label(now: datetime) -> str:
    """ "2026-12"."""
    return now.astimezone(UTC).strftime("%Y-%m")


def hours_within(
    started: datetime, ended: datetime | None, start: datetime, end: datetime, now: datetime
) -> float:
    """The hours of [started, ended or now] within [start, end)."""
    last = min(ended or now, end, now)
    first = max(started, start)
    return max(0.0, (last - first).total_seconds() / 3600)


# -- what is in use ------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveSession:
    """A live session holding some of a quota."""

    id: str
    title: str
    ends_at: datetime | None
    cores: int
    memory_gb: int
    gpus: int
    #: The user asking's own: a refusal names only their own sessions (a group's or an
    #: experiment's quota is shared with others, whose sessions are theirs to know).
    mine: bool


@dataclass(frozen=True)
class Usage:
    """What a scope has in use now (its live sessions) and has used this month."""

    live: tuple[LiveSession, ...]
    core_hours: float
    gpu_hours: float

    @property
    def sessions(self) -> int:
        return len(self.live)

    @property
    def cores(self) -> int:
        return sum(s.cores for s in self.live)

    @property
    def memory_gb(self) -> int:
        return sum(s.memory_gb for s in self.live)

    @property
    def gpus(self) -> int:
        return sum(s.gpus for s in self.live)

    def to_json(self) -> dict[str, float]:
        return {
            "sessions": self.sessions,
            "cores": self.cores,
            "memory_gb": self.memory_gb,
            "gpus": self.gpus,
            "core_hours": round(self.core_hours, 2),
            "gpu_hours": round(self.gpu_hours, 2),
        }


def _whose(scoped: Scoped, user_id: int, column: Any) -> ColumnElement[bool]:
    """Rows of the scope: the user's own for their role's quota, the current members'
    of a group, the experiment's sessions."""
    if scoped.scope == QuotaScope.GROUP.value:
        members = select(Membership.user_id).where(Membership.group_id == int(scoped.subject))
        return cast(ColumnElement[bool], column.user_id.in_(members))
    if scoped.scope == QuotaScope.EXPERIMENT.value:
        return cast(ColumnElement[bool], column.experiment_id == int(scoped.subject))
    return cast(ColumnElement[bool], column.user_id == user_id)


async def usage_of(db: AsyncSession, scoped: Scoped, user_id: int, now: datetime) -> Usage:
    """What ``scoped`` (for ``user_id``, whose role's quota is theirs alone) has in use
    and has used in ``now``'s month."""
    live = await db.execute(
        select(
            AppSession.id,
            AppSession.title,
            AppSession.ends_at,
            func.coalesce(SessionUsage.cores, 1),
            func.coalesce(SessionUsage.memory_gb, 0),
            func.coalesce(SessionUsage.gpus, 0),
            AppSession.user_id == user_id,
        )
        .outerjoin(SessionUsage, SessionUsage.session_id == AppSession.id)
        .where(
            _whose(scoped, user_id, AppSession),
            AppSession.state.in_(LIVE_SESSION_STATES),
            # A shared terminal is no app of its own: it uses nothing.
            AppSession.launcher != TERMINAL_LAUNCHER,
        )
        .order_by(AppSession.created_at)
    )
    start, end = month_of(now)
    rows = await db.execute(
        select(
            SessionUsage.cores,
            SessionUsage.gpus,
            SessionUsage.started_at,
            SessionUsage.ended_at,
            AppSession.ended_at,
        )
        .outerjoin(AppSession, AppSession.id == SessionUsage.session_id)
        .where(
            _whose(scoped, user_id, SessionUsage),
            SessionUsage.started_at < end,
            or_(SessionUsage.ended_at.is_(None), SessionUsage.ended_at > start),
        )
    )
    core_hours = gpu_hours = 0.0
    for cores, gpus, started, ended_at, session_ended in rows.all():
        hours = hours_within(started, ended_at or session_ended, start, end, now)
        core_hours += cores * hours
        gpu_hours += gpus * hours
    return Usage(
        live=tuple(LiveSession(*row[:6], mine=bool(row[6])) for row in live.all()),
        core_hours=core_hours,
        gpu_hours=gpu_hours,
    )
