"""Quotas over HTTP, on SQLite and PostgreSQL: a refused launch (409
``quota_exceeded`` with the quota's fields), the caller's usage and a user's, the
administrators' list, setting (validated) and removal, audited; and the accounting
of sessions (``quotas/accounting.py``): the month's clipping, every end marked once,
and hours kept across a restart (a new app on the same database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update

from labgate import housekeeping
from labgate.app import create_app
from labgate.db.engine import Database
from labgate.db.models import AppSession, AuditEvent, Group, Role, SessionState, SessionUsage
from labgate.db.types import utcnow
from labgate.quotas import accounting
from labgate.quotas.accounting import hours_within, month_label, month_of
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.proxied import state_of

WAITING = {"app_command": "sleep 300"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The launches stay pending: the test ends them; no reconciliation meanwhile.
    return settings.model_copy(update={"local_resource": "everyone", "app_reconcile_seconds": 3600})


async def local_id(client: LoggedIn) -> int:
    resources = (await client.get("/api/v1/resources")).json()["resources"]
    return next(r["id"] for r in resources if r["kind"] == "local")


async def launch(client: LoggedIn, **form: Any) -> httpx.Response:
    launcher = "slurm" if form else "direct"
    return await client.post(
        "/api/v1/sessions",
        json={
            "template": "webapp",
            "launcher": launcher,
            "resource_id": await local_id(client),
            "form": {**WAITING, **form},
        },
    )


async def usage_row(database: Database, session_id: str) -> SessionUsage:
    async with database.read() as db:
        row = await db.get(SessionUsage, session_id)
    assert row is not None
    return row


# -- the API ---------------------------------------------------------------------------------


async def test_a_launch_over_a_quota_is_409_with_its_fields_and_mine_shows_the_usage(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    put = await root.put("/api/v1/quotas/role/user", json={"max_gpus": 2, "max_sessions": 5})
    assert put.status_code == 200, put.text
    assert (await launch(alice, gpus=2)).status_code == 201

    answer = await launch(alice, gpus=1)

    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["message"].startswith(
        "Your role's limit of 2 GPUs at once would be exceeded: 2 of 2 GPUs in use by 1 session"
    )
    assert (error["quota"]["limit"], error["quota"]["in_use"]) == ("max_gpus", 2)

    mine = (await alice.get("/api/v1/quotas/mine")).json()
    assert mine["month"] == month_label(utcnow())
    (role,) = mine["quotas"]
    assert (role["scope"], role["subject"], role["title"]) == ("role", "user", "Role user")
    assert role["limits"] == {
        "max_sessions": 5,
        "max_cores": None,
        "max_memory_gb": None,
        "max_gpus": 2,
        "core_hours_per_month": None,
        "gpu_hours_per_month": None,
    }
    assert {k: role["usage"][k] for k in ("sessions", "cores", "memory_gb", "gpus")} == {
        "sessions": 1,
        "cores": 1,
        "memory_gb": 4,
        "gpus": 2,
    }
    theirs = await root.get("/api/v1/users/alice/usage")
    assert theirs.json()["quotas"][0]["usage"]["gpus"] == 2
    assert (await root.get("/api/v1/users/nobody/usage")).status_code == 404


async def test_administrators_list_set_and_remove_quotas_audited(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    async with database.session() as db:
        group = Group(name="physics", memberships=[])
        db.add(group)
        await db.flush()
        group_id = group.id

    listed = (await root.get("/api/v1/quotas")).json()
    assert [(d["subject"], d["source"]) for d in listed["defaults"]] == [
        ("admin", "settings"),
        ("staff", "settings"),
        ("user", "settings"),
        ("guest", "settings"),
    ]
    assert listed["defaults"][3]["limits"]["max_sessions"] == 2  # app_guest_max_sessions
    assert listed["quotas"] == []

    put = await root.put(f"/api/v1/quotas/group/{group_id}", json={"gpu_hours_per_month": 40})
    assert put.status_code == 200
    assert (put.json()["title"], put.json()["source"]) == ("Group physics", "console")
    again = await root.put(f"/api/v1/quotas/group/{group_id}", json={"max_gpus": 2})
    assert again.json()["limits"]["gpu_hours_per_month"] is None  # replaced, not merged
    (row,) = (await root.get("/api/v1/quotas")).json()["quotas"]
    assert (row["scope"], row["subject"], row["limits"]["max_gpus"]) == ("group", str(group_id), 2)

    assert (await root.delete(f"/api/v1/quotas/group/{group_id}")).status_code == 204
    assert (await root.put(f"/api/v1/quotas/group/{group_id}", json={})).status_code == 200
    # Deleting the group deletes its quota: a group given its id later starts without.
    assert (await root.delete("/api/v1/groups/physics")).status_code == 204
    assert (await root.get("/api/v1/quotas")).json()["quotas"] == []
    assert (await root.delete(f"/api/v1/quotas/group/{group_id}")).status_code == 404
    async with database.read() as db:
        events = list(
            await db.scalars(
                select(AuditEvent).where(AuditEvent.event.like("quota%")).order_by(AuditEvent.id)
            )
        )
    assert [(e.event, e.actor, e.target) for e in events] == [
        ("quota_set", "root", f"group:{group_id}"),
        ("quota_set", "root", f"group:{group_id}"),
        ("quota_removed", "root", f"group:{group_id}"),
        ("quota_set", "root", f"group:{group_id}"),
    ]
    assert events[1].detail["limits"]["max_gpus"] == 2


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/quotas/team/1", {}, 422, "path.scope"),
        ("/quotas/role/wizard", {}, 422, "path.subject"),
        ("/quotas/group/physics", {}, 422, "path.subject"),
        ("/quotas/group/999", {}, 404, None),
        ("/quotas/experiment/999", {}, 404, None),
        ("/quotas/role/user", {"max_cores": -1}, 422, "body.max_cores"),
        ("/quotas/role/user", {"max_cores": 10**9}, 422, "body.max_cores"),
        ("/quotas/role/user", {"max_cores": "many"}, 422, "body.max_cores"),
        ("/quotas/role/user", {"max_hours": 3}, 422, "body.max_hours"),
    ],
)
async def test_a_bad_quota_is_refused_and_nothing_is_set(
    app: Any,
    accounts: AccountFactory,
    database: Database,
    path: str,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)

    answer = await root.put("/api/v1" + path, json=body)

    assert answer.status_code == status, answer.text
    if field is not None:
        assert field in [d["field"] for d in answer.json()["error"]["details"]]
    assert (await root.get("/api/v1/quotas")).json()["quotas"] == []


# -- the accounting -------------------------------------------------------------------------


def test_months_and_hours_within_them() -> None:
    december = datetime(2026, 12, 7, 19, 30, tzinfo=UTC)
    assert month_of(december) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert month_label(december) == "2026-12"
    start, end = month_of(december)
    # Begun in November: only December's hours count.
    assert hours_within(datetime(2026, 11, 30, 22, tzinfo=UTC), None, start, end, december) == (
        6 * 24 + 19.5
    )
    # Still running at the month's end: up to it.
    late = datetime(2027, 1, 1, 2, tzinfo=UTC)
    assert hours_within(datetime(2026, 12, 31, 23, tzinfo=UTC), None, start, end, late) == 1
    # Ended: up to its end; ended before the month: nothing.
    ended = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)
    assert hours_within(datetime(2026, 12, 1, tzinfo=UTC), ended, start, end, december) == 25.5
    assert hours_within(datetime(2026, 11, 1, tzinfo=UTC), start, start, end, december) == 0


async def test_every_end_is_marked_once_and_ready_the_first_time(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await accounts.login("alice")
    session_id = (await launch(alice, cpus=3, memory_gb=6, gpus=1)).json()["id"]
    lifecycle = state_of(app).lifecycle
    started = await usage_row(database, session_id)
    assert (started.username, started.role, started.template, started.launcher) == (
        "alice",
        "user",
        "webapp",
        "slurm",
    )
    assert (started.cores, started.memory_gb, started.gpus) == (3, 6, 1)
    assert (started.ready_at, started.ended_at, started.outcome) == (None, None, "")

    snap = await lifecycle.snapshot(session_id)
    assert snap is not None
    first = utcnow()
    await lifecycle.save(snap.row, state=SessionState.RUNNING.value, ready_at=first)
    await lifecycle.save(snap.row, ready_at=first + timedelta(hours=1))
    assert (await usage_row(database, session_id)).ready_at == first

    await lifecycle.stop(session_id, "stopped by you")
    stopped = await usage_row(database, session_id)
    assert (stopped.outcome, stopped.failure_reason) == ("stopped", "")
    assert stopped.ended_at is not None
    # A second end (a late answer of the reconciler) changes nothing.
    await lifecycle.save(
        snap.row, state=SessionState.FAILED.value, ended_at=utcnow(), failure_reason="app_exited"
    )
    assert (await usage_row(database, session_id)).ended_at == stopped.ended_at
    assert (await usage_row(database, session_id)).outcome == "stopped"


async def test_a_failure_is_marked_with_its_reason(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    alice = await accounts.login("alice")
    session_id = (await launch(alice)).json()["id"]
    lifecycle = state_of(app).lifecycle
    snap = await lifecycle.snapshot(session_id)
    assert snap is not None

    await lifecycle.progress(
        snap.row,
        "Web app did not answer.",
        state=SessionState.FAILED.value,
        ended_at=utcnow(),
        failure_reason="timeout",
    )

    failed = await usage_row(database, session_id)
    assert (failed.outcome, failed.failure_reason) == ("failed", "timeout")


async def test_hours_are_kept_across_a_restart(
    app: Any, accounts: AccountFactory, database: Database, settings: Settings
) -> None:
    """One session still live and one ended, two hours each: after a restart (a new app
    on the same database) the live one has kept accruing and the ended one keeps its
    hours."""
    alice = await accounts.login("alice")
    live = (await launch(alice, cpus=2)).json()["id"]
    ended = (await launch(alice, cpus=4)).json()["id"]
    await state_of(app).lifecycle.stop(ended, "stopped by you")
    now = (await usage_row(database, ended)).ended_at
    assert now is not None
    began = max(month_of(now)[0], now - timedelta(hours=2))
    async with database.session() as db:
        await db.execute(
            update(SessionUsage)
            .where(SessionUsage.session_id.in_([live, ended]))
            .values(started_at=began)
        )
    ended_hours = 4 * (now - began).total_seconds() / 3600

    restarted = create_app(settings, database=database, bootstrap=False)
    async with restarted.router.lifespan_context(restarted):
        transport = httpx.ASGITransport(app=restarted, client=("127.0.0.1", 40001))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            http.cookies.update(alice.http.cookies)
            mine = (await http.get("/api/v1/quotas/mine")).json()

    usage = mine["quotas"][0]["usage"]
    assert (usage["sessions"], usage["cores"]) == (1, 2)  # the live one
    live_hours = usage["core_hours"] - round(ended_hours, 2)
    assert live_hours >= round(2 * (now - began).total_seconds() / 3600, 2) - 0.01
    assert (await usage_row(database, ended)).ended_at == now


async def test_the_periodic_pass_closes_the_usage_of_sessions_gone_unseen(
    app: Any, accounts: AccountFactory, database: Database, settings: Settings
) -> None:
    """A session ended without its usage marked (a row changed behind labgate's back),
    and one deleted with its resource: the housekeeping's pass ends both, once."""
    alice = await accounts.login("alice")
    ended = (await launch(alice)).json()["id"]
    deleted = (await launch(alice)).json()["id"]
    live = (await launch(alice)).json()["id"]
    finished = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    async with database.session() as db:
        await db.execute(
            update(AppSession)
            .where(AppSession.id == ended)
            .values(state=SessionState.EXPIRED.value, ended_at=finished)
        )
        await db.execute(delete(AppSession).where(AppSession.id == deleted))

    async with database.session() as db:
        await housekeeping.quota_pass(db, settings)

    expired, gone, running = [await usage_row(database, i) for i in (ended, deleted, live)]
    assert (expired.ended_at, expired.outcome) == (finished, "expired")
    assert gone.ended_at is not None
    assert gone.outcome == "stopped"
    assert (running.ended_at, running.outcome) == (None, "")
    async with database.session() as db:
        assert await accounting.close_orphans(db, utcnow()) == 0
