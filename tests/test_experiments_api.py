"""The experiments API (labgate.api.experiments) and what experiments do to sessions, on
SQLite and PostgreSQL: members see theirs and nobody else's, administrators manage and
import them (audited), launching for one is refused to non-members and outside its
dates, members see each other's sessions for it without access, and a session shared
with an experiment's members is usable by its members only while they are members.

The sessions here are rows (tests/support/proxied.py): nothing is launched
(tests/test_experiments_launch.py launches for an experiment)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from labgate.auth.policy import SessionRole
from labgate.auth.principal import Principal
from labgate.db.models import AppSession, AuditEvent, Role, User
from labgate.db.types import utcnow
from labgate.sessions.sharing import session_access
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.local_sessions import local_id
from tests.support.proxied import running_session, state_of

API = "/api/v1/experiments"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"local_resource": "everyone"})


@pytest.fixture
async def admin(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("root", role=Role.ADMIN)


@pytest.fixture
async def alice(accounts: AccountFactory, admin: LoggedIn) -> LoggedIn:
    return await accounts.login("alice")


@pytest.fixture
async def bob(accounts: AccountFactory, admin: LoggedIn) -> LoggedIn:
    return await accounts.login("bob")


@pytest.fixture
async def carol(accounts: AccountFactory, admin: LoggedIn) -> LoggedIn:
    return await accounts.login("carol")


def body(local: int, **changes: Any) -> dict[str, Any]:
    days = timedelta(days=1)
    found: dict[str, Any] = {
        "code": "12-34",
        "title": "Spin waves",
        "instrument": "IN5",
        "starts_at": (utcnow() - 10 * days).isoformat(),
        "ends_at": (utcnow() + 10 * days).isoformat(),
        "members": [{"username": "alice", "role": "pi"}, {"username": "bob"}],
        "locations": [
            {"resource_id": local, "kind": "raw", "path": "/data/12-34/raw"},
            {"resource_id": local, "kind": "processed", "path": "/data/12-34/processed"},
        ],
    }
    found.update(changes)
    return found


async def created(admin: LoggedIn, **changes: Any) -> dict[str, Any]:
    answer = await admin.post(API, json=body(await local_id(admin), **changes))
    assert answer.status_code == 201, answer.text
    out: dict[str, Any] = answer.json()
    return out


async def test_members_see_theirs_others_are_told_there_is_none(
    admin: LoggedIn, alice: LoggedIn, carol: LoggedIn
) -> None:
    made = await created(admin)
    assert made["members"] == [
        {"username": "alice", "email": "", "role": "pi", "matched": True},
        {"username": "bob", "email": "", "role": "member", "matched": False},
    ]
    listed = (await alice.get(API)).json()["experiments"]
    assert [(e["code"], e["my_role"], e["can_launch"], e["phase"]) for e in listed] == [
        ("12-34", "pi", True, "running")
    ]
    assert listed[0]["locations"][0] == {
        "resource_id": await local_id(alice),
        "resource_name": "local",
        "kind": "raw",
        "path": "/data/12-34/raw",
    }
    assert (await alice.get(f"{API}/{made['id']}")).status_code == 200
    assert (await carol.get(API)).json()["experiments"] == []
    assert (await carol.get(f"{API}/{made['id']}")).status_code == 404
    assert (await carol.get(API, params={"all": "true"})).status_code == 403
    everything = (await admin.get(API, params={"all": "true"})).json()["experiments"]
    assert [(e["code"], e["my_role"], e["can_launch"]) for e in everything] == [
        ("12-34", None, False)
    ]


async def test_administrators_create_change_delete_audited(
    app: Any, admin: LoggedIn, alice: LoggedIn
) -> None:
    local = await local_id(admin)
    made = await created(admin)
    again = await admin.post(API, json=body(local))
    assert again.status_code == 409
    bad = await admin.post(
        API,
        json=body(local, code="x y", locations=[{"resource_id": 999, "kind": "raw", "path": "/d"}]),
    )
    assert bad.status_code == 422
    unknown = await admin.post(
        API,
        json=body(
            local, code="56-78", locations=[{"resource_id": 999, "kind": "raw", "path": "/d"}]
        ),
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["field"] == "body.locations.0.resource_id"
    relative = await admin.post(
        API,
        json=body(
            local, code="56-78", locations=[{"resource_id": local, "kind": "raw", "path": "d"}]
        ),
    )
    assert relative.status_code == 422
    backwards = await admin.post(
        API, json=body(local, code="56-78", starts_at="2026-12-01", ends_at="2026-11-01")
    )
    assert backwards.status_code == 422
    assert "ends before it starts" in backwards.text
    changed = await admin.put(
        f"{API}/{made['id']}", json=body(local, title="Magnons", members=[{"email": "ALICE@x.org"}])
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"] == "Magnons"
    assert [m["matched"] for m in changed.json()["members"]] == [False]
    assert (await alice.get(f"{API}/{made['id']}")).status_code == 404  # no longer a member
    assert (await alice.delete(f"{API}/{made['id']}")).status_code == 403
    quota = await admin.put(f"/api/v1/quotas/experiment/{made['id']}", json={"max_sessions": 2})
    assert quota.status_code == 200, quota.text
    star = await admin.post(
        "/api/v1/favourites", json={"kind": "experiment", "target": str(made["id"])}
    )
    assert star.status_code == 201, star.text
    assert (await admin.delete(f"{API}/{made['id']}")).status_code == 204
    assert (await admin.get(f"{API}/{made['id']}")).status_code == 404
    # What named it by id went with it: a later experiment may be given the same id.
    quotas = (await admin.get("/api/v1/quotas")).json()["quotas"]
    assert [q for q in quotas if q["scope"] == "experiment"] == []
    assert (await admin.get("/api/v1/favourites")).json()["favourites"] == []
    async with state_of(app).database.read() as db:
        events = list(
            await db.scalars(
                select(AuditEvent.event)
                .where(AuditEvent.event.startswith("experiment_"))
                .order_by(AuditEvent.id)
            )
        )
    assert events == ["experiment_created", "experiment_changed", "experiment_deleted"]


async def test_import_through_the_api_reports_like_the_command(
    admin: LoggedIn, alice: LoggedIn
) -> None:
    data = (
        "code,title,members,locations\n"
        "12-34,Spin waves,alice:pi,local:raw:/data/raw\n"
        "56-78,Lost,alice,nowhere:raw:/data\n"
    )
    dry = await admin.post(f"{API}/import", json={"format": "csv", "data": data, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["created"] == ["12-34"]
    assert dry.json()["dry_run"] is True
    assert (await alice.get(API)).json()["experiments"] == []
    done = (await admin.post(f"{API}/import", json={"format": "csv", "data": data})).json()
    assert done["created"] == ["12-34"]
    assert done["refused"] == [
        {"where": "line 3", "problem": "there is no shared resource 'nowhere'", "code": "56-78"}
    ]
    assert done["summary"] == "1 created, 0 updated, 0 unchanged, 1 refused"
    assert [e["code"] for e in (await alice.get(API)).json()["experiments"]] == ["12-34"]
    unknown = await admin.post(f"{API}/import", json={"format": "xml", "data": ""})
    assert unknown.status_code == 422
    assert (
        await alice.post(f"{API}/import", json={"format": "csv", "data": data})
    ).status_code == 403


async def launch(user: LoggedIn, experiment_id: int) -> Any:
    return await user.post(
        "/api/v1/sessions",
        json={
            "template": "webapp",
            "resource_id": await local_id(user),
            # Exits at once: the launch fails soon after; only its row matters here.
            "form": {"app_command": "true"},
            "experiment_id": experiment_id,
        },
    )


async def test_launching_for_an_experiment_is_for_members_within_its_dates(
    admin: LoggedIn, alice: LoggedIn, carol: LoggedIn
) -> None:
    ended = await created(admin, ends_at="2026-11-03T00:00:00+00:00", starts_at=None)
    refused = await launch(alice, ended["id"])
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "experiment_closed",
        "message": "Experiment 12-34 ended on 3 Nov 2026; its data could be used until "
        "3 Dec 2026 (embargo 30 days).",
    }
    upcoming = await created(
        admin, code="56-78", starts_at=(utcnow() + timedelta(days=3)).isoformat()
    )
    early = await launch(alice, upcoming["id"])
    assert early.status_code == 409
    assert "starts on" in early.json()["error"]["message"]
    assert (await launch(carol, upcoming["id"])).status_code == 404
    assert (await launch(admin, upcoming["id"])).status_code == 403  # no member
    assert (await launch(alice, 987654)).status_code == 404


async def test_a_session_ends_by_its_experiments_dates(
    app: Any, admin: LoggedIn, alice: LoggedIn
) -> None:
    ends = utcnow() - timedelta(days=28)  # within the 30 days' embargo: two days left
    experiment = await created(admin, ends_at=ends.isoformat(), starts_at=None)
    answer = await launch(alice, experiment["id"])
    assert answer.status_code == 201, answer.text
    session = answer.json()
    assert session["experiment"] == {"id": experiment["id"], "code": "12-34", "title": "Spin waves"}
    assert session["ends_at"] == experiment["launch_until"]
    # An import that moves the end earlier moves live sessions' ends with it.
    other = await experiment_session(app, "alice", experiment["id"])
    earlier = (ends - timedelta(days=29)).date().isoformat()
    data = f"code,title,ends,members,locations\n12-34,Spin waves,{earlier},alice:pi,\n"
    done = (await admin.post(f"{API}/import", json={"format": "csv", "data": data})).json()
    assert done["updated"] == ["12-34"]
    async with state_of(app).database.read() as db:
        row = await db.get(AppSession, other)
    assert row is not None
    assert row.ends_at is not None
    assert row.ends_at.date().isoformat() == (ends - timedelta(days=-1)).date().isoformat()
    # More time granted does not go past the experiment's dates either.
    capped_at = row.ends_at
    extended = await alice.post(f"/api/v1/sessions/{other}/extend", json={"hours": 2})
    assert extended.status_code == 200, extended.text
    assert extended.json()["extension"]["state"] == "granted"
    async with state_of(app).database.read() as db:
        again = await db.get(AppSession, other)
    assert again is not None
    assert again.ends_at == capped_at


async def experiment_session(app: Any, owner: str, experiment_id: int) -> str:
    state = state_of(app)
    session_id = await running_session(state.database, state.session_tokens, owner, 1, "desktop")
    async with state.database.session() as db:
        await db.execute(
            update(AppSession)
            .where(AppSession.id == session_id)
            .values(experiment_id=experiment_id)
        )
    return session_id


async def principal_of(app: Any, username: str) -> Principal:
    async with state_of(app).database.read() as db:
        user = await db.scalar(select(User).where(User.username == username))
    assert user is not None
    return Principal(user.id, user.username, Role(user.role), "session")


async def test_members_see_each_others_sessions_for_it_without_access(
    app: Any, admin: LoggedIn, alice: LoggedIn, bob: LoggedIn, carol: LoggedIn
) -> None:
    experiment = await created(admin)
    session_id = await experiment_session(app, "alice", experiment["id"])
    listed = (await bob.get("/api/v1/sessions")).json()
    assert listed["sessions"] == []
    assert [
        (s["id"], s["owner"]["username"], s["experiment"]["code"])
        for s in listed["experiment_sessions"]
    ] == [(session_id, "alice", "12-34")]
    assert (await carol.get("/api/v1/sessions")).json()["experiment_sessions"] == []
    own = (await alice.get("/api/v1/sessions")).json()
    assert own["experiment_sessions"] == []
    assert own["sessions"][0]["experiment"]["code"] == "12-34"
    # Listed, not shared: no access.
    async with state_of(app).database.read() as db:
        assert (
            await session_access(
                db, state_of(app).settings, await principal_of(app, "bob"), session_id
            )
            is None
        )


async def test_a_share_with_an_experiments_members_follows_membership(
    app: Any, admin: LoggedIn, alice: LoggedIn, bob: LoggedIn, carol: LoggedIn
) -> None:
    experiment = await created(admin)
    other = await created(admin, code="56-78")
    session_id = await experiment_session(app, "alice", experiment["id"])
    shares = f"/api/v1/sessions/{session_id}/shares"
    wrong = await alice.post(shares, json={"experiment_id": other["id"], "role": "user"})
    assert wrong.status_code == 422
    both = await alice.post(
        shares, json={"experiment_id": experiment["id"], "group": "x", "role": "user"}
    )
    assert both.status_code == 422
    made = await alice.post(shares, json={"experiment_id": experiment["id"], "role": "user"})
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "experiment"
    assert made.json()["experiment"] == {"id": experiment["id"], "code": "12-34"}
    assert (
        await alice.post(shares, json={"experiment_id": experiment["id"], "role": "guest"})
    ).status_code == 409
    state = state_of(app)

    async def role_of(username: str) -> SessionRole | None:
        async with state.database.read() as db:
            found = await session_access(
                db, state.settings, await principal_of(app, username), session_id
            )
        return found.role if found is not None else None

    assert await role_of("bob") is SessionRole.USER  # a member passes
    assert await role_of("carol") is None  # a non-member does not
    listed = (await bob.get("/api/v1/sessions")).json()
    assert [(s["id"], s["my_role"]) for s in listed["sessions"]] == [(session_id, "user")]
    assert listed["experiment_sessions"] == []  # listed once, with the role
    assert listed["sessions"][0]["experiment"] is None  # the owner's business
    # Bob leaves the experiment: the share no longer reaches him.
    local = await local_id(admin)
    changed = await admin.put(
        f"{API}/{experiment['id']}", json=body(local, members=[{"username": "alice", "role": "pi"}])
    )
    assert changed.status_code == 200
    assert await role_of("bob") is None  # an ex-member is refused
    assert (await bob.get("/api/v1/sessions")).json()["sessions"] == []
    # Alice leaves it too: she no longer shares with its members.
    await admin.put(f"{API}/{experiment['id']}", json=body(local, members=[{"username": "bob"}]))
    left = await alice.post(shares, json={"experiment_id": experiment["id"], "role": "guest"})
    assert left.status_code == 422
    assert "no longer a member" in left.json()["error"]["message"]


async def test_an_address_names_a_member_only_when_vouched_for_and_held_by_one(
    accounts: AccountFactory, admin: LoggedIn, alice: LoggedIn, carol: LoggedIn
) -> None:
    """Anyone may type a member's address into their own account: that must not make
    them a member. An address an administrator gave names its one holder; one two users
    hold names neither."""
    members = [{"email": "pi@uni.example", "role": "pi"}, {"email": "shared@uni.example"}]
    made = await created(admin, members=members)
    typed = await carol.patch("/api/v1/users/me", json={"email": "PI@uni.example"})
    assert typed.status_code == 200, typed.text
    assert (await carol.get(API)).json()["experiments"] == []
    assert (await carol.get(f"{API}/{made['id']}")).status_code == 404
    again_carol = await accounts.login("carol", create=False)  # a login matches too
    assert (await again_carol.get(API)).json()["experiments"] == []

    given = await admin.patch("/api/v1/users/alice", json={"email": "pi@uni.example"})
    assert given.status_code == 200, given.text
    assert [e["my_role"] for e in (await alice.get(API)).json()["experiments"]] == ["pi"]

    for name in ("dave", "erin"):
        user = await admin.post(
            "/api/v1/users",
            json={
                "username": name,
                "password": "a long enough password",
                "email": "shared@uni.example",
            },
        )
        assert user.status_code == 201, user.text
    again = (
        await admin.put(f"{API}/{made['id']}", json=body(await local_id(admin), members=members))
    ).json()
    assert [(m["email"], m["matched"]) for m in again["members"]] == [
        ("pi@uni.example", True),
        ("shared@uni.example", False),
    ]
