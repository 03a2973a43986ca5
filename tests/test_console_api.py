"""The administration console's API on SQLite and PostgreSQL: app templates with their
source, the files refused and the switch (a template switched off is not offered and not
launched, audited); everybody's sessions narrowed by user, resource, experiment and
state; the audit log by time range; the shared resources with their live sessions.
Non-administrators are refused (the whole door table is ``tests/authz_table.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from labgate.db.engine import Database
from labgate.db.models import AppSession, Experiment, Resource, ResourceKind, Role, SessionState
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.proxied import session_row, state_of

GOOD = 'id = "notebook"\ntitle = "Notebook"\ncommand = "serve --port {port}"\n'
BAD = 'id = "broken"\ntitle = "Broken"\ncommand = "serve {nothing} {port}"\n'


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "notebook.toml").write_text(GOOD)
    (folder / "zz-broken.toml").write_text(BAD)
    return settings.model_copy(update={"app_templates_dir": folder, "local_resource": "everyone"})


async def offered(caller: LoggedIn) -> list[str]:
    answer = await caller.get("/api/v1/app-templates")
    assert answer.status_code == 200, answer.text
    return [t["id"] for t in answer.json()["templates"]]


async def test_templates_are_listed_with_their_source_and_the_refused_files(
    accounts: AccountFactory,
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    answer = await root.get("/api/v1/admin/app-templates")
    assert answer.status_code == 200, answer.text
    listed = {t["id"]: t for t in answer.json()["templates"]}
    assert listed["notebook"]["source"] == "file"
    assert listed["notebook"]["origin"] == "notebook.toml"
    assert listed["jupyterlab"]["source"] == "plugin"
    assert listed["jupyterlab"]["origin"]
    assert listed["jupyterlab"]["enabled"] is True
    assert listed["jupyterlab"]["switched"] is None
    # Made by sharing a terminal, never launched: listed, not switchable.
    assert listed["terminal"]["launchable"] is False
    assert "broken" not in listed
    [refused] = answer.json()["refused"]
    assert refused["file"] == "zz-broken.toml"
    assert "{nothing} is not a placeholder" in refused["message"]
    # The server runs with the good file.
    assert "notebook" in await offered(root)


async def test_a_template_switched_off_is_not_offered_nor_launched(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    running = await session_row(
        database,
        state_of(app).session_tokens,
        "alice",
        template="webapp",
        endpoint={"kind": "tcp", "host": "127.0.0.1", "port": 9},
        title="Dashboard",
    )
    off = await root.put("/api/v1/admin/app-templates/webapp", json={"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False
    assert off.json()["switched"]["by"] == "root"
    assert "webapp" not in await offered(alice)
    assert "jupyterlab" in await offered(alice)
    rid = (await alice.get("/api/v1/resources")).json()["resources"][0]["id"]
    launch = {"template": "webapp", "resource_id": rid, "form": {"app_command": "true"}}
    refused = await alice.post("/api/v1/sessions", json=launch)
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["error"]["details"]
    assert problem == {"field": "body.template", "message": "disabled by an administrator"}
    async with database.read() as db:
        mine = await db.scalars(select(AppSession).where(AppSession.template == "webapp"))
        assert [(row.id, row.state) for row in mine] == [(running, "running")]
    events = (await root.get("/api/v1/audit", params={"target": "webapp"})).json()["events"]
    assert [(e["event"], e["actor"]) for e in events] == [("app_template_disabled", "root")]
    # Switching it off again changes nothing and records nothing more; on brings it back.
    assert (
        await root.put("/api/v1/admin/app-templates/webapp", json={"enabled": False})
    ).status_code == 200
    on = await root.put("/api/v1/admin/app-templates/webapp", json={"enabled": True})
    assert on.json()["enabled"] is True
    assert "webapp" in await offered(alice)
    events = (await root.get("/api/v1/audit", params={"target": "webapp"})).json()["events"]
    assert [e["event"] for e in events] == ["app_template_enabled", "app_template_disabled"]


async def test_template_switches_are_validated_and_for_administrators(
    accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    path = "/api/v1/admin/app-templates"
    assert (await root.put(f"{path}/nothing", json={"enabled": False})).status_code == 404
    assert (await root.put(f"{path}/terminal", json={"enabled": False})).status_code == 404
    for body in ({}, {"enabled": "no"}, {"enabled": 0}, {"enabled": False, "why": "x"}):
        assert (await root.put(f"{path}/webapp", json=body)).status_code == 422, body
    assert (await root.put(f"{path}/{'x' * 65}", json={"enabled": False})).status_code == 422
    assert (await alice.get(path)).status_code == 403
    assert (await alice.put(f"{path}/webapp", json={"enabled": False})).status_code == 403
    assert "webapp" in await offered(alice)


async def _experiment(database: Database, code: str) -> int:
    async with database.session() as db:
        row = Experiment(code=code, title=f"Experiment {code}")
        db.add(row)
        await db.flush()
        return row.id


async def _sessions(root: LoggedIn, **params: Any) -> list[str]:
    answer = await root.get("/api/v1/sessions", params={"all": "true", **params})
    assert answer.status_code == 200, answer.text
    return [s["id"] for s in answer.json()["sessions"]]


async def test_everybodys_sessions_are_filtered(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    await accounts.user("alice")
    await accounts.user("bob")
    tokens = state_of(app).session_tokens
    endpoint = {"kind": "tcp", "host": "127.0.0.1", "port": 9}

    async def row(owner: str, state: SessionState) -> str:
        return await session_row(
            database, tokens, owner, template="webapp", endpoint=endpoint, title=owner, state=state
        )

    alice_running = await row("alice", SessionState.RUNNING)
    alice_failed = await row("alice", SessionState.FAILED)
    bob_running = await row("bob", SessionState.RUNNING)
    experiment = await _experiment(database, "12-34")
    async with database.session() as db:
        await db.execute(
            update(AppSession).where(AppSession.id == bob_running).values(experiment_id=experiment)
        )
        local = await db.scalar(select(Resource.id).where(Resource.kind == ResourceKind.LOCAL))
    assert set(await _sessions(root)) == {alice_running, alice_failed, bob_running}
    assert set(await _sessions(root, user="alice")) == {alice_running, alice_failed}
    assert await _sessions(root, user="alice", state="failed") == [alice_failed]
    assert set(await _sessions(root, state="running")) == {alice_running, bob_running}
    assert await _sessions(root, experiment_id=experiment) == [bob_running]
    assert set(await _sessions(root, resource_id=local)) == {
        alice_running,
        alice_failed,
        bob_running,
    }
    assert await _sessions(root, resource_id=local + 1000) == []
    assert await _sessions(root, user="nobody") == []
    assert await _sessions(root, user="alice", live="true") == [alice_running]


async def test_session_filters_are_validated_and_for_administrators(
    accounts: AccountFactory,
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    for params in (
        {"state": "asleep"},
        {"resource_id": "0"},
        {"resource_id": "x"},
        {"experiment_id": "-1"},
        {"user": ""},
        {"user": "u" * 65},
    ):
        answer = await root.get("/api/v1/sessions", params={"all": "true", **params})
        assert answer.status_code == 422, params
    # Without all=true the filters would narrow only the caller's own: refused, said so.
    own = await root.get("/api/v1/sessions", params={"user": "alice"})
    assert own.status_code == 422
    assert own.json()["error"]["details"][0]["field"] == "query.all"
    assert (await alice.get("/api/v1/sessions", params={"all": "true"})).status_code == 403
    denied = await alice.get("/api/v1/sessions", params={"all": "true", "user": "root"})
    assert denied.status_code == 403


async def test_the_audit_log_by_time_range(accounts: AccountFactory) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    assert (await root.post("/api/v1/groups", json={"name": "physics"})).status_code == 201
    now = datetime.now(UTC)
    hour = timedelta(hours=1)

    async def events(**params: Any) -> list[str]:
        answer = await root.get("/api/v1/audit", params=params)
        assert answer.status_code == 200, answer.text
        return [e["event"] for e in answer.json()["events"]]

    assert await events(event="group_created", since=(now - hour).isoformat()) == ["group_created"]
    assert await events(event="group_created", since=(now + hour).isoformat()) == []
    assert await events(event="group_created", until=(now - hour).isoformat()) == []
    window = {"since": (now - hour).isoformat(), "until": (now + hour).isoformat()}
    assert await events(event="group_created", actor="root", **window) == ["group_created"]
    assert await events(event="group_created", actor="alice", **window) == []
    for params in (
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},  # no time zone
        {"since": now.isoformat(), "until": now.isoformat()},
        {"since": (now + hour).isoformat(), "until": now.isoformat()},
    ):
        answer = await root.get("/api/v1/audit", params=params)
        assert answer.status_code == 422, params
    assert (await alice.get("/api/v1/audit", params=window)).status_code == 403


async def test_shared_resources_with_their_live_sessions(
    app: Any, accounts: AccountFactory, database: Database
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    await accounts.user("bob")
    tokens = state_of(app).session_tokens
    endpoint = {"kind": "tcp", "host": "127.0.0.1", "port": 9}
    for owner, state in (
        ("alice", SessionState.RUNNING),
        ("alice", SessionState.PENDING),
        ("bob", SessionState.RUNNING),
        ("bob", SessionState.STOPPED),
    ):
        await session_row(
            database, tokens, owner, template="webapp", endpoint=endpoint, title="x", state=state
        )
    created = await root.post(
        "/api/v1/resources",
        json={"name": "cluster", "host": "127.0.0.1", "username": "u", "shared": True},
    )
    assert created.status_code == 201, created.text
    group = await root.post("/api/v1/groups", json={"name": "physics"})
    assert group.status_code == 201
    shared = await root.patch(
        f"/api/v1/resources/{created.json()['id']}", json={"groups": ["physics"]}
    )
    assert shared.status_code == 200, shared.text
    # Alice's own resource is hers, not the console's.
    own = await alice.post(
        "/api/v1/resources", json={"name": "mine", "host": "127.0.0.1", "username": "u"}
    )
    assert own.status_code == 201, own.text
    answer = await root.get("/api/v1/admin/shared-resources")
    assert answer.status_code == 200, answer.text
    listed = {r["name"]: r for r in answer.json()["resources"]}
    assert set(listed) == {"cluster", "local"}
    assert (listed["local"]["live_sessions"], listed["local"]["session_users"]) == (3, 2)
    assert listed["cluster"]["live_sessions"] == 0
    assert listed["cluster"]["groups"] == ["physics"]
    assert listed["cluster"]["status"]["state"] == "disconnected"
    assert (await alice.get("/api/v1/admin/shared-resources")).status_code == 403
