"""The usage figures: each a set of named series over the days of a range.

Everything is read from the history in the database, never from logs: sessions from
``session_usage`` (written by the quota accounting, one row per launched session, kept
after the session is forgotten) and active users from ``active_days``.

What each costs, so that a figure over the longest range (``MAX_DAYS``) stays cheap:

- counts per day (sessions started by template, failures by reason, active users) are
  grouped in SQL: the answer is at most days x series rows;
- core- and GPU-hours are split across the days a session ran, which is done in Python
  over the rows streamed from the database (only the few columns needed; memory is the
  days x series table, not the rows);
- launch times are streamed in order of launch and each day's p50/p95 taken when the
  next day begins, so memory is one day's launches.

A figure keeps its ``MAX_SERIES - 1`` largest series; the rest are added up as "other".
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import ColumnElement, String, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from labgate.db.models import ActiveDay, Experiment, SessionUsage
from labgate.db.types import utcnow
from labgate.usage.days import DayRange

#: The most series one figure draws (the last of them "other"): a chart's legend and
#: colours stay readable, a CSV stays narrow.
MAX_SERIES = 12
OTHER = "other"
NO_GROUP = "(no group)"
NO_EXPERIMENT = "(no experiment)"

Value = int | float | None


class FigureName(StrEnum):
    SESSIONS = "sessions"
    ACTIVE_USERS = "active-users"
    CORE_HOURS_BY_GROUP = "core-hours-by-group"
    GPU_HOURS_BY_GROUP = "gpu-hours-by-group"
    CORE_HOURS_BY_EXPERIMENT = "core-hours-by-experiment"
    GPU_HOURS_BY_EXPERIMENT = "gpu-hours-by-experiment"
    LAUNCH_TIMES = "launch-times"
    FAILURES = "failures"


class Style(StrEnum):
    """How a figure is best drawn: parts of a whole per day, or values to compare."""

    STACKED = "stacked"
    LINES = "lines"


@dataclass(frozen=True)
class Series:
    name: str
    values: list[Value]


@dataclass(frozen=True)
class Figure:
    """One figure: ``labels`` are the days (``YYYY-MM-DD``), each series has a value per
    day (None: nothing to show that day, e.g. no launch to time)."""

    name: FigureName
    title: str
    unit: str
    style: Style
    labels: list[str]
    series: list[Series]


#: How a figure's series are computed: from the database, over the days, up to now.
Compute = Callable[[AsyncSession, DayRange, datetime], Awaitable[list[Series]]]


async def figure(
    db: AsyncSession, name: FigureName, days: DayRange, *, now: datetime | None = None
) -> Figure:
    """The figure ``name`` over ``days``; a session still running counts up to ``now``."""
    about = _FIGURES[name]
    series = await about.compute(db, days, now or utcnow())
    return Figure(name, about.title, about.unit, about.style, days.labels, series)


# -- counts grouped in SQL ---------------------------------------------------------------


def _day(db: AsyncSession, column: QueryableAttribute[Any]) -> ColumnElement[str]:
    """The UTC day of a timestamp column as ``YYYY-MM-DD``, in SQL. SQLite keeps UTC
    timestamps as text, whose first ten characters are the day; PostgreSQL keeps them
    with their zone, which is turned to UTC whatever the connection's time zone is."""
    if db.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)
    return func.substr(column, 1, 10, type_=String)


def _table(days: DayRange, counts: Sequence[tuple[str, str, int]]) -> list[Series]:
    """Series from (day, series name, count) rows; a day without a row is 0."""
    table: dict[str, list[Value]] = {}
    positions = {label: n for n, label in enumerate(days.labels)}
    for day, name, count in counts:
        position = positions.get(day)
        if position is not None:
            row = table.setdefault(name, [0] * days.count)
            row[position] = count
    return _largest(table, days.count)


async def _sessions(db: AsyncSession, days: DayRange, now: datetime) -> list[Series]:
    day = _day(db, SessionUsage.started_at)
    rows = await db.execute(
        select(day, SessionUsage.template, func.count())
        .where(SessionUsage.started_at >= days.start, SessionUsage.started_at < days.end)
        .group_by(day, SessionUsage.template)
    )
    return _table(days, [(d, t, n) for d, t, n in rows])


async def _failures(db: AsyncSession, days: DayRange, now: datetime) -> list[Series]:
    day = _day(db, SessionUsage.ended_at)
    rows = await db.execute(
        select(day, SessionUsage.failure_reason, func.count())
        .where(
            SessionUsage.outcome == "failed",
            SessionUsage.ended_at >= days.start,
            SessionUsage.ended_at < days.end,
        )
        .group_by(day, SessionUsage.failure_reason)
    )
    return _table(days, [(d, reason or "unknown", n) for d, reason, n in rows])


async def _active_users(db: AsyncSession, days: DayRange, now: datetime) -> list[Series]:
    rows = await db.execute(
        select(ActiveDay.day, func.count())
        .where(ActiveDay.day >= days.first.isoformat(), ActiveDay.day <= days.last.isoformat())
        .group_by(ActiveDay.day)
    )
    return _table(days, [(d, "active users", n) for d, n in rows])


# -- hours, split across days in Python --------------------------------------------------


def _hours(measure: Literal["cores", "gpus"], by: Literal["group", "experiment"]) -> Compute:
    """Core- or GPU-hours (``measure``: ``cores`` or ``gpus``) per day by group or
    experiment (``by``). A session's hours fall on the days it ran, clipped to the
    range; one still running counts to ``now``; one in several groups counts for each."""
    amount = getattr(SessionUsage, measure)

    async def compute(db: AsyncSession, days: DayRange, now: datetime) -> list[Series]:
        owner = SessionUsage.groups if by == "group" else Experiment.code
        query = (
            select(SessionUsage.started_at, SessionUsage.ended_at, amount, owner)
            .outerjoin(Experiment, Experiment.id == SessionUsage.experiment_id)
            .where(
                amount > 0,
                SessionUsage.started_at < min(days.end, now),
                or_(SessionUsage.ended_at.is_(None), SessionUsage.ended_at > days.start),
            )
        )
        table: dict[str, list[Value]] = {}
        async for started, ended, count, who in await db.stream(query):
            names = (who or [NO_GROUP]) if by == "group" else [who or NO_EXPERIMENT]
            for position, hours in days.hours_by_day(started, ended or now):
                for name in names:
                    row = table.setdefault(name, [0.0] * days.count)
                    row[position] = (row[position] or 0.0) + count * hours
        return [
            Series(s.name, [round(v, 3) if v is not None else None for v in s.values])
            for s in _largest(table, days.count)
        ]

    return compute


# -- launch times, one day at a time -----------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile of sorted ``values``, interpolated between the two
    nearest (as spreadsheets' PERCENTILE does)."""
    rank = (len(values) - 1) * fraction
    low, high = math.floor(rank), math.ceil(rank)
    return values[low] + (values[high] - values[low]) * (rank - low)


async def _launch_times(db: AsyncSession, days: DayRange, now: datetime) -> list[Series]:
    """Seconds from launch to ready of the sessions launched each day that became
    ready (one that never did is a failure, not a slow launch)."""
    p50: list[Value] = [None] * days.count
    p95: list[Value] = [None] * days.count
    query = (
        select(SessionUsage.started_at, SessionUsage.ready_at)
        .where(
            SessionUsage.ready_at.is_not(None),
            SessionUsage.started_at >= days.start,
            SessionUsage.started_at < days.end,
        )
        .order_by(SessionUsage.started_at)
    )
    current: int | None = None
    waits: list[float] = []

    def close_day() -> None:
        if current is not None and waits:
            waits.sort()
            p50[current] = round(percentile(waits, 0.5), 1)
            p95[current] = round(percentile(waits, 0.95), 1)
        waits.clear()

    async for started, ready in await db.stream(query):
        assert ready is not None  # the query's condition
        position = days.index(started)
        if position != current:
            close_day()
            current = position
        waits.append(max(0.0, (ready - started).total_seconds()))
    close_day()
    return [Series("p50", p50), Series("p95", p95)]


def _largest(table: dict[str, list[Value]], count: int) -> list[Series]:
    """The series by name, the largest first, those past ``MAX_SERIES - 1`` summed
    as "other"."""
    ranked = sorted(table.items(), key=lambda item: (-sum(v or 0 for v in item[1]), item[0]))
    if len(ranked) <= MAX_SERIES:
        return [Series(name, values) for name, values in ranked]
    kept, rest = ranked[: MAX_SERIES - 1], ranked[MAX_SERIES - 1 :]
    other: list[Value] = [sum(values[n] or 0 for _, values in rest) for n in range(count)]
    return [Series(name, values) for name, values in kept] + [Series(OTHER, other)]


@dataclass(frozen=True)
class _About:
    title: str
    unit: str
    style: Style
    compute: Compute


_FIGURES: dict[FigureName, _About] = {
    FigureName.SESSIONS: _About(
        "Sessions started per day, by template", "sessions", Style.STACKED, _sessions
    ),
    FigureName.ACTIVE_USERS: _About("Active users per day", "users", Style.LINES, _active_users),
    FigureName.CORE_HOURS_BY_GROUP: _About(
        "Core-hours per day, by group", "core-hours", Style.STACKED, _hours("cores", "group")
    ),
    FigureName.GPU_HOURS_BY_GROUP: _About(
        "GPU-hours per day, by group", "GPU-hours", Style.STACKED, _hours("gpus", "group")
    ),
    FigureName.CORE_HOURS_BY_EXPERIMENT: _About(
        "Core-hours per day, by experiment",
        "core-hours",
        Style.STACKED,
        _hours("cores", "experiment"),
    ),
    FigureName.GPU_HOURS_BY_EXPERIMENT: _About(
        "GPU-hours per day, by experiment",
        "GPU-hours",
        Style.STACKED,
        _hours("gpus", "experiment"),
    ),
    FigureName.LAUNCH_TIMES: _About(
        "Launch time (to ready), p50 and p95", "seconds", Style.LINES, _launch_times
    ),
    FigureName.FAILURES: _About(
        "Failed sessions per day, by reason", "failures", Style.STACKED, _failures
    ),
}
