"""The usage figures through the API (JSON and CSV, checked input, administrators only)
and the active days that feed "active users": noted at login and on requests, written
once a day per replica."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from labgate.auth.active_days import ActiveDays
from labgate.db.engine import Database
from labgate.db.models import ActiveDay, Role, SessionUsage, User
from labgate.db.types import utcnow
from tests.support.accounts import AccountFactory


def yesterday_at(hour: int) -> datetime:
    return datetime.combine(utcnow().date() - timedelta(days=1), time(hour), UTC)


async def add_history(database: Database) -> None:
    async with database.session() as db:
        db.add_all(
            [
                SessionUsage(
                    session_id="a1",
                    template="jupyterlab",
                    cores=4,
                    groups=["physics"],
                    started_at=yesterday_at(8),
                    ready_at=yesterday_at(8) + timedelta(seconds=12),
                    ended_at=yesterday_at(10),
                    outcome="stopped",
                ),
                SessionUsage(
                    session_id="a2",
                    template="desktop",
                    started_at=yesterday_at(9),
                    ended_at=yesterday_at(9) + timedelta(minutes=1),
                    outcome="failed",
                    failure_reason="scheduler",
                ),
            ]
        )


async def active_rows(database: Database) -> list[tuple[str, str]]:
    async with database.read() as db:
        rows = await db.execute(
            select(ActiveDay.day, User.username).join(User, User.id == ActiveDay.user_id)
        )
        return sorted((day, name) for day, name in rows)


async def test_a_figure_as_json_over_the_last_30_days(
    accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    await add_history(database)
    response = await root.get("/api/v1/usage/sessions")
    assert response.status_code == 200
    body = response.json()
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()
    assert len(body["labels"]) == 30
    assert body["labels"][-1] == utcnow().date().isoformat()
    assert body["style"] == "stacked"
    by_name = {s["name"]: s["values"] for s in body["series"]}
    assert by_name["jupyterlab"][body["labels"].index(yesterday)] == 1
    assert sum(by_name["desktop"]) == 1
    hours = await root.get(
        "/api/v1/usage/core-hours-by-group", params={"from": yesterday, "to": yesterday}
    )
    assert hours.json()["labels"] == [yesterday]
    # a1: 4 cores for 2 hours; a2: 1 core for a minute, in no group.
    assert {s["name"]: s["values"] for s in hours.json()["series"]} == {
        "physics": [8.0],
        "(no group)": [0.017],
    }


async def test_a_figure_as_csv(accounts: AccountFactory, database: Database) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    await add_history(database)
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()
    response = await root.get(
        "/api/v1/usage/failures", params={"from": yesterday, "to": yesterday, "format": "csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="labgate-failures-{yesterday}-to-{yesterday}.csv"'
    )
    assert response.text.splitlines() == ["day,scheduler", f"{yesterday},1"]


async def test_input_is_checked(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/api/v1/usage/logins", {}, "path.figure_name"),
        ("/api/v1/usage/sessions", {"from": "2026-13-01"}, "query.from"),
        ("/api/v1/usage/sessions", {"to": "yesterday"}, "query.to"),
        ("/api/v1/usage/sessions", {"from": "2026-12-02", "to": "2026-12-01"}, "query.to"),
        ("/api/v1/usage/sessions", {"from": "2025-01-01", "to": "2026-12-01"}, "query.from"),
        ("/api/v1/usage/sessions", {"format": "xlsx"}, "query.format"),
    ]
    for url, params, field in cases:
        response = await root.get(url, params=params)
        assert response.status_code == 422, (url, params)
        error = response.json()["error"]
        assert field in [d["field"] for d in error["details"]], (params, error)
    longest = await root.get(
        "/api/v1/usage/sessions", params={"from": "2025-10-28", "to": "2026-12-01"}
    )
    assert longest.status_code == 200
    assert len(longest.json()["labels"]) == 400


async def test_only_administrators_see_usage(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    assert (await alice.get("/api/v1/usage/sessions")).status_code == 403
    assert (await accounts.anonymous().get("/api/v1/usage/sessions")).status_code == 401


async def test_active_days_are_noted_once_a_day_per_replica(
    accounts: AccountFactory, database: Database, app: Any
) -> None:
    today = utcnow().date().isoformat()
    alice = await accounts.login("alice")
    assert await active_rows(database) == [(today, "alice")]
    # The replica remembers it wrote today's row: no more writes today, even when the
    # row went missing.
    async with database.session() as db:
        await db.execute(delete(ActiveDay))
    assert (await alice.get("/api/v1/auth/session")).status_code == 200
    assert (
        await alice.patch("/api/v1/preferences", json={"preferences": {"theme": "dark"}})
    ).status_code == 200
    assert await active_rows(database) == []
    # Another replica (a fresh memory) notes it on the next request served, read or write.
    app.state.labgate.active_days = ActiveDays()
    assert (await alice.get("/api/v1/auth/session")).status_code == 200
    assert await active_rows(database) == [(today, "alice")]
    app.state.labgate.active_days = ActiveDays()
    assert (
        await alice.patch("/api/v1/preferences", json={"preferences": {"theme": "light"}})
    ).status_code == 200
    assert await active_rows(database) == [(today, "alice")]  # there already: no clash


async def test_a_token_counts_and_a_refused_request_does_not(
    accounts: AccountFactory, database: Database, app: Any
) -> None:
    bob = await accounts.login("bob")
    made = await bob.post("/api/v1/tokens", json={"name": "script", "scopes": ["read"]})
    secret = made.json()["secret"]
    async with database.session() as db:
        await db.execute(delete(ActiveDay))
    app.state.labgate.active_days = ActiveDays()
    # Refused by the policy (a read token cannot write): not served, not noted.
    script = accounts.anonymous()
    headers = {"Authorization": f"Bearer {secret}"}
    refused = await script.patch(
        "/api/v1/preferences", json={"preferences": {"theme": "dark"}}, headers=headers
    )
    assert refused.status_code == 403
    assert await active_rows(database) == []
    assert (await script.get("/api/v1/preferences", headers=headers)).status_code == 200
    today = utcnow().date().isoformat()
    assert await active_rows(database) == [(today, "bob")]
    async with database.read() as db:
        assert await db.scalar(select(func.count()).select_from(ActiveDay)) == 1


async def test_routes_that_authenticate_apart_note_the_day_at_once(
    accounts: AccountFactory, database: Database, app: Any
) -> None:
    """Routes that look the caller up in a transaction of their own (files, archives:
    they must not hold one while they stream) write the day in one of its own."""
    carol = await accounts.login("carol")
    async with database.session() as db:
        await db.execute(delete(ActiveDay))
    app.state.labgate.active_days = ActiveDays()
    missing = await carol.get("/api/v1/resources/999999/files", params={"path": "/"})
    assert missing.status_code == 404
    assert await active_rows(database) == [(utcnow().date().isoformat(), "carol")]
