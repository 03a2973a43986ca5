"""The usage figures from session history and active days, on both databases: sessions
across midnight and a month's end, clipped to the range, live ones counted to now,
several groups, experiments, failures, launch times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from labgate.db.engine import Database
from labgate.db.models import ActiveDay, Experiment, SessionUsage, User
from labgate.errors import ValidationFailed
from labgate.usage.days import MAX_DAYS, DayRange
from labgate.usage.export import as_csv, filename
from labgate.usage.figures import MAX_SERIES, Figure, FigureName, figure

RANGE = DayRange(date(2026, 11, 29), date(2026, 12, 2))  # across the end of November
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def usage(session_id: str, started: str, **fields: object) -> SessionUsage:
    values: dict[str, object] = {"template": "jupyterlab", "cores": 1, "gpus": 0, "groups": []}
    values.update(fields)
    for name in ("ready_at", "ended_at"):
        if isinstance(values.get(name), str):
            values[name] = at(str(values[name]))
    return SessionUsage(session_id=session_id, started_at=at(started), **values)


@pytest.fixture
async def history(database: Database) -> Database:
    async with database.session() as db:
        experiment = Experiment(code="12-34", title="Beam time")
        ann, ben = User(username="ann"), User(username="ben")
        db.add_all([experiment, ann, ben])
        await db.flush()
        db.add_all(
            [
                # Across midnight into December, in two groups, for the experiment.
                usage(
                    "s1",
                    "2026-11-30T22:00:00",
                    ready_at="2026-11-30T22:00:30",
                    ended_at="2026-12-01T02:00:00",
                    outcome="stopped",
                    cores=4,
                    gpus=1,
                    groups=["physics", "chem"],
                    experiment_id=experiment.id,
                ),
                # Still running: counted up to now.
                usage(
                    "s2",
                    "2026-12-02T06:00:00",
                    ready_at="2026-12-02T06:01:40",
                    template="tensorboard",
                    cores=2,
                    groups=["physics"],
                ),
                # Began before the range: only its hours inside it count.
                usage(
                    "s3",
                    "2026-11-28T20:00:00",
                    ready_at="2026-11-28T20:00:10",
                    ended_at="2026-11-29T04:00:00",
                    outcome="stopped",
                    experiment_id=experiment.id,
                ),
                usage(
                    "s4",
                    "2026-12-01T10:00:00",
                    ended_at="2026-12-01T10:05:00",
                    outcome="failed",
                    failure_reason="timeout",
                    groups=["chem"],
                ),
                usage(
                    "s5",
                    "2026-12-01T23:59:00",
                    ended_at="2026-12-02T00:01:00",
                    outcome="failed",
                    template="desktop",
                    cores=2,
                    groups=["chem"],
                ),
                usage(
                    "s6",
                    "2026-11-30T08:00:00",
                    ready_at="2026-11-30T08:00:10",
                    ended_at="2026-11-30T09:00:00",
                    outcome="stopped",
                    groups=["physics"],
                ),
                # Over before the range began: in no figure.
                usage(
                    "s7",
                    "2026-11-20T08:00:00",
                    ready_at="2026-11-20T08:00:05",
                    ended_at="2026-11-21T08:00:00",
                    outcome="failed",
                    failure_reason="app_exited",
                    cores=64,
                    groups=["physics"],
                ),
            ]
        )
        db.add_all(
            [
                ActiveDay(day="2026-11-30", user_id=ann.id),
                ActiveDay(day="2026-11-30", user_id=ben.id),
                ActiveDay(day="2026-12-01", user_id=ann.id),
                ActiveDay(day="2026-11-28", user_id=ben.id),
            ]
        )
    return database


async def draw(database: Database, name: FigureName, days: DayRange = RANGE) -> Figure:
    async with database.read() as db:
        return await figure(db, name, days, now=NOW)


def values(found: Figure) -> dict[str, list[object]]:
    return {series.name: series.values for series in found.series}


async def test_sessions_per_day_by_template(history: Database) -> None:
    found = await draw(history, FigureName.SESSIONS)
    assert found.labels == ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
    # The largest first; equal ones by name.
    assert [s.name for s in found.series] == ["jupyterlab", "desktop", "tensorboard"]
    assert values(found) == {
        "jupyterlab": [0, 2, 1, 0],
        "desktop": [0, 0, 1, 0],
        "tensorboard": [0, 0, 0, 1],
    }


async def test_active_users_per_day(history: Database) -> None:
    assert values(await draw(history, FigureName.ACTIVE_USERS)) == {"active users": [0, 2, 1, 0]}


async def test_core_hours_by_group_split_across_days(history: Database) -> None:
    found = values(await draw(history, FigureName.CORE_HOURS_BY_GROUP))
    assert list(found) == ["physics", "chem", "(no group)"]
    # s1: 4 cores, 2 h on each side of midnight, for both its groups; s6: 1 h; s2 runs
    # from 06:00 to now (12:00) on 2 cores; s3 only from midnight to 04:00 of the 29th.
    assert found["physics"] == [0, 9, 8, 12]
    assert found["chem"] == pytest.approx([0, 8, 8 + 5 / 60 + 2 / 60, 2 / 60], abs=0.001)
    assert found["(no group)"] == [4, 0, 0, 0]


async def test_gpu_hours_by_group_count_only_gpu_sessions(history: Database) -> None:
    assert values(await draw(history, FigureName.GPU_HOURS_BY_GROUP)) == {
        "chem": [0, 2, 2, 0],
        "physics": [0, 2, 2, 0],
    }


async def test_hours_by_experiment(history: Database) -> None:
    found = values(await draw(history, FigureName.CORE_HOURS_BY_EXPERIMENT))
    assert list(found) == ["12-34", "(no experiment)"]
    assert found["12-34"] == [4, 8, 8, 0]
    assert found["(no experiment)"] == pytest.approx(
        [0, 1, 5 / 60 + 2 / 60, 12 + 2 / 60], abs=0.001
    )
    assert values(await draw(history, FigureName.GPU_HOURS_BY_EXPERIMENT)) == {
        "12-34": [0, 2, 2, 0]
    }


async def test_launch_times_per_day(history: Database) -> None:
    found = values(await draw(history, FigureName.LAUNCH_TIMES))
    # 10 s and 30 s on the 30th; 100 s on the 2nd; no session became ready on the others.
    assert found == {"p50": [None, 20.0, None, 100.0], "p95": [None, 29.0, None, 100.0]}


async def test_failures_by_reason(history: Database) -> None:
    assert values(await draw(history, FigureName.FAILURES)) == {
        "timeout": [0, 0, 1, 0],
        "unknown": [0, 0, 0, 1],
    }


async def test_a_range_without_history_has_no_series(history: Database) -> None:
    empty = DayRange(date(2025, 1, 1), date(2025, 1, 7))
    for name in FigureName:
        found = await draw(history, name, empty)
        assert len(found.labels) == 7
        if name is FigureName.LAUNCH_TIMES:
            assert all(v is None for s in found.series for v in s.values)
        else:
            assert found.series == []


async def test_many_series_end_in_other(database: Database) -> None:
    async with database.session() as db:
        for n in range(MAX_SERIES + 3):
            for copy in range(n + 1):
                db.add(usage(f"t{n}-{copy}", "2026-12-01T10:00:00", template=f"app{n:02d}"))
    found = values(await draw(database, FigureName.SESSIONS))
    assert len(found) == MAX_SERIES
    assert next(iter(found)) == f"app{MAX_SERIES + 2:02d}"
    # The four smallest (1 + 2 + 3 + 4 sessions) are added up.
    assert found["other"] == [0, 0, 10, 0]


def test_csv_has_one_header_row_and_a_row_per_day() -> None:
    from labgate.usage.figures import Series, Style

    found = Figure(
        FigureName.LAUNCH_TIMES,
        "t",
        "seconds",
        Style.LINES,
        ["2026-11-30", "2026-12-01"],
        [Series("p50", [20.0, None]), Series("=cmd()", [1, 2])],
    )
    assert as_csv(found).splitlines() == [
        "day,p50,'=cmd()",
        "2026-11-30,20.0,1",
        "2026-12-01,,2",
    ]
    assert filename(found) == "labgate-launch-times-2026-11-30-to-2026-12-01.csv"


def test_day_ranges_are_checked_and_split() -> None:
    with pytest.raises(ValidationFailed):
        DayRange.checked(date(2026, 12, 2), date(2026, 12, 1))
    with pytest.raises(ValidationFailed):
        DayRange.ending(date(2026, 12, 1), MAX_DAYS + 1)
    assert DayRange.ending(date(2026, 12, 1), MAX_DAYS).count == MAX_DAYS
    hours = list(RANGE.hours_by_day(at("2026-11-28T23:00:00"), at("2026-11-30T01:30:00")))
    assert hours == [(0, 24.0), (1, 1.5)]
    assert list(RANGE.hours_by_day(NOW, NOW)) == []
    assert list(RANGE.hours_by_day(NOW + timedelta(days=5), NOW + timedelta(days=6))) == []
